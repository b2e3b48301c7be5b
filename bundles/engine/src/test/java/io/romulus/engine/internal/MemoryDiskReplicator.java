package io.romulus.engine.internal;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32C;

import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;

/**
 * An in-memory disk replicator for the tests, one instance serving both nodes (like the {@link Oracle}). Primary:
 * a byte array the test writes into while the domain runs, and a log of the writes since the last barrier. Backup: a
 * byte array and the staged writes of each epoch. It is also the witness of I2 for disks: every barrier records the
 * CRC32C of the primary's disk at that pause, and every commit compares the backup's disk with it.
 */
final class MemoryDiskReplicator implements DiskReplicator {

    static final String KIND = "mem";
    private static final int CHUNK = 64 * 1024;

    private final Map<String, PrimaryDisk> disks = new ConcurrentHashMap<>();
    /** Per disk name, epoch to the CRC32C of the primary's disk at that epoch's barrier. */
    final Map<String, Map<Long, Integer>> pauseDigests = new ConcurrentHashMap<>();
    final List<String> mismatches = new CopyOnWriteArrayList<>();
    final List<BackupDisk> backups = new CopyOnWriteArrayList<>();
    final List<Long> primaryCommits = new CopyOnWriteArrayList<>();
    final AtomicInteger initialCopies = new AtomicInteger();
    /** Primary sides resumed by a switchover's new primary, and disks handed over by its old primary. */
    final AtomicInteger resumes = new AtomicInteger();
    final List<BackupDisk> kept = new CopyOnWriteArrayList<>();
    /** Hand-overs and activations, in the order they happened on either node ("handOver N", "activate"). */
    final List<String> events = new CopyOnWriteArrayList<>();
    final AtomicInteger primariesClosed = new AtomicInteger();
    final AtomicInteger checked = new AtomicInteger();

    @Override
    public String name() {
        return "memory";
    }

    /** A new disk of {@code size} bytes with random content, for a domain to report. */
    GuestDisk create(String name, int size) {
        byte[] content = new byte[size];
        new Random(name.hashCode()).nextBytes(content);
        GuestDisk disk = new GuestDisk(name, KIND, "mem:/" + name + ",with%odd,chars", size);
        disks.put(disk.source(), new PrimaryDisk(content));
        return disk;
    }

    /** Serves a disk a binding reports (its content starts zeroed, {@code sizeBytes} long). */
    GuestDisk adopt(GuestDisk disk) {
        disks.put(disk.source(), new PrimaryDisk(new byte[(int) disk.sizeBytes()]));
        return disk;
    }

    /** A binding whose domains report {@code disks} (the sim binding's have none). */
    static Hypervisor reporting(Hypervisor h, List<GuestDisk> disks) {
        return new ForwardingHypervisor(h) {
            @Override
            public ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
                return new ForwardingDomain(super.open(id, options)) {
                    @Override
                    public List<GuestDisk> disks() {
                        return disks;
                    }
                };
            }
        };
    }

    /**
     * Starts the guest's disk I/O on {@code disk} until interrupted: a few writes per millisecond of 512 bytes to
     * 8 KiB at sector boundaries, every other one random, the rest journal-like (they compress), counted in
     * {@code writes}.
     */
    Thread startWriter(GuestDisk disk, AtomicLong writes) {
        PrimaryDisk d = disk(disk);
        Thread t = new Thread(() -> {
            SplittableRandom random = new SplittableRandom(disk.name().hashCode());
            while (!Thread.currentThread().isInterrupted()) {
                for (int i = 0; i < 4; i++) {
                    byte[] data = new byte[512 * (1 + random.nextInt(16))];
                    if (i % 2 == 0) {
                        random.nextBytes(data);
                    } else {
                        byte[] line = ("commit " + writes.get() + " ok\n").getBytes(StandardCharsets.US_ASCII);
                        for (int j = 0; j < data.length; j++) {
                            data[j] = line[j % line.length];
                        }
                    }
                    d.write(512L * random.nextInt((d.size() - data.length) / 512), data);
                    writes.incrementAndGet();
                }
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "guest-disk-writer-" + disk.name());
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** The primary's disk, to write into. */
    PrimaryDisk disk(GuestDisk disk) {
        return disks.get(disk.source());
    }

    @Override
    public boolean supports(GuestDisk disk) {
        return disks.containsKey(disk.source());
    }

    @Override
    public boolean handsOver() {
        return true;
    }

    /** A switchover's new primary: the write log starts now; the old primary kept its copy, so nothing is copied. */
    @Override
    public Primary resume(DomainId domain, GuestDisk disk, long epoch) {
        Primary p = primary(domain, disk);
        disks.get(disk.source()).startLog();
        resumes.incrementAndGet();
        return p;
    }

    @Override
    public Primary primary(DomainId domain, GuestDisk disk) {
        PrimaryDisk d = disks.get(disk.source());
        Map<Long, Integer> digests = pauseDigests.computeIfAbsent(disk.name(), k -> new ConcurrentHashMap<>());
        return new Primary() {
            @Override
            public void initialCopy(ChunkSink sink) throws Exception {
                initialCopies.incrementAndGet();
                d.startLog();
                for (int off = 0; off < d.size(); off += CHUNK) {
                    sink.chunk(off, ByteBuffer.wrap(d.read(off, Math.min(CHUNK, d.size() - off))));
                }
            }

            @Override
            public List<DiskWrite> barrier(long epoch) {
                return d.barrier(epoch, digests);
            }

            @Override
            public void committed(long epoch) {
                primaryCommits.add(epoch);
            }

            /** The old primary's disk itself becomes the backup's copy (the same bytes, nothing copied). */
            @Override
            public Backup handOver(long epoch) {
                d.stopLog();
                events.add("handOver " + epoch);
                BackupDisk b = new BackupDisk(disk, d);
                kept.add(b);
                return b;
            }

            @Override
            public void close() {
                d.stopLog();
                primariesClosed.incrementAndGet();
            }
        };
    }

    @Override
    public Backup backup(DomainId domain, GuestDisk disk) {
        BackupDisk b = new BackupDisk(disk);
        backups.add(b);
        return b;
    }

    /** The primary's side of one disk. */
    static final class PrimaryDisk {
        private final byte[] content;
        private List<DiskWrite> log;
        /** Whether the domain runs: a paused or stopped guest writes nothing (see {@link #running(boolean)}). */
        private boolean running = true;

        PrimaryDisk(byte[] content) {
            this.content = content;
        }

        int size() {
            return content.length;
        }

        /** The domain runs, or is paused or stopped: the guest's writes are dropped meanwhile (it does none). */
        synchronized void running(boolean runs) {
            running = runs;
        }

        /** The guest writes (unless it is paused or stopped). */
        synchronized void write(long offset, byte[] data) {
            if (!running) {
                return;
            }
            System.arraycopy(data, 0, content, (int) offset, data.length);
            if (log != null) {
                log.add(new DiskWrite(offset, data.clone()));
            }
        }

        synchronized byte[] read(int offset, int length) {
            byte[] b = new byte[length];
            System.arraycopy(content, offset, b, 0, length);
            return b;
        }

        synchronized void startLog() {
            log = new ArrayList<>();
        }

        synchronized void stopLog() {
            log = null;
        }

        synchronized List<DiskWrite> barrier(long epoch, Map<Long, Integer> digests) {
            List<DiskWrite> writes = log == null ? List.of() : log;
            log = new ArrayList<>();
            digests.put(epoch, crcOf(content));
            return writes;
        }

        synchronized int digest() {
            return crcOf(content);
        }
    }

    static int crcOf(byte[] content) {
        CRC32C crc = new CRC32C();
        crc.update(content);
        return (int) crc.getValue();
    }

    /** The backup's side of one disk, for one stream. */
    final class BackupDisk implements Backup {
        final GuestDisk disk;
        final byte[] content;
        /** The old primary's disk it is (a switchover), or null for a copy of its own. */
        private final PrimaryDisk over;
        private final TreeMap<Long, List<DiskWrite>> staged = new TreeMap<>();
        final List<Long> committed = new CopyOnWriteArrayList<>();
        final List<Long> discarded = new CopyOnWriteArrayList<>();
        volatile int initialWrites;
        volatile boolean activated;
        volatile boolean closed;

        BackupDisk(GuestDisk disk) {
            this.disk = disk;
            this.content = new byte[(int) disk.sizeBytes()];
            this.over = null;
        }

        /** A switchover's old primary keeps {@code over}, its own disk, as the copy: the same bytes. */
        BackupDisk(GuestDisk disk, PrimaryDisk over) {
            this.disk = disk;
            this.content = over.content;
            this.over = over;
        }

        @Override
        public synchronized void writeInitial(long offset, ByteBuffer data) {
            if (!committed.isEmpty()) {
                throw new IllegalStateException("initial copy after a commit");
            }
            data.duplicate().get(content, (int) offset, data.remaining());
            initialWrites++;
        }

        @Override
        public synchronized void stage(long epoch, List<DiskWrite> writes) {
            staged.computeIfAbsent(epoch, e -> new ArrayList<>()).addAll(writes);
        }

        @Override
        public synchronized void commit(long epoch) {
            if (activated) {
                throw new IllegalStateException("commit after activation");
            }
            List<DiskWrite> writes = staged.remove(epoch);
            if (!staged.headMap(epoch).isEmpty()) {
                mismatches.add("epoch " + epoch + " committed while earlier epochs are staged: " + staged.keySet());
            }
            if (writes != null) {
                for (DiskWrite w : writes) {
                    System.arraycopy(w.data(), 0, content, (int) w.offset(), w.data().length);
                }
            }
            committed.add(epoch);
            Integer expected = pauseDigests.getOrDefault(disk.name(), Map.of()).get(epoch);
            int actual = crcOf(content);
            checked.incrementAndGet();
            if ((expected == null || expected != actual) && mismatches.size() < 5) {
                mismatches.add("disk " + disk.name() + " epoch " + epoch + ": backup " + Integer.toHexString(actual)
                        + ", primary at its pause " + (expected == null ? "none" : Integer.toHexString(expected)));
            }
        }

        @Override
        public synchronized void discardUncommitted() {
            discarded.addAll(staged.keySet());
            staged.clear();
        }

        /**
         * The activated disk, which the activated domain writes as a primary's disk: a kept disk is the old primary's
         * own again, and a copy is served as {@code mem-replica:/NAME}.
         */
        @Override
        public synchronized GuestDisk activate() {
            activated = true;
            events.add("activate");
            if (over != null) {
                return disk;
            }
            GuestDisk served = new GuestDisk(disk.name(), KIND, "mem-replica:/" + disk.name(), disk.sizeBytes());
            PrimaryDisk running = new PrimaryDisk(content);
            running.running(false); // until its domain runs
            disks.put(served.source(), running);
            return served;
        }

        @Override
        public void close() {
            closed = true;
        }

        synchronized int digest() {
            return crcOf(content);
        }
    }
}
