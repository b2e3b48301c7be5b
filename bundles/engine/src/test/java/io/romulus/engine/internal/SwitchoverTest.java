package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.InboundFrame;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.api.netbuf.OutputBufferStats;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.DomainTakenOverException;
import io.romulus.api.transport.Hello;
import io.romulus.sim.internal.SimHypervisor;
import io.romulus.sim.internal.SimWire;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Planned switchover (ARCHITECTURE.md section 6): the primary hands a protected domain to its backup at a final
 * checkpoint taken while it is paused; the backup runs it from exactly that checkpoint and the old primary, which kept
 * its memory image as a replica, becomes the backup and is resumed without a full copy. When anything fails before
 * the old primary stops its copy, the switchover aborts and the domain runs on there, still protected. The oracles
 * check I1 and I2 in both directions, and the synthetic NIC's sequence numbers check that clients see no gap and no
 * repeat across the move.
 */
class SwitchoverTest {

    private static final DomainId DEMO = DomainId.parse("sim:demo");
    private static final int PORT_A = 7486;
    private static final int PORT_B = 7487;
    private static final InetSocketAddress ADDRESS_B = InetSocketAddress.createUnresolved("127.0.0.1", PORT_B);
    private static final Map<String, String> WORKLOAD = Map.of("memory", "4M", "dirty-rate", "20000",
            "packet-rate", "1000", "locality", "0.7");
    private static final Pattern AT = Pattern.compile("at checkpoint (\\d+)");

    private final SimHypervisor simA = new SimHypervisor();
    private final SimHypervisor simB = new SimHypervisor();
    private final Map<Integer, LoopbackTransport> network = new ConcurrentHashMap<>();
    private final LoopbackTransport linkA = new LoopbackTransport(PORT_A, network);
    private final LoopbackTransport linkB = new LoopbackTransport(PORT_B, network);
    /** The stream A to B. */
    private final Oracle forward = new Oracle();
    /** The stream B to A after the switchover. */
    private final Oracle backward = new Oracle();
    private final MemoryDiskReplicator disks = new MemoryDiskReplicator();
    private final GuestDisk vda = disks.create("vda", 1 << 20);
    /** B's binding fails to activate a replica (after "go"). */
    private volatile boolean failActivation;
    private final List<Thread> writers = new CopyOnWriteArrayList<>();
    /** Node A's domain takes 30 ms to pause (where a test makes it so). */
    private volatile boolean slowPause;
    /** The disks each node's binding activated the domain with, last. */
    private final Map<String, List<GuestDisk>> activatedWith = new ConcurrentHashMap<>();
    private Engine a;
    private Engine b;

    /** B's output buffers: what was attached and closed there, and whether the domain ran there at each attach. */
    private final RecordingOutputs outputsB = new RecordingOutputs(simB);
    /** A's output buffers, likewise. */
    private final RecordingOutputs outputsA = new RecordingOutputs(simA);

    private void nodes() {
        forward.reverse = backward;
        a = EngineForkTest.node("node-a", backward.backup(forward.primary(simA)), simA, linkA);
        b = EngineForkTest.node("node-b", outputsB.recordingRuns(forward.backup(simB)), simB, linkB);
        b.removeOutputBufferProvider(simB);
        b.addOutputBufferProvider(outputsB, 0);
        a.removeOutputBufferProvider(simA);
        a.addOutputBufferProvider(outputsA, 0);
    }

    /**
     * The sim's output buffers, recorded: each attach once it is done ({@code attach DEVICE before|after
     * activation}: whether the domain existed on this node at that moment) and each close, and how many are open;
     * with {@link #recordingRuns}, when a domain activated paused first runs ({@code run NAME}).
     */
    private static final class RecordingOutputs implements OutputBufferProvider {

        final SimHypervisor sim;
        final List<String> events = new CopyOnWriteArrayList<>();
        final AtomicLong open = new AtomicLong();
        /** While set and closed, closing a buffer waits for it (up to 30 s). */
        volatile CountDownLatch closeGate;
        /** While set, an attach ends only once the domain exists on this node (up to 30 s): a slow attach. */
        volatile boolean attachOnceActivated;

        RecordingOutputs(SimHypervisor sim) {
            this.sim = sim;
        }

        /** {@code binding}, whose domains activated paused (a switchover) record here when they first run. */
        Hypervisor recordingRuns(Hypervisor binding) {
            return new ForwardingHypervisor(binding) {
                @Override
                public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
                    return new ForwardingReplica(super.createReplica(spec)) {
                        @Override
                        public ProtectedDomain activate(List<GuestDisk> disks) throws HypervisorException {
                            return r.activate(disks); // the oracle's replica fails it where a test says so
                        }

                        @Override
                        public ProtectedDomain activatePaused(List<GuestDisk> disks) throws HypervisorException {
                            AtomicBoolean ran = new AtomicBoolean();
                            return new ForwardingDomain(super.activatePaused(disks)) {
                                @Override
                                public void resume() throws HypervisorException {
                                    if (!ran.getAndSet(true)) {
                                        events.add("run " + spec.id().name()); // before it runs
                                    }
                                    super.resume();
                                }
                            };
                        }
                    };
                }
            };
        }

        @Override
        public String name() {
            return sim.name();
        }

        @Override
        public boolean supports(GuestInterface nic) {
            return sim.supports(nic);
        }

        @Override
        public OutputBuffer attach(GuestInterface nic) throws OutputBufferException {
            if (attachOnceActivated) {
                await().atMost(Duration.ofSeconds(30)).until(() -> sim.domain("demo") != null);
            }
            boolean before = sim.domain("demo") == null;
            OutputBuffer b = sim.attach(nic);
            events.add("attach " + nic.hostDevice() + (before ? " before" : " after") + " activation");
            open.incrementAndGet();
            return new OutputBuffer() {
                private boolean closed;

                @Override
                public String interfaceName() {
                    return b.interfaceName();
                }

                @Override
                public void seal(long epoch) {
                    b.seal(epoch);
                }

                @Override
                public void release(long epoch) {
                    b.release(epoch);
                }

                @Override
                public void discard() {
                    b.discard();
                }

                @Override
                public void passThrough() {
                    b.passThrough();
                }

                @Override
                public void resumeBuffering() {
                    b.resumeBuffering();
                }

                @Override
                public OutputBufferStats stats() {
                    return b.stats();
                }

                @Override
                public void detach() {
                    b.detach();
                }

                @Override
                public synchronized void close() {
                    CountDownLatch gate = closeGate;
                    if (gate != null) {
                        try {
                            gate.await(30, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                    if (!closed) {
                        closed = true;
                        events.add("close " + nic.hostDevice());
                        open.decrementAndGet();
                    }
                    b.close();
                }
            };
        }
    }

    /** As {@link #nodes()}, with sim:demo's disk vda replicated in-stream; its guest writes it while it runs on A. */
    private void nodesWithDisk() {
        forward.reverse = backward;
        backward.reverse = forward;
        a = EngineForkTest.node("node-a", withDisk(backward.backup(forward.primary(simA)), false), simA, linkA);
        b = EngineForkTest.node("node-b", withDisk(forward.backup(simB), true), simB, linkB);
        a.addDiskReplicator(disks, MemoryDiskReplicator.KIND, 0);
        b.addDiskReplicator(disks, MemoryDiskReplicator.KIND, 0);
        writers.add(disks.startWriter(vda, new AtomicLong()));
    }

    /**
     * A binding whose domains have the disk vda (opened) or the disks they were activated with, and whose guest
     * writes nothing while its domain is paused or stopped; on node B ({@code b}) activation fails while
     * {@link #failActivation} is set.
     */
    private Hypervisor withDisk(Hypervisor h, boolean nodeB) {
        return new ForwardingHypervisor(h) {
            @Override
            public ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
                return new DiskDomain(super.open(id, options), List.of(vda), nodeB);
            }

            @Override
            public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
                return new DiskReplica(super.createReplica(spec), nodeB);
            }
        };
    }

    /** A domain with disks: pausing or stopping it stops its guest's writes. */
    private final class DiskDomain extends ForwardingDomain {

        private final List<GuestDisk> attached;
        private final boolean nodeB;

        DiskDomain(ProtectedDomain d, List<GuestDisk> attached, boolean nodeB) {
            super(d);
            this.attached = attached;
            this.nodeB = nodeB;
        }

        @Override
        public List<GuestDisk> disks() {
            return attached;
        }

        @Override
        public void pause() throws HypervisorException {
            super.pause();
            running(false);
        }

        @Override
        public void resume() throws HypervisorException {
            running(true);
            super.resume();
        }

        @Override
        public Replica stopAsReplica(ReplicaSpec spec, long epoch) throws HypervisorException {
            running(false);
            return new DiskReplica(super.stopAsReplica(spec, epoch), nodeB);
        }

        void running(boolean runs) {
            for (GuestDisk g : attached) {
                MemoryDiskReplicator.PrimaryDisk p = disks.disk(g);
                if (p != null) {
                    p.running(runs);
                }
            }
        }
    }

    /** A replica activated with its disks (the sim attaches none: the disk domain reports them). */
    private final class DiskReplica extends ForwardingReplica {

        private final boolean nodeB;

        DiskReplica(Replica r, boolean nodeB) {
            super(r);
            this.nodeB = nodeB;
        }

        @Override
        public ProtectedDomain activate(List<GuestDisk> attached) throws HypervisorException {
            refuse();
            DiskDomain d = new DiskDomain(super.activate(), attached, nodeB);
            activatedWith.put(nodeB ? "node-b" : "node-a", attached);
            d.running(true);
            return d;
        }

        @Override
        public ProtectedDomain activatePaused(List<GuestDisk> attached) throws HypervisorException {
            refuse();
            activatedWith.put(nodeB ? "node-b" : "node-a", attached);
            return new DiskDomain(super.activatePaused(List.of()), attached, nodeB);
        }

        private void refuse() throws HypervisorException {
            if (nodeB && failActivation) {
                throw new HypervisorException("the binding failed to start the domain (test)");
            }
        }
    }

    /** The guest goes on writing its disk where it runs now (a disk activated on that node). */
    private void guestWritesOn(GuestDisk disk) {
        writers.add(disks.startWriter(disk, new AtomicLong()));
    }

    @AfterEach
    void stop() throws InterruptedException {
        for (Thread w : writers) {
            w.interrupt();
            w.join(1000);
        }
        if (a != null) {
            a.shutdown();
            b.shutdown();
        }
        simA.deactivate();
        simB.deactivate();
    }

    private static ProtectionStatus row(Engine engine, Role role) {
        return EngineForkTest.row(engine, DEMO, role);
    }

    private static boolean protectedPair(Engine primary, Engine backup, long backupEpoch) {
        return EngineForkTest.protectedPair(primary, backup, DEMO, backupEpoch);
    }

    private static boolean raised(Engine engine, Alarm.Kind kind, String text) {
        return engine.alarms(100).stream().anyMatch(al -> al.kind() == kind && al.message().contains(text));
    }

    /** The checkpoint a switchover's answer says it handed the domain over at. */
    private static long checkpointOf(String done) {
        Matcher m = AT.matcher(done);
        assertTrue(m.find(), done);
        return Long.parseLong(m.group(1));
    }

    /** A protects sim:demo towards B until B committed {@code epochs}; returns when output was first held. */
    private long protectOnA(long epochs) throws Exception {
        a.protect(new ProtectRequest(DEMO, ADDRESS_B, 10, WORKLOAD));
        long from = System.nanoTime(); // output before this was never held
        await().atMost(Duration.ofSeconds(60)).until(() -> protectedPair(a, b, epochs));
        return from;
    }

    @Test
    void theDomainMovesToTheBackupAndTheOldPrimaryResumesAsItsBackupWithoutAFullCopy() throws Exception {
        nodes();
        long from = protectOnA(20);
        long asked = System.nanoTime();

        String done = a.switchover(DEMO);
        long n = checkpointOf(done);
        assertTrue(done.contains("without a full copy"), done);

        // B runs the domain from checkpoint n and A, which stopped its copy, resumes as its backup: the epochs go on
        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, n + 10));
        assertNull(simA.domain("demo"), "the old primary's copy is stopped for good (I5)");
        assertNotNull(simB.domain("demo"), "the domain runs on the new primary");
        assertNull(row(a, Role.PRIMARY));
        assertNull(row(b, Role.BACKUP));
        assertTrue(row(b, Role.PRIMARY).epoch() > n, "the new primary's checkpoints continue the old numbering");
        assertEquals(0, backward.replicas.get(), "no full copy back: A's binding built no new replica");
        assertEquals(1, linkB.connects.get(), "one stream back, resumed at once");
        assertEquals(0, linkB.aborted.get(), "the stream back, opened beside the activation, is the one in use");
        assertEquals(List.of("prepare " + n), forward.preparations,
                "B's binding prepared the activation at \"prepare\", and it was not taken back");
        assertTrue(raised(b, Alarm.Kind.SWITCHOVER, "at checkpoint " + n));
        // the attach started at "prepare" runs beside the activation and may end after the binding activated the
        // domain paused; it ends before the domain runs (I1), which is what counts, not the paused activation
        assertEquals(List.of("attach demo/net0", "run demo"), outputsB.events.stream()
                .map(e -> e.replaceFirst(" (before|after) activation$", "")).toList(),
                "B held the output of the interface it runs the domain with before the domain ran, in one buffer: "
                        + "no second attach, none closed");
        assertEquals(1, b.outputs().size(), "the new primary's output buffer");

        // I2 both ways
        assertEquals(List.of(), forward.mismatches);
        assertEquals(List.of(), backward.mismatches);
        assertTrue(backward.checked.get() >= 10, "A checked the new primary's checkpoints");
        // I1 both ways: on A up to the switchover, on B all along
        Oracle.assertOutputCommit(simA.wire().packets(), linkA.ackNanos, from, asked);
        Oracle.assertOutputCommit(simB.wire().packets(), linkB.ackNanos, 0, System.nanoTime());
        // what A released from checkpoint n's ACK on (the hand-over) was produced before the final pause; output of
        // earlier checkpoints whose ACKs came between the request and the final pause left as usual (I1 above)
        long ackN = linkA.ackNanos.get(n);
        for (SimWire.Packet p : simA.wire().packets()) {
            if (p.releasedNanos() >= ackN) {
                assertTrue(p.sealedEpoch() <= n + 1, p.toString());
            }
        }
        // a client sees no gap and no repeat: B's first packet follows A's last
        List<SimWire.Packet> before = simA.wire().packets();
        List<SimWire.Packet> after = simB.wire().packets();
        Oracle.assertInOrder(before);
        Oracle.assertInOrder(after);
        assertTrue(!after.isEmpty(), "the new primary released output");
        assertEquals(before.get(before.size() - 1).seq() + 1, after.get(0).seq(),
                "the sequence continues across the switchover");
    }

    @Test
    void anOutputBufferAttachedAtPrepareThatEndsAfterThePausedActivationIsAttachedBeforeTheDomainRuns()
            throws Exception {
        nodes();
        protectOnA(20);
        // the attach started at "prepare" ends only after "go" activated the domain paused, as on a busy host
        outputsB.attachOnceActivated = true;

        String done = a.switchover(DEMO);
        long n = checkpointOf(done);
        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, n + 5));
        assertEquals(List.of("attach demo/net0 after activation", "run demo"), outputsB.events,
                "the domain ran only once the buffer attached for it at \"prepare\" was, and in that buffer");
        Oracle.assertOutputCommit(simB.wire().packets(), linkB.ackNanos, 0, System.nanoTime());
    }

    @Test
    void theFinalCheckpointIsTakenAtTheRequestNotWhenTheEpochUnderWayEnds() throws Exception {
        nodes();
        protectOnA(20);
        a.setInterval(DEMO, 8000);
        // the epoch under way ends at the old pace; the next one is to run 8 s
        long committed = row(b, Role.BACKUP).epoch();
        await().atMost(Duration.ofSeconds(10)).until(() -> row(b, Role.BACKUP).epoch() > committed);
        Thread.sleep(200);
        long asked = System.nanoTime();

        String done = a.switchover(DEMO);

        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - asked);
        assertTrue(done.contains("handed over"), done);
        assertTrue(tookMs < 4000, "the switchover took its final checkpoint when asked, not at the end of the 8 s "
                + "epoch under way: it took " + tookMs + " ms; " + done);
        await().atMost(Duration.ofSeconds(30)).until(() -> row(b, Role.PRIMARY) != null);
    }

    @Test
    void aStreamFromTheNodeThatRunsTheDomainToItselfIsRefusedWithoutFencingIt() throws Exception {
        linkA.unlisted = true; // B cannot protect the domain back: it stays activated, unprotected, on B
        nodes();
        protectOnA(20);
        b.failover(DEMO);
        await().atMost(Duration.ofSeconds(30)).until(() -> simB.domain("demo") != null
                && !simB.domain("demo").isPaused());

        // B's own HELLO for the domain it runs (a peer address pointing back at B, or a second node named node-b):
        // answering "taken over" would make B fence its own domain
        Hello own = new Hello("node-b", DEMO.toString(), "sim", 4L << 20, 4096, Map.of());
        CheckpointException refused = assertThrows(CheckpointException.class, () -> linkB.acceptor().accept(own));
        assertFalse(refused instanceof DomainTakenOverException, "B would fence its own domain: " + refused);
        assertTrue(refused.getMessage().contains("comes from this node itself (node-b)"), refused.getMessage());
        assertNotNull(simB.domain("demo"), "the domain still runs on B");
    }

    @Test
    void aDomainWithAReplicatedDiskSwitchesOverAndBackWithoutCopyingTheDisk() throws Exception {
        nodesWithDisk();
        protectOnA(20);

        String there = a.switchover(DEMO);
        Matcher m = AT.matcher(there);
        assertTrue(m.find(), there);
        long n = Long.parseLong(m.group(1));
        assertTrue(there.contains("without a full copy"), there);
        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, n + 10));
        GuestDisk onB = new GuestDisk("vda", MemoryDiskReplicator.KIND, "mem-replica:/vda", 1 << 20);
        assertEquals(List.of(onB), activatedWith.get("node-b"), "B runs it on its copy");
        assertEquals(1, disks.kept.size(), "A kept its own disk as the backup's copy");
        assertEquals(1, disks.resumes.get(), "B's disk resumed without a copy");
        guestWritesOn(onB);
        long later = row(a, Role.BACKUP).epoch() + 20;
        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, later));
        MemoryDiskReplicator.BackupDisk keptOnA = disks.kept.get(0);
        assertTrue(keptOnA.committed.size() >= 20, "A's disk commits B's checkpoints: " + keptOnA.committed);
        assertEquals(n + 1, keptOnA.committed.get(0), "from the checkpoint after the hand-over on");

        String back = b.switchover(DEMO);
        Matcher mb = AT.matcher(back);
        assertTrue(mb.find(), back);
        long nb = Long.parseLong(mb.group(1));
        assertTrue(nb > n, back);
        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(a, b, nb + 10));
        assertTrue(keptOnA.activated, "A runs the domain on its own disk again");
        assertEquals(List.of(vda), activatedWith.get("node-a"), "A runs it on its own disk");
        assertEquals(2, disks.kept.size(), "B kept its copy as the backup's");
        assertEquals(2, disks.resumes.get());
        // the old primary hands its disk over before the new primary activates its own (DRBD: demote, then promote)
        assertEquals(List.of("handOver " + n, "activate", "handOver " + nb, "activate"), disks.events);
        long last = row(b, Role.BACKUP).epoch() + 10;
        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(a, b, last));

        // no copy of the disk in either direction: the one initial copy is the first protection's
        assertEquals(1, disks.initialCopies.get(), "the disk was copied once, at the first protection");
        assertEquals(1, disks.backups.size(), "no backup side other than the first one and the kept disks");
        assertEquals(0, backward.replicas.get(), "no full copy of the memory back to A");
        // I2 for the disk at every committed checkpoint, on both sides, and for the memory both ways
        assertEquals(List.of(), disks.mismatches);
        assertTrue(disks.kept.get(1).committed.size() >= 10, "B's copy committed A's checkpoints again");
        assertEquals(List.of(), forward.mismatches);
        assertEquals(List.of(), backward.mismatches);
    }

    @Test
    void anAbortedSwitchoverLeavesTheDiskProtectedWhereItWas() throws Exception {
        nodesWithDisk();
        long from = protectOnA(20);
        linkA.dropAcks = true;

        Exception e = assertThrows(IllegalStateException.class, () -> a.switchover(DEMO));
        assertTrue(e.getMessage().contains("did not acknowledge the final checkpoint"), e.getMessage());
        linkA.dropAcks = false;
        assertStillProtectedOnA(from);
        MemoryDiskReplicator.BackupDisk onB = disks.backups.get(0);
        long now = onB.committed.size();
        await().atMost(Duration.ofSeconds(30)).until(() -> onB.committed.size() >= now + 10);
        assertEquals(List.of(), disks.kept, "nothing was handed over");
        assertEquals(1, disks.initialCopies.get(), "the disk's replica on B goes on, not copied again");
        assertEquals(1, disks.backups.size());
        assertEquals(List.of(), disks.mismatches);
    }

    @Test
    void whenTheBackupFailsToActivateAfterGoTheOldPrimaryKeepsTheCheckpointAndTheAlarmSaysToFailOverThere()
            throws Exception {
        nodesWithDisk();
        protectOnA(20);
        failActivation = true;

        String done = a.switchover(DEMO);
        long n = checkpointOf(done);
        await().atMost(Duration.ofSeconds(10)).until(() -> raised(b, Alarm.Kind.FAILED, "failed after its old "
                + "primary stopped"));
        assertTrue(raised(b, Alarm.Kind.FAILED, "the old primary keeps a replica of checkpoint " + n + ": run "
                + "romulus:failover sim:demo there"), b.alarms(10).toString());
        // the domain is down: neither node runs it
        assertNull(simA.domain("demo"));
        assertNull(simB.domain("demo"));
        ProtectionStatus kept = row(a, Role.BACKUP);
        assertNotNull(kept, "A keeps a replica");
        assertEquals(n, kept.epoch());
        assertEquals(1, disks.kept.size(), "with its disk at the same checkpoint");
        assertEquals(disks.pauseDigests.get("vda").get(n), disks.kept.get(0).digest(),
                "A's disk is as it was at the pause of checkpoint " + n);

        // as the alarm says: A runs it again from checkpoint n, memory and disk
        assertEquals(ProtectionState.ACTIVATED, a.failover(DEMO).state());
        assertNotNull(simA.domain("demo"));
        assertTrue(disks.kept.get(0).activated);
        assertEquals(List.of(vda), activatedWith.get("node-a"), "A runs it on its own disk");
        assertEquals(List.of(), disks.mismatches);
        assertEquals(List.of(), forward.mismatches);
    }

    @Test
    void theWitnesssLeaseMovesWithTheDomain() throws Exception {
        FakeWitness witness = new FakeWitness();
        nodes();
        a.setWitness(witness.viewOf("node-a"));
        b.setWitness(witness.viewOf("node-b"));
        protectOnA(20);
        assertEquals("node-a", witness.holder(DEMO.toString()).orElse(null), "the primary holds the lease");

        a.switchover(DEMO);

        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, 30));
        assertEquals("node-b", witness.holder(DEMO.toString()).orElse(null), "the lease went with the domain");
        assertEquals(0, backward.replicas.get(), "no full copy back");
    }

    @Test
    void withoutTheFinalAckTheSwitchoverAbortsAndTheDomainStaysProtectedWhereItWas() throws Exception {
        nodes();
        long from = protectOnA(20);
        linkA.dropAcks = true;

        Exception e = assertThrows(IllegalStateException.class, () -> a.switchover(DEMO));
        assertTrue(e.getMessage().contains("did not acknowledge the final checkpoint"), e.getMessage());
        assertTrue(raised(a, Alarm.Kind.SWITCHOVER, "aborted"));
        linkA.dropAcks = false;
        assertStillProtectedOnA(from);
    }

    @Test
    void aBackupThatCannotTakeTheDomainRefusesAndTheSwitchoverAborts() throws Exception {
        linkA.unlisted = true; // B would not know where to protect the domain back to
        nodes();
        long from = protectOnA(20);

        Exception e = assertThrows(IllegalStateException.class, () -> a.switchover(DEMO));
        assertTrue(e.getMessage().contains("cannot take the domain over")
                && e.getMessage().contains("did not say where its stream listens"), e.getMessage());
        assertTrue(raised(a, Alarm.Kind.SWITCHOVER, "aborted"));
        assertStillProtectedOnA(from);
    }

    @Test
    void whatTheDomainSendsJustBeforeItsFinalPauseLeavesWithCheckpointNAndAnAbortKeepsI1() throws Exception {
        linkA.unlisted = true; // B refuses: the switchover aborts after A let N's output go
        forward.reverse = backward;
        // A's domain takes 30 ms to stop: it sends on meanwhile, as a busy guest does between the seal and the pause
        Hypervisor slow = new ForwardingHypervisor(backward.backup(forward.primary(simA))) {
            @Override
            public ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
                return new ForwardingDomain(super.open(id, options)) {
                    @Override
                    public void pause() throws HypervisorException {
                        if (slowPause) {
                            try {
                                Thread.sleep(30);
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                            }
                        }
                        super.pause();
                    }
                };
            }
        };
        a = EngineForkTest.node("node-a", slow, simA, linkA);
        b = EngineForkTest.node("node-b", forward.backup(simB), simB, linkB);
        long from = protectOnA(20);
        slowPause = true;
        try {
            assertThrows(IllegalStateException.class, () -> a.switchover(DEMO));
        } finally {
            slowPause = false;
        }
        // every packet that left while protected was sealed into an epoch and left after its ACK: what the domain
        // sent before the final pause was N's, not passed unbuffered
        assertStillProtectedOnA(from);
    }

    @Test
    void aLinkThatDropsMidWayAbortsTheSwitchover() throws Exception {
        nodes();
        long from = protectOnA(20);
        linkA.cutBefore = r -> r.type().equals("prepare");

        Exception e = assertThrows(IllegalStateException.class, () -> a.switchover(DEMO));
        assertTrue(e.getMessage().contains("link to the backup dropped"), e.getMessage());
        linkA.cutBefore = r -> false;
        assertStillProtectedOnA(from);
    }

    @Test
    void anAbortAfterTheBackupPreparedTakesThePreparationBackAndTheAddressesComeBack() throws Exception {
        nodes();
        long from = protectOnA(20);
        linkA.dropHandOverAnswers = true; // B prepares, but its "ready" is lost

        Exception e = assertThrows(IllegalStateException.class, () -> a.switchover(DEMO));
        assertTrue(e.getMessage().contains("did not answer the hand-over"), e.getMessage());
        linkA.dropHandOverAnswers = false;
        assertTrue(raised(a, Alarm.Kind.SWITCHOVER, "aborted"));
        assertStillProtectedOnA(from);
        // B's binding prepared the activation, and took it back before the next checkpoint was applied
        assertEquals("unprepare", forward.preparations.get(1), forward.preparations.toString());
        assertTrue(forward.preparations.get(0).startsWith("prepare "), forward.preparations.toString());
        assertEquals(2, forward.preparations.size(), forward.preparations.toString());
        // the addresses B may have moved at "prepare" are announced from A again
        assertEquals(1, forward.announces.get());
        // the output buffer B attached at "prepare" was detached again: nothing stays attached there
        await().atMost(Duration.ofSeconds(10)).until(() -> outputsB.open.get() == 0);
        assertEquals(List.of("attach demo/net0 before activation", "close demo/net0"), outputsB.events);
    }

    @Test
    void theStreamBackOpensAtPrepareAndAttachesOnlyOnceTheOldPrimaryStoppedItsCopy() throws Exception {
        nodes();
        protectOnA(20);
        AtomicBoolean openedWhileARan = new AtomicBoolean();
        AtomicBoolean attachedWhileARan = new AtomicBoolean(
                true);
        forward.stopDelayMs = 200; // A's copy takes a while to stop after "ready"
        linkB.connecting = () -> openedWhileARan.set(simA.domain("demo") != null);
        linkB.accepted = () -> attachedWhileARan.set(simA.domain("demo") != null);
        CountDownLatch closing = new CountDownLatch(1);
        outputsA.closeGate = closing; // after "go", A's closing of its (empty) output buffers takes a while

        CompletableFuture<String> answer = CompletableFuture.supplyAsync(() -> {
            try {
                return a.switchover(DEMO);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        try {
            // the stream back is up while A still ends its part of the hand-over: it does not wait for that
            await().atMost(Duration.ofSeconds(10)).until(() -> linkB.connects.get() == 1);
        } finally {
            closing.countDown();
        }
        String done = answer.get(30, TimeUnit.SECONDS);
        Matcher m = AT.matcher(done);
        assertTrue(m.find(), done);
        long n = Long.parseLong(m.group(1));
        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, n + 10));
        // B opened its stream back at "prepare", while A still had its (paused) copy; A answered it only once it had
        // stopped that copy and kept it as B's replica, and B's protection took that stream: one connection, resumed
        assertTrue(openedWhileARan.get(), "B opened the stream back at \"prepare\"");
        assertFalse(attachedWhileARan.get(), "A answered it only once its copy had stopped (I5)");
        assertEquals(1, linkB.answersHeld.get(), "A held its answer without a thread waiting for the switchover");
        assertEquals(1, linkB.connects.get());
        assertEquals(0, linkB.turnedAway.get());
        assertEquals(0, backward.replicas.get(), "no full copy back");
        assertEquals(List.of(), backward.mismatches);
    }

    @Test
    void anAbortRefusesTheStreamBackOpenedAtPrepareAndAStaysThePrimary() throws Exception {
        nodes();
        long from = protectOnA(20);
        linkA.dropHandOverAnswers = true; // B prepares and opens its stream back, but its "ready" is lost

        Exception e = assertThrows(IllegalStateException.class, () -> a.switchover(DEMO));
        assertTrue(e.getMessage().contains("did not answer the hand-over"), e.getMessage());
        linkA.dropHandOverAnswers = false;
        // A held the stream back B opened at "prepare" and refused it when the switchover aborted: nothing of B
        // attached to A, which never became a backup
        await().atMost(Duration.ofSeconds(10)).until(() -> linkB.turnedAway.get() == 1);
        assertEquals(0, linkB.connects.get());
        assertNull(row(a, Role.BACKUP));
        assertStillProtectedOnA(from);
    }

    @Test
    void theBackupAnswersReadyOnceItsBindingMovedTheAddressesAndGoWaitsForTheRestOfThePreparation() throws Exception {
        nodes();
        long from = protectOnA(20);
        linkA.handOverAnswers = forward.readiness::add;
        CountDownLatch gate = new CountDownLatch(1);
        forward.prepareGate = gate; // B's binding moves the addresses, then loads the state once the test lets it

        CompletableFuture<String> done = switchoverOnA();
        try {
            // B answered "ready" once the addresses had moved, while its binding was still loading: A stopped its
            // copy and sent "go"
            String answer = done.get(30, TimeUnit.SECONDS);
            long n = checkpointOf(answer);
            assertEquals(List.of("moved " + n, "ready " + n), forward.readiness,
                    "\"ready\" followed the binding's word that the addresses moved");
            assertNull(simA.domain("demo"), "A stopped its copy on \"ready\"");
            assertNull(simB.domain("demo"), "\"go\" waits for B's preparation: the domain does not run yet");
            gate.countDown();
            await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, n + 10));
        } finally {
            gate.countDown();
        }
        assertEquals(1, forward.preparations.size(), "prepared once, never taken back: " + forward.preparations);
        assertEquals(0, backward.replicas.get(), "no full copy back");
        assertEquals(List.of(), forward.mismatches);
        assertEquals(List.of(), backward.mismatches);
        Oracle.assertOutputCommit(simA.wire().packets(), linkA.ackNanos, from, System.nanoTime());
        Oracle.assertOutputCommit(simB.wire().packets(), linkB.ackNanos, 0, System.nanoTime());
    }

    @Test
    void whileTheBindingHasNotMovedTheAddressesTheBackupDoesNotAnswerReadyAndTheOldCopyDoesNotStop()
            throws Exception {
        nodes();
        protectOnA(20);
        linkA.handOverAnswers = forward.readiness::add;
        CountDownLatch move = new CountDownLatch(1);
        forward.moveGate = move; // B's binding moves the addresses only once the test lets it

        CompletableFuture<String> done = switchoverOnA();
        long n;
        try {
            // B took "prepare" and its binding is preparing; the addresses have not moved
            await().atMost(Duration.ofSeconds(30)).until(() -> linkA.preparesTaken.get() == 1
                    && forward.preparations.size() == 1);
            assertEquals(List.of(), forward.readiness, "no \"ready\" before the addresses moved");
            assertNotNull(simA.domain("demo"), "A keeps its paused copy while B is not ready");
            assertFalse(done.isDone());
            move.countDown();
            n = checkpointOf(done.get(30, TimeUnit.SECONDS));
        } finally {
            move.countDown();
        }
        assertEquals(List.of("prepare " + n), forward.preparations);
        assertEquals(List.of("moved " + n, "ready " + n), forward.readiness);
        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, n + 10));
        assertEquals(0, backward.replicas.get(), "no full copy back");
        assertEquals(List.of(), forward.mismatches);
        assertEquals(List.of(), backward.mismatches);
    }

    @Test
    void whenTheAddressesDoNotMoveWithinTheSwitchoverTimeoutItAbortsAndTheDomainStaysProtectedWhereItWas()
            throws Exception {
        nodes();
        long from = protectOnA(20);
        linkA.handOverAnswers = forward.readiness::add;
        CountDownLatch move = new CountDownLatch(1);
        forward.moveGate = move; // B's binding does not move the addresses until after A gave up

        try {
            Exception e = assertThrows(IllegalStateException.class, () -> a.switchover(DEMO));
            assertTrue(e.getMessage().contains("did not answer the hand-over"), e.getMessage());
            assertTrue(raised(a, Alarm.Kind.SWITCHOVER, "aborted"));
            assertEquals(List.of(), forward.readiness, "B never said \"ready\" before A gave up");
        } finally {
            move.countDown();
        }
        // the late preparation ends; its "ready" comes after A resumed, and changes nothing there
        assertStillProtectedOnA(from);
        await().atMost(Duration.ofSeconds(10)).until(() -> forward.preparations.contains("unprepare"));
        assertEquals(2, forward.readiness.size(), forward.readiness.toString());
        assertTrue(forward.readiness.get(0).startsWith("moved ") && forward.readiness.get(1).startsWith("ready "),
                forward.readiness.toString());
        assertNull(row(a, Role.BACKUP));
        assertEquals(0, linkB.connects.get(), "the stream back B opened at \"prepare\" was refused");
    }

    /** A's switchover, asked on another thread. */
    private CompletableFuture<String> switchoverOnA() {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return a.switchover(DEMO);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    @Test
    void aPreparationThatFailsAfterReadyLeavesGoToActivateTheDomainFromScratch() throws Exception {
        nodes();
        long from = protectOnA(20);
        CountDownLatch gate = new CountDownLatch(1);
        forward.prepareGate = gate;
        forward.failPreparation = true; // B's standby fails to load the device state, after B answered "ready"

        CompletableFuture<String> done = CompletableFuture.supplyAsync(() -> {
            try {
                return a.switchover(DEMO);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        long n;
        try {
            String answer = done.get(30, TimeUnit.SECONDS);
            Matcher m = AT.matcher(answer);
            assertTrue(m.find(), answer);
            n = Long.parseLong(m.group(1));
        } finally {
            gate.countDown();
        }
        // A had stopped for good: "go" activates B's replica the way a failover does, and protection goes back to A
        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, n + 10));
        assertNull(simA.domain("demo"));
        assertNotNull(simB.domain("demo"));
        assertEquals(List.of(), outputsB.events.stream().filter(e -> e.endsWith("before activation")).toList(),
                "nothing was prepared, so no output buffer was attached ahead");
        assertEquals(List.of(), forward.mismatches);
        assertEquals(List.of(), backward.mismatches);
        Oracle.assertOutputCommit(simA.wire().packets(), linkA.ackNanos, from, System.nanoTime());
        Oracle.assertOutputCommit(simB.wire().packets(), linkB.ackNanos, 0, System.nanoTime());
    }

    @Test
    void theNewPrimarysFirstCheckpointDoesNotWaitForItsAnnouncement() throws Exception {
        nodes();
        protectOnA(20);
        java.util.concurrent.CountDownLatch announced = new java.util.concurrent.CountDownLatch(1);
        backward.announceGate = announced; // B's announcement of the domain it runs now takes as long as the test says

        String done = a.switchover(DEMO);
        long n = checkpointOf(done);
        try {
            // B checkpoints, A acknowledges, output leaves, while B's announcement is still under way
            await().atMost(Duration.ofSeconds(20)).until(() -> protectedPair(b, a, n + 5));
            assertEquals(1, backward.announces.get(), "B announces the domain it runs");
        } finally {
            announced.countDown();
        }
        assertEquals(List.of(), backward.mismatches);
        Oracle.assertOutputCommit(simB.wire().packets(), linkB.ackNanos, 0, System.nanoTime());
    }

    @Test
    void whenGoNeverArrivesTheFailoverOnTheBackupTakesTheOutputBuffersAttachedAtPrepare() throws Exception {
        nodes();
        long from = protectOnA(20);
        linkA.cutBefore = r -> r.type().equals("go"); // A stops its copy, and its "go" is lost with the link

        String done = a.switchover(DEMO);
        long n = checkpointOf(done);
        await().atMost(Duration.ofSeconds(10)).until(() -> outputsB.events.size() == 1);
        assertNull(simB.domain("demo"), "B did not run the domain without \"go\"");

        // as the old primary's alarm says when "go" cannot be sent: the failover on B runs it from checkpoint n, and
        // protects it back towards A
        b.update(b.settings().withReprotect(true));
        assertEquals(ProtectionState.ACTIVATED, b.failover(DEMO).state());
        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, n + 10));
        assertEquals(List.of("attach demo/net0 before activation"), outputsB.events,
                "the protection after the failover holds the output with the buffer attached at \"prepare\"");
        assertEquals(1, outputsB.open.get());
        assertEquals(List.of(), forward.mismatches);
        Oracle.assertOutputCommit(simA.wire().packets(), linkA.ackNanos, from, System.nanoTime());
    }

    @Test
    void aTakeOverThatFailsClosesTheStreamOpenedBesideIt() throws Exception {
        nodes();
        protectOnA(20);
        forward.failActivation = true;

        String done = a.switchover(DEMO);
        long n = checkpointOf(done);

        // past "go" A stopped its copy; B could not run the domain, says so, and closes the stream it opened back
        await().atMost(Duration.ofSeconds(30)).until(() -> raised(b, Alarm.Kind.FAILED, "romulus:failover"));
        await().atMost(Duration.ofSeconds(10)).until(() -> linkB.aborted.get() == 1);
        assertEquals(1, linkB.connects.get(), "the stream back was opened beside the activation");
        // the output buffer attached at "prepare" for the domain that did not start is detached again
        await().atMost(Duration.ofSeconds(10)).until(() -> outputsB.open.get() == 0);
        assertEquals(List.of("attach demo/net0 before activation", "close demo/net0"), outputsB.events);
        assertNull(simA.domain("demo"), "A's copy stopped for good (I5)");
        assertNull(simB.domain("demo"), "B did not run the domain");
        assertNull(row(b, Role.PRIMARY));
        ProtectionStatus kept = row(a, Role.BACKUP);
        assertEquals(n, kept.epoch(), "A keeps its replica of checkpoint " + n + " for romulus:failover there");
        assertTrue(kept.state() != ProtectionState.PROTECTED, kept.toString());
        assertEquals(List.of(), backward.mismatches);
    }

    @Test
    void theOldPrimaryDoesNotConvictTheNewOneWhileItActivatesTheDomain() throws Exception {
        forward.reverse = backward;
        FakeDetector detectorA = new FakeDetector("node-a");
        a = automatic("node-a", backward.backup(forward.primary(simA)), simA, linkA);
        b = automatic("node-b", forward.backup(simB), simB, linkB);
        a.setDetector(detectorA);
        b.setDetector(new FakeDetector("node-b"));
        protectOnA(20);
        forward.activationDelayMs = 1500; // B takes its time to run the domain, and sends no heartbeat meanwhile

        String done = a.switchover(DEMO);
        long n = checkpointOf(done);
        // A accepts B's stream, opened at "prepare", but does not watch B, which is silent, until B committed a
        // checkpoint, which it sends only once it runs the domain: no suspicion of A's detector can convict B
        await().atMost(Duration.ofSeconds(10)).until(() -> row(a, Role.BACKUP) != null
                && row(a, Role.BACKUP).detail().contains("stream resumed"));
        assertFalse(detectorA.watches("node-b"), "A watches B only once B committed a checkpoint");
        detectorA.suspect("node-b");

        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, n + 10));
        assertTrue(detectorA.watches("node-b"), "A watches B once B committed a checkpoint");
        assertNull(simA.domain("demo"), "A did not run the domain while B took it over (I5)");
        assertNotNull(simB.domain("demo"));
        assertEquals(0, backward.replicas.get(), "no full copy back");
    }

    /** A node that fails over by itself once its detector convicts the primary. */
    private static Engine automatic(String name, io.romulus.api.hypervisor.Hypervisor binding, SimHypervisor sim,
            LoopbackTransport link) {
        Engine e = new Engine(EngineSettings.defaults(name).withFailoverMode(EngineSettings.FailoverMode.AUTOMATIC)
                .withPeerHeartbeatPort(7490));
        e.addHypervisor(binding);
        e.addOutputBufferProvider(sim, 0);
        e.setTransport(link);
        return e;
    }

    @Test
    void onTheBackupItAsksThePrimaryOverTheStream() throws Exception {
        nodes();
        protectOnA(20);

        String done = b.switchover(DEMO);
        assertTrue(done.contains("handed over to this node by node-a"), done);
        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, 30));
        assertNull(simA.domain("demo"));
        assertEquals(0, backward.replicas.get(), "no full copy back");
        assertEquals(List.of(), forward.mismatches);
        assertEquals(List.of(), backward.mismatches);
    }

    @Test
    void onABackupWithoutAStreamItSaysWhereToRunIt() throws Exception {
        nodes();
        protectOnA(5);
        linkA.refuse = true;
        linkA.cut();
        await().atMost(Duration.ofSeconds(10)).until(() -> row(b, Role.BACKUP).state() != ProtectionState.PROTECTED);
        Exception e = assertThrows(IllegalStateException.class, () -> b.switchover(DEMO));
        assertTrue(e.getMessage().contains("run romulus:switchover on the primary node-a"), e.getMessage());
        linkA.refuse = false;
    }

    @Test
    void theFramesThatReachedTheOldCopyWhilePausedArriveAtTheNewPrimaryInOrderOnceAndAnAbortDropsThem()
            throws Exception {
        forward.reverse = backward;
        AtomicInteger keeps = new AtomicInteger();
        AtomicInteger deliveredOnA = new AtomicInteger();
        List<List<InboundFrame>> deliveredOnB = new CopyOnWriteArrayList<>();
        // A's domain keeps what it is sent while asked to: three frames, numbered by the request
        Hypervisor keeping = new ForwardingHypervisor(backward.backup(forward.primary(simA))) {
            @Override
            public ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
                return new ForwardingDomain(super.open(id, options)) {
                    private int keptFor;

                    @Override
                    public void keepInbound() {
                        keptFor = keeps.incrementAndGet();
                    }

                    @Override
                    public List<InboundFrame> takeInbound() {
                        int k = keptFor;
                        keptFor = 0;
                        return k == 0 ? List.of() : framesOfSwitchover(k);
                    }

                    @Override
                    public int deliverInbound(List<InboundFrame> frames) {
                        deliveredOnA.addAndGet(frames.size());
                        return frames.size();
                    }
                };
            }
        };
        // B's activated domain records what it is given
        Hypervisor delivering = new ForwardingHypervisor(forward.backup(simB)) {
            @Override
            public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
                return new ForwardingReplica(super.createReplica(spec)) {
                    @Override
                    public ProtectedDomain activatePaused(List<GuestDisk> attached) throws HypervisorException {
                        return recording(super.activatePaused(attached));
                    }

                    @Override
                    public ProtectedDomain activate(List<GuestDisk> attached) throws HypervisorException {
                        return recording(super.activate(attached));
                    }

                    private ProtectedDomain recording(ProtectedDomain d) {
                        return new ForwardingDomain(d) {
                            @Override
                            public int deliverInbound(List<InboundFrame> frames) {
                                deliveredOnB.add(List.copyOf(frames));
                                return frames.size();
                            }
                        };
                    }
                };
            }
        };
        a = EngineForkTest.node("node-a", keeping, simA, linkA);
        b = EngineForkTest.node("node-b", delivering, simB, linkB);
        long from = protectOnA(20);

        // aborted after A kept frames (B's "ready" is lost): they are dropped, given to no domain
        linkA.dropHandOverAnswers = true;
        assertThrows(IllegalStateException.class, () -> a.switchover(DEMO));
        linkA.dropHandOverAnswers = false;
        assertEquals(1, keeps.get(), "A kept what reached its domain from its final pause on");
        assertStillProtectedOnA(from);

        String done = a.switchover(DEMO);

        assertTrue(done.contains("with 3 frames that reached this copy while paused"), done);
        Matcher m = AT.matcher(done);
        assertTrue(m.find(), done);
        long n = Long.parseLong(m.group(1));
        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(b, a, n + 5));
        assertEquals(2, keeps.get());
        assertEquals(1, deliveredOnB.size(), "given once, to the domain activated on B");
        List<InboundFrame> got = deliveredOnB.get(0);
        List<InboundFrame> sent = framesOfSwitchover(2);
        assertEquals(sent.size(), got.size(), "the frames of the switchover that happened, not the aborted one's");
        for (int i = 0; i < sent.size(); i++) {
            assertEquals(sent.get(i).nic(), got.get(i).nic());
            assertArrayEquals(sent.get(i).frame(), got.get(i).frame(), "frame " + i + ", in order");
        }
        assertEquals(0, deliveredOnA.get(), "the old copy is never given them");
        assertTrue(raised(b, Alarm.Kind.SWITCHOVER, "3 frames that reached the old copy delivered"));
        assertEquals(List.of(), forward.mismatches);
    }

    /** What A's domain keeps for its {@code k}th switchover: three frames, on NICs 0, 1 and 0. */
    private static List<InboundFrame> framesOfSwitchover(int k) {
        return List.of(new InboundFrame(0, ("switchover " + k + " frame 0").getBytes(StandardCharsets.UTF_8)),
                new InboundFrame(1, ("switchover " + k + " frame 1").getBytes(StandardCharsets.UTF_8)),
                new InboundFrame(0, ("switchover " + k + " frame 2").getBytes(StandardCharsets.UTF_8)));
    }

    /** The domain runs on A, protected by B again, and nothing left A unacknowledged (I1), B's replica intact (I2). */
    private void assertStillProtectedOnA(long from) {
        long now = row(b, Role.BACKUP).epoch();
        await().atMost(Duration.ofSeconds(30)).until(() -> protectedPair(a, b, now + 10));
        assertNotNull(simA.domain("demo"));
        // it pauses at every checkpoint: "runs again" is that it is seen running, not that it runs at one instant
        await("the domain runs again on the old primary").atMost(Duration.ofSeconds(5))
                .pollInterval(Duration.ofMillis(1)).until(() -> !simA.domain("demo").isPaused());
        assertNull(simB.domain("demo"), "the backup did not run it");
        assertNull(row(b, Role.PRIMARY));
        assertEquals(List.of(), forward.mismatches);
        Oracle.assertOutputCommit(simA.wire().packets(), linkA.ackNanos, from, System.nanoTime());
        Oracle.assertInOrder(simA.wire().packets());
    }
}
