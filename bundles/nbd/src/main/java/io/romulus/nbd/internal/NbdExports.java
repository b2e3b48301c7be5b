package io.romulus.nbd.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import io.romulus.api.disk.DiskExports;
import io.romulus.api.hypervisor.GuestDisk;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.metatype.annotations.Designate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This node's NBD exports: one {@link NbdServer} on {@code socket.dir/nbd.sock} serving every guest disk by name. A
 * binding attaches its guest's disk to the source {@link #export} returns ({@code nbd+unix:///NAME?socket=PATH}),
 * so every write passes the export's write log, which {@link NbdDiskReplicator} drains at each barrier.
 *
 * <p>Usable without OSGi: {@code new NbdExports(settings)}, closed with {@link #close()}.
 */
@Component(service = {DiskExports.class, NbdExports.class}, configurationPid = "io.romulus.nbd")
@Designate(ocd = NbdConfig.class)
public final class NbdExports implements DiskExports, AutoCloseable {

    /** The kind of the disks served here. */
    public static final String KIND = "nbd";

    private static final Logger LOG = LoggerFactory.getLogger(NbdExports.class);

    private final NbdServer server;
    private volatile NbdSettings settings;

    @Activate
    public NbdExports(NbdConfig config) throws IOException {
        this(NbdSettings.of(config));
    }

    /** Starts the NBD server on {@link NbdSettings#socket()}; fails if the socket cannot be bound. */
    public NbdExports(NbdSettings settings) throws IOException {
        this.settings = settings;
        try {
            this.server = NbdServer.start(settings.socket());
        } catch (IOException e) {
            LOG.error("NBD disk unavailable: {}", e.getMessage());
            throw e;
        }
    }

    @Modified
    void modified(NbdConfig config) {
        update(NbdSettings.of(config));
    }

    /**
     * Retunes without a restart: the image directory and the chunk size apply to disks protected from now on. The
     * socket stays where it is while guests are attached to it; a new socket directory takes effect when the
     * component restarts.
     */
    public void update(NbdSettings next) {
        if (!next.socket().equals(server.socket())) {
            LOG.warn("NBD socket stays {} until the component restarts (configured: {})", server.socket(),
                    next.socket());
        }
        settings = next;
        LOG.info("NBD disk reconfigured: {}", next);
    }

    public NbdSettings settings() {
        return settings;
    }

    /** The server's unix socket. */
    public Path socket() {
        return server.socket();
    }

    @Override
    public GuestDisk export(String name, String guestName, Path image) throws IOException {
        return export(name, guestName, image, false);
    }

    /**
     * Serves {@code image} as export {@code name}, read-only (writes fail with EPERM) or not. Exporting the same
     * image under the same name again returns the same disk.
     *
     * @throws IOException if the image cannot be opened, or the name is taken by another image
     */
    public GuestDisk export(String name, String guestName, Path image, boolean readOnly) throws IOException {
        if (!NbdUri.validName(name)) {
            throw new IllegalArgumentException("invalid NBD export name '" + name
                    + "': expected 1-128 letters, digits, '.', '_' or '-'");
        }
        Path real = image.toRealPath();
        if (!Files.isRegularFile(real)) {
            throw new IOException(image + " is not a raw image file");
        }
        synchronized (server) {
            NbdExport existing = server.find(name);
            if (existing != null) {
                if (!existing.image().equals(real) || existing.readOnly() != readOnly) {
                    throw new IOException("NBD export " + name + " already serves " + existing.image());
                }
                return disk(existing, guestName);
            }
            NbdExport export = NbdExport.open(name, real, readOnly);
            server.add(export);
            LOG.info("NBD export {} serves {} ({} bytes{})", name, real, export.size(),
                    readOnly ? ", read-only" : "");
            return disk(export, guestName);
        }
    }

    private GuestDisk disk(NbdExport export, String guestName) {
        return new GuestDisk(guestName, KIND, new NbdUri(export.name(), server.socket()).toString(), export.size());
    }

    @Override
    public void unexport(String name) {
        NbdExport removed;
        synchronized (server) {
            removed = server.remove(name);
        }
        if (removed != null) {
            LOG.info("NBD export {} no longer served", name);
        }
    }

    /** The export of this node that {@code disk}'s source names, if it names one. */
    Optional<NbdExport> find(GuestDisk disk) {
        if (!KIND.equals(disk.kind())) {
            return Optional.empty();
        }
        return NbdUri.parse(disk.source())
                .filter(uri -> uri.socket().equals(server.socket()))
                .map(uri -> server.find(uri.export()));
    }

    /** The export of that name, or {@code null}. */
    NbdExport find(String name) {
        return server.find(name);
    }

    /** Stops the server: every client is disconnected and every export closed. */
    @Deactivate
    @Override
    public void close() {
        server.close();
    }

    @Override
    public String toString() {
        return server.toString();
    }
}
