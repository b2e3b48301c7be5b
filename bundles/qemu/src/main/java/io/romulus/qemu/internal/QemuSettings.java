package io.romulus.qemu.internal;

import java.nio.file.Path;
import java.util.Locale;

/**
 * How this host runs QEMU guests: the typed, validated form of {@link QemuConfig}, built by tests without OSGi.
 *
 * @param qemuBinary     the system emulator
 * @param accel          {@code tcg}, {@code kvm} or {@code auto}
 * @param runDir         tmpfs directory for RAM files, sockets, logs
 * @param kernel         the demo guest's kernel
 * @param initrd         the demo guest's initramfs
 * @param preloadLibrary the userfaultfd preload library
 * @param dirtyTracker   {@code uffd} or {@code compare} (configuration's {@code auto} is resolved before:
 *                       {@link io.romulus.qemu.internal.dirty.DirtyTrackerChoice})
 * @param netns          network namespace of the guests' taps, or empty
 * @param bridge         bridge the guests' taps join, or empty
 * @param qmpTimeoutMs   QMP command timeout
 * @param diskDir        where qcow2 images of the user's VMs are converted to raw (once), on a real disk
 * @param libvirtUri     the libvirt connection where {@code -o libvirt=NAME} looks a VM's definition up
 * @param standby        whether a backup keeps a QEMU started for each replica, stopped and waiting for its device
 *                       state, so that failover only loads that state ({@link Standby})
 */
public record QemuSettings(String qemuBinary, String accel, Path runDir, Path kernel, Path initrd,
        Path preloadLibrary, String dirtyTracker, String netns, String bridge, int qmpTimeoutMs, Path diskDir,
        String libvirtUri, boolean standby) {

    /** The default of {@code disk.dir}. */
    public static final String DEFAULT_DISK_DIR = "/var/lib/romulus/disks";
    /** The default of {@code libvirt.uri}. */
    public static final String DEFAULT_LIBVIRT_URI = "qemu:///system";

    /** The descriptor number at which the preload library leaves its userfaultfd inside QEMU. */
    public static final int UFFD_FD = 1000;

    public QemuSettings {
        accel = accel.toLowerCase(Locale.ROOT);
        if (!accel.equals("tcg") && !accel.equals("kvm") && !accel.equals("auto")) {
            throw new IllegalArgumentException("accel must be tcg, kvm or auto, not '" + accel + "'");
        }
        dirtyTracker = dirtyTracker.toLowerCase(Locale.ROOT);
        if (!dirtyTracker.equals("uffd") && !dirtyTracker.equals("compare")) {
            throw new IllegalArgumentException("dirty.tracker must be uffd or compare, not '" + dirtyTracker + "'");
        }
        if (qmpTimeoutMs < 100) {
            throw new IllegalArgumentException("qmp.timeout.ms must be at least 100, not " + qmpTimeoutMs);
        }
        netns = netns.trim();
        bridge = bridge.trim();
        libvirtUri = libvirtUri.trim();
    }

    /** Settings with a standby QEMU for each replica. */
    public QemuSettings(String qemuBinary, String accel, Path runDir, Path kernel, Path initrd, Path preloadLibrary,
            String dirtyTracker, String netns, String bridge, int qmpTimeoutMs, Path diskDir, String libvirtUri) {
        this(qemuBinary, accel, runDir, kernel, initrd, preloadLibrary, dirtyTracker, netns, bridge, qmpTimeoutMs,
                diskDir, libvirtUri, true);
    }

    /** Settings with the default {@code disk.dir} and {@code libvirt.uri}, and standbys. */
    public QemuSettings(String qemuBinary, String accel, Path runDir, Path kernel, Path initrd, Path preloadLibrary,
            String dirtyTracker, String netns, String bridge, int qmpTimeoutMs) {
        this(qemuBinary, accel, runDir, kernel, initrd, preloadLibrary, dirtyTracker, netns, bridge, qmpTimeoutMs,
                Path.of(DEFAULT_DISK_DIR), DEFAULT_LIBVIRT_URI);
    }

    /** These settings with how one guest already runs: a guest found running keeps what it was started with. */
    QemuSettings forGuest(String guestAccel, String guestNetns, String guestBridge, String guestDirtyTracker) {
        return new QemuSettings(qemuBinary, guestAccel, runDir, kernel, initrd, preloadLibrary, guestDirtyTracker,
                guestNetns, guestBridge, qmpTimeoutMs, diskDir, libvirtUri, standby);
    }

    /** The settings of {@code c}, with the dirty tracker {@code tracker} ({@code auto} resolved already). */
    /** These settings with or without standbys. */
    public QemuSettings withStandby(boolean on) {
        return new QemuSettings(qemuBinary, accel, runDir, kernel, initrd, preloadLibrary, dirtyTracker, netns, bridge,
                qmpTimeoutMs, diskDir, libvirtUri, on);
    }

    static QemuSettings of(QemuConfig c, String tracker) {
        Path home = Path.of(System.getProperty("karaf.home", "."));
        return new QemuSettings(c.qemu_binary(), c.accel(), Path.of(c.run_dir()), home.resolve(c.guest_kernel()),
                home.resolve(c.guest_initrd()), home.resolve(c.preload_library()), tracker, c.netns(),
                c.bridge(), c.qmp_timeout_ms(), Path.of(c.disk_dir()), c.libvirt_uri(), c.standby());
    }

}
