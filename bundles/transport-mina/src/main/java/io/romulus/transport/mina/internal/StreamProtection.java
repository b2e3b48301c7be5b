package io.romulus.transport.mina.internal;

/**
 * How records after the handshake are protected. Both ends propose one in the handshake and the stronger of the two
 * is used, so a node can never be talked down below its own configuration.
 */
public enum StreamProtection {
    /**
     * No protection at all: only the benchmark that measures what protection costs uses it, through a
     * package-private factory. No configuration key reaches it, and a peer that proposes it gets the stronger
     * protection of this node.
     */
    NONE(0),
    /** Every record authenticated (AES-256-GMAC: the body is additional data of AES-GCM), the bodies in clear. */
    INTEGRITY(1),
    /** Every record encrypted and authenticated (AES-256-GCM). The default. */
    ENCRYPTED(2);

    private final int code;

    StreamProtection(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    /** The protection of a wire code, or {@code null} if it is unknown. */
    public static StreamProtection of(int code) {
        for (StreamProtection p : values()) {
            if (p.code == code) {
                return p;
            }
        }
        return null;
    }

    /** The stronger of the two. */
    public StreamProtection max(StreamProtection other) {
        return other.code > code ? other : this;
    }
}
