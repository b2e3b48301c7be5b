package io.romulus.itests.e2e;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;

/**
 * A disk replicator that does what the one it wraps does and notes, for the benchmark, when the primary's initial copy
 * of a disk started and ended, how many bytes it read, and how many bytes of guest writes each checkpoint carried.
 */
final class TimedDiskReplicator implements DiskReplicator {

    private final DiskReplicator inner;
    private final AtomicLong copyStarted = new AtomicLong(-1);
    private final AtomicLong copyEnded = new AtomicLong(-1);
    private final AtomicLong copyBytes = new AtomicLong();
    private final Map<Long, Long> writtenPerEpoch = new ConcurrentHashMap<>();

    TimedDiskReplicator(DiskReplicator inner) {
        this.inner = inner;
    }

    /** {@link System#nanoTime()} when the last initial copy started, or -1. */
    long copyStartedNanos() {
        return copyStarted.get();
    }

    /** {@link System#nanoTime()} when the last initial copy ended, or -1 while none ended. */
    long copyEndedNanos() {
        return copyEnded.get();
    }

    /** Bytes the last initial copy read from the disk. */
    long copyBytes() {
        return copyBytes.get();
    }

    /** Bytes of guest writes in checkpoint {@code epoch} (0 when none, or not seen). */
    long writtenIn(long epoch) {
        return writtenPerEpoch.getOrDefault(epoch, 0L);
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public boolean supports(GuestDisk disk) {
        return inner.supports(disk);
    }

    @Override
    public Primary primary(DomainId domain, GuestDisk disk) throws Exception {
        Primary p = inner.primary(domain, disk);
        return new Primary() {
            @Override
            public void initialCopy(ChunkSink sink) throws Exception {
                copyEnded.set(-1);
                copyBytes.set(0);
                copyStarted.set(System.nanoTime());
                p.initialCopy((offset, data) -> {
                    copyBytes.addAndGet(data.remaining());
                    sink.chunk(offset, data);
                });
                copyEnded.set(System.nanoTime());
            }

            @Override
            public List<DiskWrite> barrier(long epoch) throws Exception {
                List<DiskWrite> writes = p.barrier(epoch);
                long bytes = 0;
                for (DiskWrite w : writes) {
                    bytes += w.data().length;
                }
                writtenPerEpoch.merge(epoch, bytes, Long::sum);
                return writes;
            }

            @Override
            public void committed(long epoch) throws Exception {
                p.committed(epoch);
            }

            @Override
            public void close() {
                p.close();
            }
        };
    }

    @Override
    public Backup backup(DomainId domain, GuestDisk disk) throws Exception {
        return inner.backup(domain, disk);
    }

    @Override
    public void fence(DomainId domain, GuestDisk disk) throws Exception {
        inner.fence(domain, disk);
    }
}
