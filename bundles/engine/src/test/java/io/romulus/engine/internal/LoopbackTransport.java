package io.romulus.engine.internal;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;
import java.util.zip.CRC32C;

import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.InboundFrame;
import io.romulus.api.transport.AckListener;
import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.api.transport.EpochEnd;
import io.romulus.api.transport.EpochTransfer;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.HelloReply;
import io.romulus.api.transport.ReplicaAcceptor;
import io.romulus.api.transport.ReplicaSink;

/**
 * An in-process transport for engine tests: records travel through a bounded queue to a delivery thread that plays
 * the backup's side, so sends overlap the next epoch as they do over a socket. The link can be cut at a chosen
 * record, mid-epoch, and refused for a while; ACK arrival times are recorded for the I1 checks.
 *
 * <p>By default one transport serves both ends: the engine that set the acceptor last receives every stream. For
 * more nodes, each engine gets a transport of its own that listens on its own port of a shared {@code network}, and
 * a stream goes to the engine listening on the peer's port.
 */
final class LoopbackTransport implements CheckpointTransport {

    /** One record as the delivery thread sees it. */
    record Rec(String type, long epoch, long[] pfns, int count, ByteBuffer pages, byte[] state, EpochEnd end,
            int disk, List<DiskWrite> writes) {

        Rec(String type, long epoch, long[] pfns, int count, ByteBuffer pages, byte[] state, EpochEnd end) {
            this(type, epoch, pfns, count, pages, state, end, -1, List.of());
        }
    }

    private final AtomicReference<ReplicaAcceptor> acceptor = new AtomicReference<>();
    private final int port;
    private final Map<Integer, LoopbackTransport> network;
    final Map<Long, Long> ackNanos = new ConcurrentHashMap<>();
    final AtomicInteger connects = new AtomicInteger();
    /** Connections the peer's engine turned away (it answered "try again" or refused the stream). */
    final AtomicInteger turnedAway = new AtomicInteger();
    volatile Predicate<Rec> cutBefore = r -> false;
    volatile boolean refuse;
    /** How long the backup takes over each checkpoint's end before it acknowledges it: a backup that is behind. */
    volatile long ackDelayMs;
    /** How long each record of pages takes to cross the link: a slow link, on which a checkpoint takes a while. */
    volatile long pagesDelayMs;
    /** How long the backup takes to install an initial copy before it acknowledges it. */
    volatile long initialAckDelayMs;
    /**
     * How long the backup takes over the first checkpoint after an initial copy (which commits the copy with it: a
     * real backup writes the whole RAM and syncs the whole disk then) before it acknowledges it.
     */
    volatile long firstCheckpointAckDelayMs;
    /** The backup applies checkpoints but its ACKs are lost on the way back. */
    volatile boolean dropAcks;
    /** The backup's answers to a switchover's "prepare" are lost on the way back. */
    volatile boolean dropHandOverAnswers;
    /** Told each answer to a switchover's "prepare" as the backup gives it ({@code ready N}, {@code refused N}). */
    volatile java.util.function.Consumer<String> handOverAnswers = a -> { };
    /**
     * "prepare" records the backup's side took (and answered, where it answered at once); it answers on, without the
     * delivery thread, when it answers later.
     */
    final AtomicInteger preparesTaken = new AtomicInteger();
    /** The last HELLO this node sent, or null. */
    volatile Hello lastHello;
    /** Runs as this node starts a connection, before the peer's engine answers it. */
    volatile Runnable connecting = () -> { };
    /** Runs once the peer's engine accepted a connection from this node. */
    volatile Runnable accepted = () -> { };
    /** HELLOs from this node whose answer the peer's engine held, returning at once with a stage to complete. */
    final AtomicInteger answersHeld = new AtomicInteger();
    /** Streams from this node that it aborted (ended with an ERROR). */
    final AtomicInteger aborted = new AtomicInteger();
    /** This node does not say where its stream listens (no {@code romulus.return} in its HELLOs). */
    volatile boolean unlisted;
    volatile Link current;

    LoopbackTransport() {
        this(7480, null);
    }

    /** One node's transport, listening at 127.0.0.1:{@code port} of {@code network}, which it joins. */
    LoopbackTransport(int port, Map<Integer, LoopbackTransport> network) {
        this.port = port;
        this.network = network;
        if (network != null) {
            network.put(port, this);
        }
    }

    @Override
    public CheckpointChannel connect(InetSocketAddress peer, Hello hello, AckListener listener)
            throws CheckpointException, InterruptedException {
        if (refuse) {
            throw new CheckpointException("connection refused (test)");
        }
        LoopbackTransport there = network == null ? this : network.get(peer.getPort());
        if (there == null) {
            throw new CheckpointException("connection refused: nothing listens at " + peer + " (test)");
        }
        ReplicaAcceptor a = there.acceptor.get();
        if (a == null) {
            throw new CheckpointException("no replication engine is running on the peer");
        }
        lastHello = hello;
        connecting.run();
        ReplicaAcceptor.Accepted answer;
        try {
            java.util.concurrent.CompletableFuture<ReplicaAcceptor.Accepted> given =
                    a.acceptAsync(hello).toCompletableFuture();
            if (!given.isDone()) {
                answersHeld.incrementAndGet();
            }
            answer = given.get();
        } catch (java.util.concurrent.ExecutionException e) {
            turnedAway.incrementAndGet();
            throw e.getCause() instanceof CheckpointException c ? c
                    : new CheckpointException(String.valueOf(e.getCause().getMessage()), e.getCause());
        }
        accepted.run();
        connects.incrementAndGet();
        Link link = new Link(answer.sink(), answer.reply(), listener, hello.pageSize(), hello.domain());
        current = link;
        link.start();
        return link;
    }

    /** Cuts the current link now, as a dropped TCP connection would. */
    void cut() {
        Link l = current;
        if (l != null) {
            l.fail(new CheckpointException("link cut (test)"));
        }
    }

    /** What this node's engine set to receive streams, or null. */
    ReplicaAcceptor acceptor() {
        return acceptor.get();
    }

    @Override
    public void setAcceptor(ReplicaAcceptor a) {
        acceptor.set(a);
    }

    @Override
    public InetSocketAddress listenAddress() {
        return unlisted ? null : new InetSocketAddress("127.0.0.1", port);
    }

    @Override
    public List<ConnectionInfo> connections() {
        Link l = current;
        return l == null || !l.open ? List.of()
                : List.of(new ConnectionInfo("primary", l.domain, "127.0.0.1:" + port, l.bytesOut.get(), 0, 0,
                        -1));
    }

    final class Link implements CheckpointChannel {

        private final ReplicaSink sink;
        private final HelloReply reply;
        private final AckListener listener;
        private final int pageSize;
        private final String domain;
        private final BlockingQueue<Rec> queue = new ArrayBlockingQueue<>(8);
        private final Thread delivery;
        private final CRC32C crc = new CRC32C();
        private int pages;
        private int stateBytes;
        private int diskWrites;
        private long raw;
        private volatile Throwable failure;
        private volatile boolean open = true;
        /** The frames the hand-over ("go") carries. */
        private volatile List<InboundFrame> goFrames = List.of();
        /** Bytes of the records the link took so far (as a socket's counter: what left the sender). */
        private final AtomicLong bytesOut = new AtomicLong();

        Link(ReplicaSink sink, HelloReply reply, AckListener listener, int pageSize, String domain) {
            this.domain = domain;
            this.sink = sink;
            this.reply = reply;
            this.listener = listener;
            this.pageSize = pageSize;
            this.delivery = new Thread(this::deliver, "loopback-backup");
            this.delivery.setDaemon(true);
        }

        void start() {
            delivery.start();
        }

        private void deliver() {
            boolean checkpointEnded = false;
            try {
                while (open) {
                    Rec r = queue.poll(10, TimeUnit.MILLISECONDS);
                    if (r == null) {
                        continue;
                    }
                    if (cutBefore.test(r)) {
                        fail(new CheckpointException("link cut before " + r.type() + " of epoch " + r.epoch()));
                        return;
                    }
                    switch (r.type()) {
                        case "pages" -> {
                            if (pagesDelayMs > 0) {
                                Thread.sleep(pagesDelayMs);
                            }
                            sink.pages(r.epoch(), r.pfns(), r.count(), r.pages());
                        }
                        case "state" -> sink.deviceState(r.epoch(), r.state());
                        case "disk" -> sink.diskWrites(r.epoch(), r.disk(), r.writes());
                        case "prepare" -> {
                            long epoch = r.epoch();
                            sink.prepareHandOverAsync(epoch).whenComplete((v, failure) -> {
                                handOverAnswers.accept((failure == null ? "ready " : "refused ") + epoch);
                                if (failure != null) {
                                    Throwable cause = failure.getCause() != null
                                            && failure instanceof java.util.concurrent.CompletionException
                                                    ? failure.getCause() : failure;
                                    listener.handOverRefused(epoch, cause.getMessage());
                                } else if (!dropHandOverAnswers) {
                                    listener.handOverReady(epoch);
                                }
                            });
                            preparesTaken.incrementAndGet();
                        }
                        case "go" -> {
                            open = false;
                            sink.handOver(r.epoch(), goFrames);
                            sink.closed(new CheckpointException("the primary handed the domain over"));
                            listener.closed(new CheckpointException("handed over"));
                            return;
                        }
                        case "end" -> {
                            long slow = r.end().initial() ? initialAckDelayMs
                                    : checkpointEnded ? ackDelayMs : Math.max(ackDelayMs, firstCheckpointAckDelayMs);
                            checkpointEnded |= !r.end().initial();
                            if (slow > 0) {
                                Thread.sleep(slow);
                            }
                            sink.epochEnd(r.end());
                            if (dropAcks) {
                                continue;
                            }
                            ackNanos.put(r.epoch(), System.nanoTime());
                            listener.acknowledged(r.epoch());
                            if (sink.handOverWanted()) {
                                listener.handOverRequested();
                            }
                        }
                        case "bye" -> {
                            open = false;
                            sink.closed(null);
                            listener.closed(null);
                            return;
                        }
                        default -> throw new IllegalStateException(r.type());
                    }
                }
            } catch (CheckpointException e) {
                fail(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        void fail(Throwable cause) {
            if (failure != null) {
                return;
            }
            failure = cause;
            open = false;
            queue.clear();
            sink.closed(cause);
            listener.closed(cause);
        }

        private void put(Rec r) throws CheckpointException, InterruptedException {
            while (true) {
                if (failure != null || !open) {
                    // as the real transport does: what closed the link is the cause
                    throw failure == null ? new CheckpointException("link closed")
                            : new CheckpointException("link closed: " + failure.getMessage(), failure);
                }
                if (queue.offer(r, 5, TimeUnit.MILLISECONDS)) {
                    bytesOut.addAndGet(r.pages() == null ? 64 : r.pages().remaining());
                    return;
                }
            }
        }

        @Override
        public HelloReply peer() {
            return reply;
        }

        @Override
        public void sendPages(long epoch, long[] pfns, int from, int count, ByteBuffer data)
                throws CheckpointException, InterruptedException {
            ByteBuffer copy = ByteBuffer.allocate(count * pageSize);
            ByteBuffer src = data.duplicate();
            src.limit(src.position() + count * pageSize);
            copy.put(src).flip();
            long[] p = new long[count];
            System.arraycopy(pfns, from, p, 0, count);
            byte[] page = new byte[pageSize];
            for (int i = 0; i < count; i++) {
                crc.update(ByteBuffer.allocate(8).putLong(0, p[i]));
                copy.get(i * pageSize, page);
                crc.update(page);
            }
            pages += count;
            raw += (long) count * pageSize;
            put(new Rec("pages", epoch, p, count, copy, null, null));
        }

        @Override
        public void sendDiskWrites(long epoch, int disk, List<DiskWrite> writes)
                throws CheckpointException, InterruptedException {
            List<DiskWrite> copy = new java.util.ArrayList<>();
            for (DiskWrite w : writes) {
                crc.update(ByteBuffer.allocate(16).putInt(disk).putLong(w.offset()).putInt(w.data().length).flip());
                crc.update(w.data());
                raw += w.data().length;
                copy.add(new DiskWrite(w.offset(), w.data().clone()));
            }
            diskWrites += copy.size();
            put(new Rec("disk", epoch, null, 0, null, null, null, disk, copy));
        }

        @Override
        public void sendDeviceState(long epoch, byte[] state) throws CheckpointException, InterruptedException {
            crc.update(state);
            stateBytes += state.length;
            raw += state.length;
            put(new Rec("state", epoch, null, 0, null, state.clone(), null));
        }

        @Override
        public EpochTransfer endEpoch(long epoch, boolean initial) throws CheckpointException, InterruptedException {
            EpochEnd end = new EpochEnd(epoch, pages, stateBytes, diskWrites, (int) crc.getValue(), initial);
            put(new Rec("end", epoch, null, 0, null, null, end));
            EpochTransfer t = new EpochTransfer(raw, raw);
            crc.reset();
            pages = 0;
            stateBytes = 0;
            diskWrites = 0;
            raw = 0;
            return t;
        }

        @Override
        public void prepareHandOver(long epoch) throws CheckpointException {
            handOverStep("prepare", epoch);
        }

        @Override
        public void handOver(long epoch) throws CheckpointException {
            handOver(epoch, List.of());
        }

        @Override
        public void handOver(long epoch, List<InboundFrame> frames) throws CheckpointException {
            goFrames = List.copyOf(frames); // the queue's put and take order it before "go" is read
            handOverStep("go", epoch);
        }

        private void handOverStep(String step, long epoch) throws CheckpointException {
            try {
                put(new Rec(step, epoch, null, 0, null, null, null));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CheckpointException("interrupted");
            }
        }

        @Override
        public boolean isOpen() {
            return open;
        }

        @Override
        public void abort(String reason) {
            aborted.incrementAndGet();
            fail(new CheckpointException("the primary reported: " + reason));
        }

        @Override
        public void stopPlanned(String reason) {
            fail(new io.romulus.api.transport.PlannedStopException("the primary stopped for an update: " + reason));
        }

        @Override
        public void close() {
            if (open && failure == null) {
                try {
                    // as a socket's close does not wait for ever on a peer that reads nothing any more
                    if (!queue.offer(new Rec("bye", -1, null, 0, null, null, null), 2, TimeUnit.SECONDS)) {
                        fail(new CheckpointException("link closed: the peer read nothing for 2 s (test)"));
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
