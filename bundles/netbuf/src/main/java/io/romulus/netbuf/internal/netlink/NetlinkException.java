package io.romulus.netbuf.internal.netlink;

import java.io.IOException;

/**
 * A netlink, socket or namespace call failed, or the kernel answered a request with an error. The message says what
 * Romulus was doing; {@link #errno()} says how the kernel answered (0 when the failure was not an errno).
 */
public class NetlinkException extends IOException {

    private static final long serialVersionUID = 1L;

    private final String call;
    private final int errno;

    /**
     * @param call    the C call or netlink request, e.g. {@code setns} or {@code NFQNL_MSG_CONFIG(BIND)}
     * @param errno   the positive errno, or 0
     * @param message what failed, in the domain's words
     */
    public NetlinkException(String call, int errno, String message) {
        this(call, errno, message, null);
    }

    public NetlinkException(String call, int errno, String message, Throwable cause) {
        super(compose(call, errno, message), cause);
        this.call = call;
        this.errno = errno;
    }

    private static String compose(String call, int errno, String message) {
        if (errno == 0) {
            return message + " [" + call + "]";
        }
        return message + " [" + call + ": " + Errno.name(errno) + ", " + Errno.description(errno) + "]";
    }

    public String call() {
        return call;
    }

    /** The positive errno value, or 0. */
    public int errno() {
        return errno;
    }

    public String errnoName() {
        return Errno.name(errno);
    }
}
