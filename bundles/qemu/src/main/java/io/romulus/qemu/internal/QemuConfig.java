package io.romulus.qemu.internal;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** Configuration PID {@code io.romulus.qemu}: how this host runs QEMU guests. */
@ObjectClassDefinition(name = "Romulus QEMU binding", description = "How this host starts and tracks QEMU guests")
public @interface QemuConfig {

    @AttributeDefinition(description = "The QEMU system emulator (Debian package qemu-system-x86)")
    String qemu_binary() default "qemu-system-x86_64";

    @AttributeDefinition(description = "tcg (software emulation, works everywhere), kvm, or auto (KVM when /dev/kvm "
            + "opens, else TCG). KVM was never run by the tests")
    String accel() default "tcg";

    @AttributeDefinition(description = "Directory on tmpfs for guest RAM files, QMP sockets, consoles and logs; must "
            + "be shmem for write-protect dirty tracking, one per node on a shared machine. ROMULUS_QEMU_RUN_DIR sets "
            + "it")
    String run_dir() default "/dev/shm/romulus";

    @AttributeDefinition(description = "The demo guest's kernel (relative paths are under the node's directory)")
    String guest_kernel() default "guest/vmlinuz";

    @AttributeDefinition(description = "The demo guest's initramfs (relative paths are under the node's directory)")
    String guest_initrd() default "guest/initramfs.cpio.gz";

    @AttributeDefinition(description = "The userfaultfd preload library loaded into QEMU for the uffd tracker "
            + "(relative paths are under the node's directory)")
    String preload_library() default "lib/native/libromulus-uffd.so";

    @AttributeDefinition(description = "auto: uffd where this kernel has userfaultfd asynchronous write-protect and "
            + "PAGEMAP_SCAN (Linux 6.7+), else compare; the log, romulus:status and the Hypervisor MBean say which "
            + "and why. uffd or compare force one (compare scans all guest RAM every epoch: any kernel, slower)")
    String dirty_tracker() default "auto";

    @AttributeDefinition(description = "Network namespace the guests' taps live in on this host (empty: the node's "
            + "own). ROMULUS_QEMU_NETNS sets it")
    String netns() default "";

    @AttributeDefinition(description = "Bridge the guests' taps join (empty: none), unless a guest names its own with "
            + "-o bridge=NAME. ROMULUS_QEMU_BRIDGE sets it")
    String bridge() default "";

    @AttributeDefinition(description = "How long one QMP command may take, ms")
    int qmp_timeout_ms() default 10000;

    @AttributeDefinition(description = "Where a qcow2 disk image is converted to raw, once, before it is served and "
            + "replicated (the original is left as it is): a directory on a real disk with room for the whole image, "
            + "not tmpfs")
    String disk_dir() default QemuSettings.DEFAULT_DISK_DIR;

    @AttributeDefinition(description = "libvirt connection that romulus:protect qemu:NAME --libvirt DOMAIN (or -o "
            + "libvirt=DOMAIN) reads the VM's domain XML from")
    String libvirt_uri() default QemuSettings.DEFAULT_LIBVIRT_URI;

    @AttributeDefinition(description = "Whether a backup keeps a standby QEMU per replica: started ahead of failover "
            + "on the replica's RAM file, stopped (-S -incoming defer) and never run until failover, its taps in "
            + "their bridges but down; failover then only moves the taps, announces the MAC, loads the committed "
            + "device state and runs it. Costs one QEMU process per replica (measured under TCG: about 30 MiB of its "
            + "own, 50 MiB resident, logged when it starts; the guest's RAM is the replica's file). A standby that "
            + "dies is started again. Guests whose disks cannot be served before failover (DRBD) start at failover as "
            + "without it")
    boolean standby() default true;
}
