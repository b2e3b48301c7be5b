package io.romulus.nbd.internal;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Optional;
import java.util.TreeMap;

import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backup side of one NBD disk, for one stream: a sparse raw image {@code image.dir/DOMAIN-DISK.STREAM.img} of the
 * announced size. Each stream has its own image: while a new stream's initial copy runs, the engine keeps the previous
 * stream's replica, disk included, for a failover, so the copy must not overwrite it. An image that was not
 * activated is deleted when its backup is closed (superseded, or protection ended). The
 * initial copy is written straight to it; the writes of each later epoch are held in memory until that epoch commits,
 * then applied in order (epoch by epoch, each epoch's writes in the order they completed on the primary, so that
 * overlapping writes end as they ended there) and made durable. On failover the image, as of the last committed
 * epoch, is served by this node's {@link NbdExports} as export {@code DOMAIN-DISK}. After a switchover the old
 * primary's own image is the backup's copy instead ({@link #kept}): the file its export served, never deleted, served
 * again under that export's name on activation.
 */
public final class NbdBackup implements DiskReplicator.Backup {

    private static final Logger LOG = LoggerFactory.getLogger(NbdBackup.class);

    private final DomainId domain;
    private final GuestDisk disk;
    private final NbdExports exports;
    private static final java.util.concurrent.atomic.AtomicLong STREAMS = new java.util.concurrent.atomic.AtomicLong();

    private final Path image;
    /** The export name it is served under on activation. */
    private final String name;
    /**
     * Whether the image is this node's own copy of the disk, kept from the primary it was (switchover): it is never
     * deleted, whatever happens to the replica.
     */
    private final boolean kept;
    private final FileChannel file;
    private final NavigableMap<Long, List<DiskWrite>> staged = new TreeMap<>();
    private long committed = -1;
    private boolean unsynced;
    private GuestDisk activated;
    /** The disk served ahead of failover for a standby VM ({@link #standby()}), or null. */
    private GuestDisk standby;
    private boolean closed;

    private NbdBackup(DomainId domain, GuestDisk disk, NbdExports exports, Path image, String name, boolean kept,
            FileChannel file) {
        this.domain = domain;
        this.disk = disk;
        this.exports = exports;
        this.image = image;
        this.name = name;
        this.kept = kept;
        this.file = file;
    }

    /**
     * Planned switchover, on the old primary: the image {@code export} served to the stopped domain, which holds the
     * disk as of checkpoint {@code epoch}, becomes the backup side of the new primary's stream (the same file, no
     * copy). Activated, it is served again as {@code export}'s name, the source the domain had here. Never deleted.
     */
    static NbdBackup kept(DomainId domain, GuestDisk disk, NbdExports exports, NbdExport export, long epoch)
            throws IOException {
        FileChannel file = FileChannel.open(export.image(), StandardOpenOption.READ, StandardOpenOption.WRITE);
        NbdBackup b = new NbdBackup(domain, disk, exports, export.image(), export.name(), true, file);
        synchronized (b) {
            b.committed = epoch;
        }
        LOG.info("{} disk {}: its image {} is kept as the backup's copy at checkpoint {} (no copy)", domain,
                disk.name(), export.image(), epoch);
        return b;
    }

    static NbdBackup open(DomainId domain, GuestDisk disk, NbdExports exports) throws IOException {
        if (disk.sizeBytes() < 0) {
            throw new IllegalArgumentException("disk " + disk.name() + " announced with a negative size");
        }
        String name = exportName(domain, disk);
        Path dir = exports.settings().imageDir();
        Files.createDirectories(dir);
        Path image = dir.resolve(name + "." + System.currentTimeMillis() + "-" + STREAMS.incrementAndGet() + ".img");
        try (RandomAccessFile raf = new RandomAccessFile(image.toFile(), "rw")) {
            // sparse: a new file, or one kept from an earlier protection that the initial copy overwrites
            raf.setLength(disk.sizeBytes());
        }
        FileChannel file = FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE);
        LOG.info("{} disk {}: backup image {} ({} bytes)", domain, disk.name(), image, disk.sizeBytes());
        return new NbdBackup(domain, disk, exports, image, name, false, file);
    }

    /** The export name and image file name of a backup's disk: {@code DOMAIN-DISK}. */
    static String exportName(DomainId domain, GuestDisk disk) {
        String name = domain.name() + "-" + disk.name();
        if (!NbdUri.validName(name)) {
            throw new IllegalArgumentException("disk name '" + disk.name() + "' of " + domain
                    + " cannot name a backup image: expected letters, digits, '.', '_' or '-'");
        }
        return name;
    }

    /** The backup's image file. */
    public Path image() {
        return image;
    }

    /** The last committed epoch, -1 before the first commit. */
    public synchronized long committedEpoch() {
        return committed;
    }

    /** Epochs staged and not committed yet. */
    public synchronized int stagedEpochs() {
        return staged.size();
    }

    @Override
    public synchronized void writeInitial(long offset, ByteBuffer data) throws IOException {
        requireOpen();
        check(offset, data.remaining());
        NbdExport.writeFully(file, offset, data);
        unsynced = true;
    }

    /**
     * Holds the writes of {@code epoch} (added to those already staged for it). A write outside the disk is refused
     * before anything is staged.
     */
    @Override
    public synchronized void stage(long epoch, List<DiskWrite> writes) {
        requireOpen();
        if (epoch <= committed) {
            throw new IllegalStateException("epoch " + epoch + " of " + domain + " disk " + disk.name()
                    + " is already committed (last committed " + committed + ")");
        }
        for (DiskWrite w : writes) {
            check(w.offset(), w.data().length);
        }
        staged.computeIfAbsent(epoch, e -> new ArrayList<>()).addAll(writes);
    }

    /** Applies the staged writes of every epoch up to {@code epoch}, in order, then fdatasyncs the image. */
    @Override
    public synchronized void commit(long epoch) throws IOException {
        requireOpen();
        NavigableMap<Long, List<DiskWrite>> due = staged.headMap(epoch, true);
        int count = 0;
        for (Map.Entry<Long, List<DiskWrite>> e : due.entrySet()) {
            for (DiskWrite w : e.getValue()) {
                NbdExport.writeFully(file, w.offset(), ByteBuffer.wrap(w.data()));
                count++;
            }
        }
        due.clear();
        if (count > 0 || unsynced) {
            file.force(false);
            unsynced = false;
        }
        committed = Math.max(committed, epoch);
        if (LOG.isTraceEnabled()) {
            LOG.trace("{} disk {}: epoch {} committed, {} writes applied", domain, disk.name(), epoch, count);
        }
    }

    @Override
    public synchronized void discardUncommitted() {
        if (!staged.isEmpty()) {
            LOG.info("{} disk {}: dropped the writes of {} uncommitted epochs (from {})", domain, disk.name(),
                    staged.size(), staged.firstKey());
        }
        staged.clear();
    }

    /**
     * Failover: drops what did not commit, and serves the image as export {@code DOMAIN-DISK} on this node. The
     * activated domain attaches to the returned disk, whose writes can be replicated back from here.
     */
    @Override
    public synchronized GuestDisk activate() throws IOException {
        if (activated != null) {
            return activated;
        }
        requireOpen();
        discardUncommitted();
        file.force(false);
        activated = exports.export(name, disk.name(), image);
        file.close();
        LOG.info("{} disk {}: activated as of epoch {}, served as {}", domain, disk.name(), committed,
                activated.source());
        return activated;
    }

    /**
     * Serves the backup's image under the name {@link #activate()} will serve it, for a standby VM that opens it now
     * and reads or writes nothing until activation, which first applies every committed write (the same export, so
     * the standby's connection stays valid).
     */
    @Override
    public synchronized Optional<GuestDisk> standby() throws IOException {
        requireOpen();
        if (standby == null) {
            standby = exports.export(name, disk.name(), image);
        }
        return Optional.of(standby);
    }

    /**
     * Releases the image file, and deletes it unless it was activated (then stops serving it, if a standby was
     * served); an activated disk stays served.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        staged.clear();
        try {
            file.close();
            if (activated == null) {
                if (standby != null) {
                    exports.unexport(name);
                }
                if (!kept) {
                    Files.deleteIfExists(image);
                }
            }
        } catch (IOException e) {
            LOG.debug("{} disk {}: closing {}: {}", domain, disk.name(), image, e.getMessage());
        }
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("backup of " + domain + " disk " + disk.name() + " is closed");
        }
        if (activated != null) {
            throw new IllegalStateException("backup of " + domain + " disk " + disk.name() + " is activated");
        }
    }

    private void check(long offset, long length) {
        if (offset < 0 || offset > disk.sizeBytes() || length > disk.sizeBytes() - offset) {
            throw new IllegalArgumentException("write of " + length + " bytes at " + offset + " is outside " + domain
                    + " disk " + disk.name() + " (" + disk.sizeBytes() + " bytes)");
        }
    }
}
