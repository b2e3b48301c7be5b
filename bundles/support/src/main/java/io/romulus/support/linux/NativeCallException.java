package io.romulus.support.linux;

import java.io.IOException;

/**
 * A Linux system call, ioctl or library load failed. The message says what Romulus was trying to do; {@link #errno()}
 * and {@link #errnoName()} say how the kernel answered.
 */
public class NativeCallException extends IOException {

    private static final long serialVersionUID = 1L;

    private final String call;
    private final int errno;

    /**
     * @param call    the C call as written in C, e.g. {@code ioctl(PAGEMAP_SCAN)} or {@code setns}
     * @param errno   the errno it left, or 0 if the failure was not an errno (e.g. the library did not load)
     * @param message what failed, in the domain's words
     */
    public NativeCallException(String call, int errno, String message) {
        this(call, errno, message, null);
    }

    public NativeCallException(String call, int errno, String message, Throwable cause) {
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

    /** The C call that failed, e.g. {@code pidfd_getfd}. */
    public String call() {
        return call;
    }

    /** The positive errno value, or 0. */
    public int errno() {
        return errno;
    }

    /** The errno's symbolic name ({@code EPERM}, {@code ENOTTY}, ...), or {@code errno N} for unusual ones. */
    public String errnoName() {
        return Errno.name(errno);
    }
}
