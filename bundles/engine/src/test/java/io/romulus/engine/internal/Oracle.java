package io.romulus.engine.internal;

import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.sim.internal.SimDomain;
import io.romulus.sim.internal.SimReplica;
import io.romulus.sim.internal.SimWire;

/**
 * The tests' independent witness of I1 and I2, built only from the SPIs around the engine. On the primary it records,
 * in every pause, the CRC32C of the whole synthetic memory keyed by the device state captured in the same pause
 * (which holds the workload's write counter, so it names the state). On the backup, after every apply, it computes
 * the replica's CRC32C and compares it with the one recorded for the applied device state.
 *
 * <p>A node that is primary of one domain and backup of another wraps its binding in both witnesses, each of its own
 * oracle: {@code cloneOracle.backup(demoOracle.primary(sim))}.
 */
final class Oracle {

    final Map<String, Integer> primaryDigests = new ConcurrentHashMap<>();
    final List<Long> committed = new CopyOnWriteArrayList<>();
    final List<String> mismatches = new CopyOnWriteArrayList<>();
    final AtomicInteger checked = new AtomicInteger();
    /** What the engine asked the backup's replicas to prepare for a switchover, and take back, in order. */
    final List<String> preparations = new CopyOnWriteArrayList<>();
    /** Whether the backup's replicas say they prepared a switchover's activation when asked. */
    volatile boolean prepareActivations = true;
    /** How long the backup's replicas take to activate for a switchover. */
    volatile long activationDelayMs;
    /** How long the primary's domain takes to stop for a switchover (kept as a replica). */
    volatile long stopDelayMs;
    /**
     * While set and closed, a backup's replica preparing a switchover's activation waits for it (up to 30 s) once it
     * moved the guest's addresses, before it loads the device state.
     */
    volatile java.util.concurrent.CountDownLatch prepareGate;
    /**
     * While set and closed, a backup's replica preparing a switchover's activation waits for it (up to 30 s) before it
     * moves the guest's addresses: a late move.
     */
    volatile java.util.concurrent.CountDownLatch moveGate;
    /**
     * In order: when a backup's replica said the guest's addresses moved at "prepare" ({@code moved N}), and what the
     * backup answered to "prepare" ({@code ready N}, {@code refused N}; the test's transport records those here).
     */
    final List<String> readiness = new CopyOnWriteArrayList<>();
    /** The backup's replicas fail to prepare a switchover's activation (once they passed {@link #prepareGate}). */
    volatile boolean failPreparation;
    /** The backup's replicas fail to activate for a switchover. */
    volatile boolean failActivation;
    /** Announcements of the primary's domains. */
    final AtomicInteger announces = new AtomicInteger();
    /** While set and closed, an announcement of the primary's domains waits for it (up to 30 s). */
    volatile java.util.concurrent.CountDownLatch announceGate;
    /** Replicas the backup's binding built: one per stream that started with an initial copy. */
    final AtomicInteger replicas = new AtomicInteger();
    /** The replica's CRC32C after each apply, by committed epoch. */
    final Map<Long, Integer> replicaDigests = new ConcurrentHashMap<>();
    /** Where clones forked from the replicas this oracle checks record their pauses; null: they record nowhere. */
    volatile Oracle forks;
    /**
     * The oracle of the reverse stream after a switchover: the domain activated from a replica this oracle checks
     * records its pauses there, and the replica a primary this oracle records keeps is checked there.
     */
    volatile Oracle reverse;

    /** The primary's binding: domains it opens record their memory digest in every pause. */
    Hypervisor primary(Hypervisor sim) {
        return new ForwardingHypervisor(sim) {
            @Override
            public ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
                return new Recording((SimDomain) sim.open(id, options));
            }

            @Override
            public Optional<ProtectedDomain> adopt(DomainId id) throws HypervisorException {
                return sim.adopt(id).map(d -> new Recording((SimDomain) d));
            }
        };
    }

    /** The backup's binding: replicas it builds check their memory after every apply. */
    Hypervisor backup(Hypervisor sim) {
        return new ForwardingHypervisor(sim) {
            @Override
            public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
                replicas.incrementAndGet();
                return new Checking((SimReplica) sim.createReplica(spec));
            }

            @Override
            public Optional<Replica> adoptReplica(ReplicaSpec spec) throws HypervisorException {
                return sim.adoptReplica(spec).map(r -> new Checking((SimReplica) r));
            }
        };
    }

    /**
     * I1: every packet that left between {@code from} (protection started) and {@code before} (protection stopped)
     * was held for some epoch e and left after the backup acknowledged an epoch >= e.
     */
    static void assertOutputCommit(List<SimWire.Packet> packets, Map<Long, Long> ackNanos, long from, long before) {
        NavigableMap<Long, Long> earliestAckAtOrAfter = new TreeMap<>();
        long min = Long.MAX_VALUE;
        for (Map.Entry<Long, Long> e : new TreeMap<>(ackNanos).descendingMap().entrySet()) {
            min = Math.min(min, e.getValue());
            earliestAckAtOrAfter.put(e.getKey(), min);
        }
        for (SimWire.Packet p : packets) {
            if (p.releasedNanos() > before || p.releasedNanos() < from) {
                continue;
            }
            if (p.sealedEpoch() < 0) {
                throw new AssertionError("packet " + p.seq() + " left unbuffered while protected");
            }
            Map.Entry<Long, Long> ack = earliestAckAtOrAfter.ceilingEntry(p.sealedEpoch());
            if (ack == null || ack.getValue() > p.releasedNanos()) {
                throw new AssertionError("packet " + p.seq() + " of epoch " + p.sealedEpoch()
                        + " left before any ACK of that epoch or a later one");
            }
        }
    }

    /** Output order: sequence numbers leave in increasing order. */
    static void assertInOrder(List<SimWire.Packet> packets) {
        long last = -1;
        for (SimWire.Packet p : packets) {
            if (p.seq() <= last) {
                throw new AssertionError("packet " + p.seq() + " left after packet " + last);
            }
            last = p.seq();
        }
    }

    private final class Recording extends ForwardingDomain {

        final SimDomain sim;

        Recording(SimDomain d) {
            super(d);
            this.sim = d;
        }

        @Override
        public byte[] captureDeviceState() throws HypervisorException {
            if (!sim.isPaused()) {
                throw new AssertionError("device state captured while the domain runs");
            }
            byte[] state = sim.captureDeviceState();
            primaryDigests.put(HexFormat.of().formatHex(state), sim.memory().digest());
            return state;
        }

        @Override
        public void announce() throws HypervisorException {
            announces.incrementAndGet();
            java.util.concurrent.CountDownLatch gate = announceGate;
            if (gate != null) {
                try {
                    gate.await(30, java.util.concurrent.TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            sim.announce();
        }

        @Override
        public Replica stopAsReplica(ReplicaSpec spec, long epoch) throws HypervisorException {
            if (stopDelayMs > 0) {
                try {
                    Thread.sleep(stopDelayMs);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            Replica r = sim.stopAsReplica(spec, epoch);
            Oracle o = reverse;
            return o == null ? r : o.new Checking((SimReplica) r);
        }
    }

    private final class Checking extends ForwardingReplica {

        final SimReplica sim;

        Checking(SimReplica r) {
            super(r);
            this.sim = r;
        }

        @Override
        public void applyCommitted(CommittedEpoch epoch) throws HypervisorException {
            sim.applyCommitted(epoch);
            Integer expected = primaryDigests.get(HexFormat.of().formatHex(epoch.deviceState()));
            int actual = sim.memory().digest();
            checked.incrementAndGet();
            committed.add(epoch.epoch());
            replicaDigests.put(epoch.epoch(), actual);
            if ((expected == null || expected != actual) && mismatches.size() < 5) {
                mismatches.add("epoch " + epoch.epoch() + ": replica " + Integer.toHexString(actual) + ", primary "
                        + (expected == null ? "never paused in this state" : Integer.toHexString(expected)));
            }
        }

        @Override
        public boolean prepareActivation(java.util.List<io.romulus.api.hypervisor.GuestDisk> disks)
                throws HypervisorException {
            return prepareActivation(disks, () -> { });
        }

        /** As a QEMU standby: the addresses move ({@link #moveGate}), then the state loads ({@link #prepareGate}). */
        @Override
        public boolean prepareActivation(java.util.List<io.romulus.api.hypervisor.GuestDisk> disks,
                Runnable addressesMoved) throws HypervisorException {
            long epoch = sim.committedEpoch();
            preparations.add("prepare " + epoch);
            pass(moveGate);
            readiness.add("moved " + epoch);
            addressesMoved.run();
            pass(prepareGate);
            if (failPreparation) {
                throw new HypervisorException("loading the device state into the standby failed (test)");
            }
            return prepareActivations && sim.prepareActivation(disks);
        }

        /** Waits for {@code gate} (null: none) up to 30 s. */
        private void pass(java.util.concurrent.CountDownLatch gate) {
            if (gate != null) {
                try {
                    gate.await(30, java.util.concurrent.TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        @Override
        public void unprepare() {
            preparations.add("unprepare");
            sim.unprepare();
        }

        @Override
        public ProtectedDomain activate(java.util.List<io.romulus.api.hypervisor.GuestDisk> disks)
                throws HypervisorException {
            if (failActivation) {
                throw new HypervisorException("activation failed (test)");
            }
            return sim.activate(disks);
        }

        @Override
        public ProtectedDomain activatePaused(java.util.List<io.romulus.api.hypervisor.GuestDisk> disks)
                throws HypervisorException {
            if (failActivation) {
                throw new HypervisorException("activation failed (test)");
            }
            if (activationDelayMs > 0) {
                try {
                    Thread.sleep(activationDelayMs);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            ProtectedDomain d = sim.activatePaused(disks);
            Oracle o = reverse;
            return o == null ? d : o.new Recording((SimDomain) d);
        }

        @Override
        public ProtectedDomain fork(DomainId clone, Map<String, String> overrides) throws HypervisorException {
            ProtectedDomain d = sim.fork(clone, overrides);
            Oracle o = forks;
            return o == null ? d : o.new Recording((SimDomain) d);
        }
    }
}
