package io.romulus.api.transport;

/** How one page travels inside a {@link RecordType#PAGE_BATCH}. */
public enum PageEncoding {
    /** The page as it is. */
    RAW(0),
    /** The page is all zeroes; no data follows. */
    ZERO(1),
    /** LZ4 of the XOR of the page with the version of the same page last sent on this connection. */
    XOR_DELTA(2),
    /** LZ4 of the page. */
    LZ4(3);

    private final int code;

    PageEncoding(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    /** The encoding for a wire code, or {@code null} if the code is unknown. */
    public static PageEncoding of(int code) {
        for (PageEncoding e : values()) {
            if (e.code == code) {
                return e;
            }
        }
        return null;
    }
}
