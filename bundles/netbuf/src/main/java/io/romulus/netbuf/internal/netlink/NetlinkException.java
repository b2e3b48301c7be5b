package io.romulus.netbuf.internal.netlink;

import io.romulus.support.linux.NativeCallException;

/**
 * A netlink, socket or namespace call failed, or the kernel answered a request with an error. The message says what
 * Romulus was doing; {@link #errno()} says how the kernel answered (0 when the failure was not an errno).
 */
public class NetlinkException extends NativeCallException {

    private static final long serialVersionUID = 1L;

    /**
     * @param call    the C call or netlink request, e.g. {@code setns} or {@code NFQNL_MSG_CONFIG(BIND)}
     * @param errno   the positive errno, or 0
     * @param message what failed, in the domain's words
     */
    public NetlinkException(String call, int errno, String message) {
        super(call, errno, message);
    }

    public NetlinkException(String call, int errno, String message, Throwable cause) {
        super(call, errno, message, cause);
    }
}
