package io.romulus.api.disk;

import java.io.IOException;
import java.nio.file.Path;

import io.romulus.api.hypervisor.GuestDisk;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Serves disk images to this node's guests over NBD: the primary side of the engine's own replicated disk. A binding
 * that starts its guests (QEMU) attaches the guest's disk to the export it gets here, so that every write passes the
 * replicator's log; reads are served from the local image.
 */
@ProviderType
public interface DiskExports {

    /**
     * Serves {@code image} (a raw image file) as export {@code name} on this node.
     *
     * @param guestName the guest-side name of the disk, for example {@code vda}
     * @return the disk as the guest's binding attaches it: kind {@code nbd}, source an NBD URI
     *         ({@code nbd+unix:///NAME?socket=PATH}), the image's size
     * @throws IOException if the image cannot be opened or the name is taken by another image
     */
    GuestDisk export(String name, String guestName, Path image) throws IOException;

    /** Stops serving export {@code name}; connected clients are disconnected. */
    void unexport(String name);
}
