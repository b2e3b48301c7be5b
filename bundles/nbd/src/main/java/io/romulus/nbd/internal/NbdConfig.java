package io.romulus.nbd.internal;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** Configuration PID {@code io.romulus.nbd}: the NBD server of the replicated disk, and the backup's images. */
@ObjectClassDefinition(name = "Romulus NBD disk",
        description = "The engine's own replicated disk: guest disks served over NBD on a unix socket, their writes "
                + "shipped with each checkpoint and applied on the backup when the checkpoint commits")
public @interface NbdConfig {

    @AttributeDefinition(name = "Socket directory", description = "Directory of this node's NBD socket (nbd.sock) "
            + "that QEMU guests attach their disks to. Applies when the component restarts. ROMULUS_DISK_DIR=DIR sets "
            + "it to DIR/nbd")
    String socket_dir() default NbdSettings.DEFAULT_SOCKET_DIR;

    @AttributeDefinition(name = "Backup image directory", description = "The backup's copies of protected disks "
            + "(DOMAIN-DISK.img, sparse raw images), served to the resumed guest on failover. Needs the guest's disk "
            + "size free per protected disk. ROMULUS_DISK_DIR=DIR sets it to DIR/images")
    String image_dir() default NbdSettings.DEFAULT_IMAGE_DIR;

    @AttributeDefinition(name = "Initial copy chunk (KiB)", description = "Chunk size of a disk's initial full copy, "
            + "KiB", min = "4", max = "32768")
    int initial_chunk_kib() default NbdSettings.DEFAULT_INITIAL_CHUNK_KIB;
}
