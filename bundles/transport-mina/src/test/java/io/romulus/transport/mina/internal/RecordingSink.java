package io.romulus.transport.mina.internal;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.InboundFrame;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.EpochEnd;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.HelloReply;
import io.romulus.api.transport.ReplicaAcceptor;
import io.romulus.api.transport.ReplicaSink;

/** A replica that stages pages per epoch and applies them on a verified end, like the engine does. */
final class RecordingSink implements ReplicaSink, ReplicaAcceptor {

    final int pageSize;
    final Map<Long, byte[]> memory = new HashMap<>();
    private final Map<Long, byte[]> staged = new HashMap<>();
    /** Per disk index, the writes of ended epochs in order, as {@code epoch:offset:length}. */
    final Map<Integer, List<String>> diskLog = new HashMap<>();
    /** Per disk index, a 1 MiB disk with the writes of ended epochs applied. */
    final Map<Integer, byte[]> disks = new HashMap<>();
    private final List<Object[]> stagedWrites = new ArrayList<>();
    final List<EpochEnd> ends = new CopyOnWriteArrayList<>();
    final List<Long> pageEpochs = new CopyOnWriteArrayList<>();
    /** Every page the stream handed over, staged or not. */
    final List<byte[]> pagesSeen = new CopyOnWriteArrayList<>();
    final AtomicInteger accepted = new AtomicInteger();
    volatile byte[] deviceState;
    volatile Throwable closedCause;
    final CountDownLatch closed = new CountDownLatch(1);
    volatile boolean closedOrderly;
    /** When set, {@link #pages} blocks until it is counted down. */
    volatile CountDownLatch gate;
    /** Why a hand-over is refused; null: it is taken. */
    volatile String refuseHandOver;
    final List<Long> prepared = new CopyOnWriteArrayList<>();
    final List<Long> handedOver = new CopyOnWriteArrayList<>();
    /** The frames each hand-over carried. */
    final List<List<InboundFrame>> framesHandedOver = new CopyOnWriteArrayList<>();
    /** The next ACK asks the primary for a switchover. */
    final java.util.concurrent.atomic.AtomicBoolean wantHandOver = new java.util.concurrent.atomic.AtomicBoolean();

    RecordingSink(int pageSize) {
        this.pageSize = pageSize;
    }

    @Override
    public Accepted accept(Hello hello) throws CheckpointException {
        if (hello.domain().startsWith("taken")) {
            throw new io.romulus.api.transport.DomainTakenOverException(hello.domain() + " runs here now");
        }
        if (hello.domain().startsWith("refused")) {
            throw new CheckpointException("domain " + hello.domain() + " is not configured here");
        }
        accepted.incrementAndGet();
        return new Accepted(this, new HelloReply("backup-node", -1));
    }

    @Override
    public synchronized void pages(long epoch, long[] pfns, int count, ByteBuffer pages) {
        CountDownLatch g = gate;
        if (g != null) {
            try {
                g.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        pageEpochs.add(epoch);
        ByteBuffer src = pages.duplicate();
        for (int i = 0; i < count; i++) {
            byte[] p = new byte[pageSize];
            src.get(p);
            staged.put(pfns[i], p);
            pagesSeen.add(p);
        }
    }

    @Override
    public synchronized void diskWrites(long epoch, int disk, List<DiskWrite> writes) {
        for (DiskWrite w : writes) {
            stagedWrites.add(new Object[] {epoch, disk, w});
        }
    }

    @Override
    public void deviceState(long epoch, byte[] state) {
        deviceState = state.clone();
    }

    @Override
    public synchronized void epochEnd(EpochEnd end) {
        memory.putAll(staged);
        staged.clear();
        for (Object[] s : stagedWrites) {
            int disk = (Integer) s[1];
            DiskWrite w = (DiskWrite) s[2];
            diskLog.computeIfAbsent(disk, k -> new ArrayList<>()).add(s[0] + ":" + w.offset() + ":"
                    + w.data().length);
            System.arraycopy(w.data(), 0, disks.computeIfAbsent(disk, k -> new byte[1 << 20]), (int) w.offset(),
                    w.data().length);
        }
        stagedWrites.clear();
        ends.add(end);
    }

    @Override
    public void prepareHandOver(long epoch) throws CheckpointException {
        String why = refuseHandOver;
        if (why != null) {
            throw new CheckpointException(why);
        }
        prepared.add(epoch);
    }

    /** When set, "prepare" is answered only once this completes: the backup is not ready before. */
    volatile CompletableFuture<Void> readiness;

    @Override
    public CompletionStage<Void> prepareHandOverAsync(long epoch) {
        CompletableFuture<Void> later = readiness;
        if (later == null) {
            return ReplicaSink.super.prepareHandOverAsync(epoch);
        }
        prepared.add(epoch);
        return later;
    }

    @Override
    public boolean handOverWanted() {
        return wantHandOver.getAndSet(false);
    }

    @Override
    public void handOver(long epoch) {
        handedOver.add(epoch);
    }

    @Override
    public void handOver(long epoch, List<InboundFrame> frames) {
        framesHandedOver.add(frames);
        handOver(epoch);
    }

    @Override
    public void closed(Throwable cause) {
        closedCause = cause;
        closedOrderly = cause == null;
        closed.countDown();
    }

    synchronized byte[] disk(int index) {
        return disks.get(index);
    }

    synchronized List<String> diskLog(int index) {
        return List.copyOf(diskLog.getOrDefault(index, List.of()));
    }

    synchronized byte[] page(long pfn) {
        return memory.get(pfn);
    }
}
