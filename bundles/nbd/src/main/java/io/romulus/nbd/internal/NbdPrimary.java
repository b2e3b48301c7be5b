package io.romulus.nbd.internal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The primary side of one NBD disk: the export's write log, drained at each barrier. Writes the guest made during the
 * initial copy are in the first barrier's list, so the copy plus epoch 1's writes give the disk as of checkpoint 1.
 */
public final class NbdPrimary implements DiskReplicator.Primary {

    private static final Logger LOG = LoggerFactory.getLogger(NbdPrimary.class);

    private final DomainId domain;
    private final GuestDisk disk;
    private final NbdExports exports;
    private final NbdExport export;
    private final int chunkBytes;
    private volatile boolean closed;
    private volatile boolean logging;

    NbdPrimary(DomainId domain, GuestDisk disk, NbdExports exports, NbdExport export, int chunkBytes) {
        this.domain = domain;
        this.disk = disk;
        this.exports = exports;
        this.export = export;
        this.chunkBytes = chunkBytes;
    }

    /**
     * Starts the write log, then reads the whole image in chunks of {@code initial.chunk.kib} and hands each to
     * {@code sink} (a fresh buffer each time, which the sink may keep), reporting progress every tenth.
     */
    @Override
    public void initialCopy(DiskReplicator.ChunkSink sink) throws Exception {
        if (closed) {
            throw new IllegalStateException("disk " + disk.name() + " of " + domain + " is no longer replicated");
        }
        export.startLog();
        logging = true;
        long size = export.size();
        LOG.info("{} disk {}: initial copy of {} bytes from {}", domain, disk.name(), size, export.image());
        long start = System.nanoTime();
        int reported = 0;
        for (long offset = 0; offset < size; ) {
            int n = (int) Math.min(chunkBytes, size - offset);
            ByteBuffer chunk = ByteBuffer.allocate(n);
            export.read(offset, chunk);
            chunk.flip();
            sink.chunk(offset, chunk);
            offset += n;
            int tenths = (int) (offset * 10 / size);
            if (tenths > reported) {
                reported = tenths;
                LOG.info("{} disk {}: initial copy {}% ({} of {} bytes)", domain, disk.name(), tenths * 10, offset,
                        size);
            }
        }
        LOG.info("{} disk {}: initial copy done in {} ms", domain, disk.name(), (System.nanoTime() - start) / 1_000_000);
    }

    /**
     * Planned switchover, on the new primary: the backup (the old primary) holds the disk as of {@code epoch}, so
     * nothing is copied; the write log starts now, while the domain is still paused, and the first barrier returns
     * every write since.
     */
    void resume(long epoch) {
        if (closed) {
            throw new IllegalStateException("disk " + disk.name() + " of " + domain + " is no longer replicated");
        }
        export.startLog();
        logging = true;
        LOG.info("{} disk {}: replicated from checkpoint {} on (the backup holds it; no initial copy)", domain,
                disk.name(), epoch);
    }

    /** The writes completed since the previous barrier (or since the initial copy started), in completion order. */
    @Override
    public List<DiskWrite> barrier(long epoch) {
        if (!logging || closed) {
            throw new IllegalStateException("disk " + disk.name() + " of " + domain
                    + ": no write log (initial copy not started, or closed)");
        }
        List<DiskWrite> writes = export.drainLog();
        if (LOG.isTraceEnabled()) {
            LOG.trace("{} disk {}: epoch {} has {} writes", domain, disk.name(), epoch, writes.size());
        }
        return writes;
    }

    @Override
    public void committed(long epoch) {
        // the writes left with the checkpoint: nothing is held here
    }

    /**
     * Planned switchover, on the old primary: the domain stopped after checkpoint {@code epoch}; the image the export
     * served becomes the backup side of the new primary's stream (the same file, see {@link NbdBackup#kept}). Logging
     * stops here. Refused when the image was written after the final barrier (it would not be at {@code epoch}).
     */
    @Override
    public NbdBackup handOver(long epoch) throws IOException {
        if (!logging || closed) {
            throw new IllegalStateException("disk " + disk.name() + " of " + domain + ": no write log, so the image "
                    + "is not known to be at checkpoint " + epoch);
        }
        long late = export.loggedBytes();
        close();
        if (late > 0) {
            throw new IllegalStateException("disk " + disk.name() + " of " + domain + " was written (" + late
                    + " bytes) after the barrier of the final checkpoint " + epoch);
        }
        return NbdBackup.kept(domain, disk, exports, export, epoch);
    }

    /** Bytes written since the last barrier. */
    public long pendingBytes() {
        return export.loggedBytes();
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            if (logging) {
                export.stopLog();
            }
            LOG.info("{} disk {}: no longer replicated", domain, disk.name());
        }
    }
}
