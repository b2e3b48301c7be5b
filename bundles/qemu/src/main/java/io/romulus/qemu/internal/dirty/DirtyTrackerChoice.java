package io.romulus.qemu.internal.dirty;

import java.util.Optional;
import java.util.function.Supplier;

import io.romulus.support.linux.NativeCallException;

/**
 * Which dirty-page tracker this host can use, for {@code dirty.tracker = auto}: {@code uffd} (userfaultfd
 * asynchronous write-protect read with {@code PAGEMAP_SCAN}, Linux 6.7+) where both work, otherwise {@code compare}
 * (a scan against a copy of the previous checkpoint: any kernel, a full memory scan per epoch). Asked of the kernel,
 * not guessed from its version: a kernel can lack the features (userfaultfd not built in) or have them backported.
 *
 * @param tracker {@code uffd} or {@code compare}
 * @param reason  why, in words for the log and the status
 */
public record DirtyTrackerChoice(String tracker, String reason) {

    /** The kernel features the choice depends on; each answers empty when it works, else why not. */
    public interface Probe {
        Optional<String> asyncWriteProtect();

        Optional<String> pagemapScan();
    }

    /** What {@code configured} ({@code auto}, {@code uffd} or {@code compare}) comes to on this host. */
    public static DirtyTrackerChoice choose(String configured, Supplier<Probe> probe) {
        if (!configured.equals("auto")) {
            return new DirtyTrackerChoice(configured, "configured (dirty.tracker = " + configured + ")");
        }
        Probe p;
        try {
            p = probe.get();
        } catch (RuntimeException e) {
            return new DirtyTrackerChoice("compare", "dirty.tracker = auto, and the kernel cannot be asked: "
                    + e.getMessage());
        }
        Optional<String> wp = p.asyncWriteProtect();
        if (wp.isPresent()) {
            return new DirtyTrackerChoice("compare", "dirty.tracker = auto: userfaultfd write-protect does not work "
                    + "here (" + wp.get() + "), so written pages are found by comparing against the previous "
                    + "checkpoint");
        }
        Optional<String> scan = p.pagemapScan();
        if (scan.isPresent()) {
            return new DirtyTrackerChoice("compare", "dirty.tracker = auto: " + scan.get() + ", so written pages "
                    + "are found by comparing against the previous checkpoint");
        }
        return new DirtyTrackerChoice("uffd", "dirty.tracker = auto: userfaultfd asynchronous write-protect and "
                + "PAGEMAP_SCAN work on this kernel");
    }

    /** The probe of this host's kernel, through {@link LinuxNative}. */
    public static Probe kernel() {
        LinuxNative n;
        try {
            n = LinuxNative.load();
        } catch (NativeCallException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return new Probe() {
            @Override
            public Optional<String> asyncWriteProtect() {
                try {
                    n.close(n.openAsyncWriteProtectUffd());
                    return Optional.empty();
                } catch (NativeCallException e) {
                    return Optional.of(e.getMessage());
                }
            }

            @Override
            public Optional<String> pagemapScan() {
                return n.probePagemapScan();
            }
        };
    }
}
