package io.romulus.xen.internal;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** Configuration PID {@code io.romulus.xen}: how this node reaches Xen. */
@ObjectClassDefinition(name = "Romulus Xen binding", description = "How this node reaches Xen (libvirt's libxl driver, "
        + "libxenctrl) and where it keeps replica images")
public @interface XenConfig {

    @AttributeDefinition(description = "libvirt connection of the Xen host (libvirt's libxl driver, Debian package "
            + "libvirt-daemon-driver-xen)")
    String libvirt_uri() default "xen:///system";

    @AttributeDefinition(description = "Replica images on the backup (one per domain, as large as its populated "
            + "memory, rewritten in place at every checkpoint) and the small hand-over records of domains and "
            + "replicas detached for an update")
    String image_dir() default "/var/lib/romulus/xen";

    @AttributeDefinition(description = "QMP socket of an HVM domain's device model; %d is the domid (libxl's own "
            + "socket, held only during a checkpoint's pause)")
    String device_model_qmp() default "/var/run/xen/qmp-libxl-%d";

    @AttributeDefinition(description = "Where the device model writes its state at each checkpoint; %d is the domid "
            + "(QEMU runs in dom0 and writes it, the binding reads it back). Keep it on tmpfs")
    String device_model_state() default "/dev/shm/romulus-xen-dm-%d";
}
