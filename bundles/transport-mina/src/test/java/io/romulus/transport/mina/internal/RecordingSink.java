package io.romulus.transport.mina.internal;

import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

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
    final List<EpochEnd> ends = new CopyOnWriteArrayList<>();
    final List<Long> pageEpochs = new CopyOnWriteArrayList<>();
    final AtomicInteger accepted = new AtomicInteger();
    volatile byte[] deviceState;
    volatile Throwable closedCause;
    final CountDownLatch closed = new CountDownLatch(1);
    volatile boolean closedOrderly;
    /** When set, {@link #pages} blocks until it is counted down. */
    volatile CountDownLatch gate;

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
        ends.add(end);
    }

    @Override
    public void closed(Throwable cause) {
        closedCause = cause;
        closedOrderly = cause == null;
        closed.countDown();
    }

    synchronized byte[] page(long pfn) {
        return memory.get(pfn);
    }
}
