package io.romulus.xen.internal.xc;

import io.romulus.api.hypervisor.HypervisorException;

/**
 * A libxenctrl, libxenguest, libxenforeignmemory or libxenstore call that failed: names the call and carries its
 * errno.
 */
public final class XenCallException extends HypervisorException {

    private static final long serialVersionUID = 1L;

    private final int errno;

    public XenCallException(String message, int errno) {
        super(message);
        this.errno = errno;
    }

    public XenCallException(String message, Throwable cause) {
        super(message, cause);
        this.errno = 0;
    }

    /** The errno Xen's library left, or 0 when the call failed for another reason. */
    public int errno() {
        return errno;
    }
}
