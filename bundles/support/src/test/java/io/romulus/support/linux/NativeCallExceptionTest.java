package io.romulus.support.linux;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;


import com.sun.jna.Memory;

import org.junit.jupiter.api.Test;

/** errno values read as the kernel headers name them, and a failed libc call says what failed and how. */
class NativeCallExceptionTest {

    @Test
    void errnoNamesAndDescriptionsAreTheKernels() {
        assertEquals("ENOTTY", Errno.name(25));
        assertEquals("Inappropriate ioctl for device", Errno.description(Errno.ENOTTY));
        assertEquals("ENOBUFS", Errno.name(105));
        assertEquals("errno 4095", Errno.name(4095));
        assertEquals("unknown error", Errno.description(4095));
        assertEquals("ENOENT (errno 2)", Errno.text(2));
        assertEquals("ECONNREFUSED (errno 111)", Errno.text(Errno.ECONNREFUSED));
        assertEquals("errno 4242", Errno.text(4242));
    }

    @Test
    void theMessageSaysWhatFailedAndHow() {
        NativeCallException e = new NativeCallException("setns(CLONE_NEWNET)", Errno.EPERM, "not allowed to enter x");
        assertEquals("not allowed to enter x [setns(CLONE_NEWNET): EPERM, Operation not permitted]", e.getMessage());
        assertEquals("EPERM", e.errnoName());
        assertEquals("setns(CLONE_NEWNET)", e.call());
        assertEquals("libc did not load [dlopen(libc)]",
                new NativeCallException("dlopen(libc)", 0, "libc did not load").getMessage());
    }

    @Test
    void libcLoadsOnceAndLeavesErrno() throws Exception {
        LibC libc = LibcLoader.load("this test");
        assertTrue(libc == LibcLoader.load("this test"), "loaded once");
        assertTrue(libc.getpagesize() >= 4096);
        assertEquals(-1, libc.open("/nonexistent/romulus", 0));
        assertEquals(Errno.ENOENT, LibcLoader.lastError());
        try (Memory m = new Memory(4)) {
            assertEquals(-1, libc.getsockname(-1, m, m));
            assertEquals(Errno.EBADF, LibcLoader.lastError());
        }
    }
}
