package io.romulus.qemu.internal;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** Configuration PID {@code io.romulus.qemu}: how this host runs QEMU guests. */
@ObjectClassDefinition(name = "Romulus QEMU binding", description = "How this host starts and tracks QEMU guests")
public @interface QemuConfig {

    @AttributeDefinition(description = "The QEMU system emulator")
    String qemu_binary() default "qemu-system-x86_64";

    @AttributeDefinition(description = "Accelerator: tcg, kvm, or auto (kvm when /dev/kvm opens, else tcg)")
    String accel() default "tcg";

    @AttributeDefinition(description = "Directory on tmpfs for guest RAM files, QMP sockets and logs (write-protect "
            + "dirty tracking needs shmem); one per node on a shared machine")
    String run_dir() default "/dev/shm/romulus";

    @AttributeDefinition(description = "The demo guest's kernel (relative paths are under karaf.home)")
    String guest_kernel() default "guest/vmlinuz";

    @AttributeDefinition(description = "The demo guest's initramfs (relative paths are under karaf.home)")
    String guest_initrd() default "guest/initramfs.cpio.gz";

    @AttributeDefinition(description = "The userfaultfd preload library loaded into QEMU (relative paths are under "
            + "karaf.home)")
    String preload_library() default "lib/native/libromulus-uffd.so";

    @AttributeDefinition(description = "Dirty-page tracking: auto (uffd where this kernel has it, else compare), uffd "
            + "(userfaultfd write-protect + PAGEMAP_SCAN, Linux 6.7+) or compare (compare against a copy of the "
            + "previous checkpoint; any kernel, slower)")
    String dirty_tracker() default "auto";

    @AttributeDefinition(description = "Network namespace the guests' taps live in on this host (empty: this one)")
    String netns() default "";

    @AttributeDefinition(description = "Bridge the guests' taps join on this host (empty: none), unless a guest "
            + "names its own (guest option bridge)")
    String bridge() default "";

    @AttributeDefinition(description = "How long a QMP command may take, milliseconds")
    int qmp_timeout_ms() default 10000;

    @AttributeDefinition(description = "Where a VM's qcow2 disk image is converted to raw, once, before it is served "
            + "and replicated (the original image is left as it is); a directory on a real disk, not tmpfs")
    String disk_dir() default QemuSettings.DEFAULT_DISK_DIR;

    @AttributeDefinition(description = "The libvirt connection where romulus:protect qemu:NAME -o libvirt=DOMAIN looks "
            + "the VM's definition up (its domain XML)")
    String libvirt_uri() default QemuSettings.DEFAULT_LIBVIRT_URI;

    @AttributeDefinition(description = "Whether a backup keeps a QEMU started for each replica, stopped and waiting "
            + "for its device state, so that failover only loads that state (about 40 MB of memory per replica)")
    boolean standby() default true;
}
