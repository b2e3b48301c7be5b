package io.romulus.xen.internal.xc;

import com.sun.jna.Library;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;

/**
 * 1:1 JNA mapping of the {@code xenstore.h} calls Romulus makes ({@code libxenstore.so.4}, Debian package
 * {@code libxenstore4}). What {@code xs_directory} and {@code xs_read} return is malloc'ed: the caller frees it
 * with libc {@code free} ({@code Native.free}). Interface mapping for the reasons given on {@link LibXenCtrl}.
 */
interface LibXenStore extends Library {

    /** {@code struct xs_handle *xs_open(unsigned long flags)}. */
    Pointer xs_open(long flags);

    /** {@code void xs_close(struct xs_handle *xsh)}. */
    void xs_close(Pointer xsh);

    /** {@code char **xs_directory(struct xs_handle *h, xs_transaction_t t, const char *path, unsigned int *num)}:
     * one allocation holding the array and the strings. */
    Pointer xs_directory(Pointer h, int t, String path, IntByReference num);

    /** {@code void *xs_read(struct xs_handle *h, xs_transaction_t t, const char *path, unsigned int *len)}: the
     * value, NUL-terminated, {@code len} bytes without the NUL. */
    Pointer xs_read(Pointer h, int t, String path, IntByReference len);
}
