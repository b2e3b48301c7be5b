package io.romulus.nbd.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import io.romulus.api.disk.DiskWrite;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The write log: which epoch a write belongs to. */
@Timeout(60)
class NbdExportTest {

    @TempDir
    Path dir;
    NbdExport export;

    @BeforeEach
    void open() throws Exception {
        Path image = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(8 << 20);
        }
        export = NbdExport.open("disk", image, false);
    }

    @AfterEach
    void close() {
        export.close();
    }

    private static byte[] bytes(int... values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            b[i] = (byte) values[i];
        }
        return b;
    }

    @Test
    void writesBeforeABarrierAreInItAndLaterOnesInTheNext() throws Exception {
        export.write(0, bytes(1, 1), false);
        export.startLog();
        export.write(10, bytes(2, 2), false);
        export.write(11, bytes(3), true);
        assertEquals(3, export.loggedBytes());
        List<DiskWrite> first = export.drainLog();
        export.write(20, bytes(4), false);
        List<DiskWrite> second = export.drainLog();
        assertEquals(List.of(10L, 11L), first.stream().map(DiskWrite::offset).toList());
        assertArrayEquals(bytes(3), first.get(1).data());
        assertEquals(List.of(20L), second.stream().map(DiskWrite::offset).toList());
        assertTrue(export.drainLog().isEmpty());
        ByteBuffer b = ByteBuffer.allocate(3);
        export.read(10, b);
        assertArrayEquals(bytes(2, 3, 0), b.array());
        export.stopLog();
        assertThrows(IllegalStateException.class, export::drainLog);
    }

    @Test
    void oneReplicationAtATime() {
        export.startLog();
        assertThrows(IllegalStateException.class, export::startLog);
    }

    @Test
    void zeroesAreLoggedInChunksSharingOneArray() throws Exception {
        Files.write(dir.resolve("disk.img"), new byte[8 << 20]);
        export.write(0, new byte[] {7}, false);
        export.startLog();
        export.writeZeroes(0, 3 * NbdExport.ZERO_CHUNK + 512, false);
        List<DiskWrite> writes = export.drainLog();
        assertEquals(4, writes.size());
        assertEquals(List.of(0L, 1L << 20, 2L << 20, 3L << 20), writes.stream().map(DiskWrite::offset).toList());
        assertSame(writes.get(0).data(), writes.get(2).data());
        assertEquals(512, writes.get(3).data().length);
        ByteBuffer b = ByteBuffer.allocate(1);
        export.read(0, b);
        assertEquals(0, b.get(0));
    }

    /**
     * Writers write while barriers drain the log. A write must be in an epoch after every barrier that completed
     * before the write began, and no later than the first barrier that started after the write returned (the point
     * at which the connection replies to the guest); each write is in exactly one epoch, in each writer's order.
     */
    @Test
    void concurrentWritersLandInTheEpochThatFollowsTheirCompletion() throws Exception {
        int writers = 8;
        int perWriter = 400;
        export.startLog();
        AtomicLong started = new AtomicLong();
        AtomicLong completed = new AtomicLong();
        List<List<DiskWrite>> epochs = new CopyOnWriteArrayList<>();
        AtomicBoolean stop = new AtomicBoolean();
        Thread barriers = new Thread(() -> {
            while (!stop.get()) {
                started.incrementAndGet();
                epochs.add(export.drainLog());
                completed.incrementAndGet();
                Thread.onSpinWait();
            }
        });
        long[][] lowest = new long[writers][perWriter];
        long[][] highest = new long[writers][perWriter];
        CountDownLatch go = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        List<Throwable> failures = new CopyOnWriteArrayList<>();
        for (int t = 0; t < writers; t++) {
            int writer = t;
            threads.add(new Thread(() -> {
                try {
                    go.await();
                    for (int i = 0; i < perWriter; i++) {
                        lowest[writer][i] = completed.get() + 1;
                        export.write((long) (writer * perWriter + i) * 8, bytes(writer, i >> 8, i & 0xff), false);
                        highest[writer][i] = started.get() + 1;
                    }
                } catch (Throwable e) {
                    failures.add(e);
                }
            }));
        }
        barriers.start();
        threads.forEach(Thread::start);
        go.countDown();
        for (Thread t : threads) {
            t.join();
        }
        stop.set(true);
        barriers.join();
        assertTrue(failures.isEmpty(), failures.toString());
        epochs.add(export.drainLog());

        Map<Long, Integer> epochOf = new HashMap<>();
        for (int e = 0; e < epochs.size(); e++) {
            Map<Integer, Long> lastOfWriter = new HashMap<>();
            for (DiskWrite w : epochs.get(e)) {
                assertEquals(null, epochOf.put(w.offset(), e + 1), "write at " + w.offset() + " logged twice");
                Long last = lastOfWriter.put((int) w.data()[0], w.offset());
                assertTrue(last == null || last < w.offset(), "a writer's writes out of order in epoch " + (e + 1));
            }
        }
        assertEquals(writers * perWriter, epochOf.size());
        assertTrue(epochs.size() > 3, "the barriers ran while the writers wrote: " + epochs.size());
        for (int t = 0; t < writers; t++) {
            for (int i = 0; i < perWriter; i++) {
                int epoch = epochOf.get((long) (t * perWriter + i) * 8);
                assertTrue(epoch >= lowest[t][i] && epoch <= highest[t][i], "writer " + t + " write " + i
                        + " in epoch " + epoch + ", expected " + lowest[t][i] + "-" + highest[t][i]);
            }
        }
    }
}
