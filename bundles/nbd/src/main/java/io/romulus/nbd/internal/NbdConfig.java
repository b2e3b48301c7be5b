package io.romulus.nbd.internal;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** Configuration PID {@code io.romulus.nbd}: the NBD server of the replicated disk, and the backup's images. */
@ObjectClassDefinition(name = "Romulus NBD disk",
        description = "The engine's own replicated disk: guest disks served over NBD on a unix socket, their writes "
                + "shipped with each checkpoint and applied on the backup when the checkpoint commits")
public @interface NbdConfig {

    @AttributeDefinition(name = "Socket directory", description = "Directory of the NBD server's unix socket "
            + "(nbd.sock), which the guests' QEMU connects to; a change takes effect when the component restarts")
    String socket_dir() default NbdSettings.DEFAULT_SOCKET_DIR;

    @AttributeDefinition(name = "Backup image directory", description = "Where a backup keeps its copy of each "
            + "protected disk, as DOMAIN-DISK.img (sparse raw images)")
    String image_dir() default NbdSettings.DEFAULT_IMAGE_DIR;

    @AttributeDefinition(name = "Initial copy chunk (KiB)", description = "Size of the chunks the initial full "
            + "copy of a disk is read and sent in", min = "4", max = "32768")
    int initial_chunk_kib() default NbdSettings.DEFAULT_INITIAL_CHUNK_KIB;
}
