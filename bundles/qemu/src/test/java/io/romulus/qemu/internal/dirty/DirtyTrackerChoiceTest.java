package io.romulus.qemu.internal.dirty;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import java.util.function.Supplier;

import org.junit.jupiter.api.Test;

/** dirty.tracker = auto: uffd where the kernel has it, compare where it does not, with the reason. */
class DirtyTrackerChoiceTest {

    private static Supplier<DirtyTrackerChoice.Probe> kernel(Optional<String> wp, Optional<String> scan) {
        return () -> new DirtyTrackerChoice.Probe() {
            @Override
            public Optional<String> asyncWriteProtect() {
                return wp;
            }

            @Override
            public Optional<String> pagemapScan() {
                return scan;
            }
        };
    }

    @Test
    void autoTakesUffdWhereBothKernelFeaturesWork() {
        DirtyTrackerChoice c = DirtyTrackerChoice.choose("auto", kernel(Optional.empty(), Optional.empty()));
        assertEquals("uffd", c.tracker());
        assertTrue(c.reason().contains("PAGEMAP_SCAN work"), c.reason());
    }

    @Test
    void autoFallsBackToCompareOnAKernelWithoutThemAndSaysWhy() {
        DirtyTrackerChoice noScan = DirtyTrackerChoice.choose("auto", kernel(Optional.empty(),
                Optional.of("this kernel has no PAGEMAP_SCAN ioctl (Linux 6.7+; this is 6.1.0-28-amd64)")));
        assertEquals("compare", noScan.tracker());
        assertTrue(noScan.reason().contains("no PAGEMAP_SCAN ioctl") && noScan.reason().contains("6.1.0"),
                noScan.reason());
        DirtyTrackerChoice noWp = DirtyTrackerChoice.choose("auto", kernel(Optional.of("the kernel refuses "
                + "userfaultfd features 0x1800"), Optional.empty()));
        assertEquals("compare", noWp.tracker());
        assertTrue(noWp.reason().contains("userfaultfd write-protect does not work"), noWp.reason());
        DirtyTrackerChoice noNative = DirtyTrackerChoice.choose("auto", () -> {
            throw new IllegalStateException("no libc");
        });
        assertEquals("compare", noNative.tracker());
    }

    @Test
    void aConfiguredTrackerIsTakenAsItIsWithoutAskingTheKernel() {
        Supplier<DirtyTrackerChoice.Probe> never = () -> {
            throw new AssertionError("not asked");
        };
        assertEquals("compare", DirtyTrackerChoice.choose("compare", never).tracker());
        assertEquals("uffd", DirtyTrackerChoice.choose("uffd", never).tracker());
    }

    @Test
    void thisKernelHasWhatTheUffdTrackerNeeds() {
        // the machines Romulus is built and tested on run Linux 6.7+ (PITFALLS.md): auto must find uffd here, and
        // the probe of PAGEMAP_SCAN must not mistake a working ioctl for a missing one
        DirtyTrackerChoice.Probe here = DirtyTrackerChoice.kernel();
        assertEquals(Optional.empty(), here.pagemapScan());
        assertEquals(Optional.empty(), here.asyncWriteProtect());
        assertEquals("uffd", DirtyTrackerChoice.choose("auto", DirtyTrackerChoice::kernel).tracker());
    }
}
