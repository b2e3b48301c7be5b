package io.romulus.api.transport;

/**
 * Record types of the checkpoint stream (ARCHITECTURE.md section 4). Every record on the wire is framed as
 * {@code type:u16, flags:u16, length:u32, epoch:u64, body[length], crc32c:u32}, big-endian, the CRC32C covering the
 * header and the body. Only the HELLO exchange up to the primary's proof of the pre-shared secret travels in clear
 * (and an ERROR that ends it, whose flags are then ignored); every later record, both directions, is sealed: flag bit
 * {@code 0x8000} set, the body encrypted with AES-256-GCM (or, integrity only, in clear with an AES-GMAC tag) under
 * per-direction keys derived from the secret, both nonces and the handshake, followed by the 16-byte tag that also
 * covers the header and the record's sequence number in its direction.
 */
public enum RecordType {
    /** Both directions, first record: protocol version, node, domain identity, sizes, binding, authentication. */
    HELLO(1),
    /** Primary to backup: page frame numbers and page data, each page with its {@link PageEncoding}. */
    PAGE_BATCH(2),
    /** Primary to backup: opaque vCPU and device state of the epoch. */
    DEVICE_STATE(3),
    /** Primary to backup: disk writes of the epoch. */
    DISK_WRITES(4),
    /** Primary to backup: end of the epoch with counts and a checksum over its decoded content. */
    EPOCH_END(5),
    /** Backup to primary: the epoch was applied to the replica. */
    ACK(6),
    /** Either direction: a fatal error, with a message, before the connection is closed. */
    ERROR(7),
    /** Either direction: orderly end of the stream. */
    GOODBYE(8),
    /**
     * Planned switchover (since 1.5), epoch = the checkpoint the domain is handed over at; the flags say which step:
     * primary to backup "prepare" (the domain is paused at that acknowledged checkpoint), backup to primary "ready"
     * or "refused" (body: why), primary to backup "go" (the primary's copy has stopped for good; the backup
     * activates). A peer that does not know the type drops the connection, which aborts the switchover.
     */
    HANDOVER(9);

    private final int code;

    RecordType(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    /** The type for a wire code, or {@code null} if the code is unknown. */
    public static RecordType of(int code) {
        for (RecordType t : values()) {
            if (t.code == code) {
                return t;
            }
        }
        return null;
    }
}
