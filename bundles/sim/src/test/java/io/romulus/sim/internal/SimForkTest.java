package io.romulus.sim.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;

import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ReplicaSpec;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Scale-out from a replica: {@link SimReplica#fork} starts an independent domain at the committed epoch. */
class SimForkTest {

    private static final DomainId CLONE = DomainId.parse("sim:orig-2");

    private final SimHypervisor sim = new SimHypervisor();
    private SimDomain original;
    private SimReplica replica;
    private long writesCommitted;

    @BeforeEach
    void replicaAtEpochOne() throws Exception {
        original = (SimDomain) sim.open(DomainId.parse("sim:orig"), Map.of("memory", "1M", "dirty-rate", "20000",
                "packet-rate", "0"));
        await().atMost(Duration.ofSeconds(5)).until(() -> original.writeCount() > 500);
        replica = (SimReplica) sim.createReplica(new ReplicaSpec(original.id(), 1L << 20, SimMemory.PAGE_SIZE,
                original.options().toMap()));
        assertTrue(assertThrows(HypervisorException.class, () -> replica.fork(CLONE, Map.of())).getMessage()
                .contains("cannot start sim:orig-2 from the replica of sim:orig: no epoch was committed yet"));
        original.pause();
        commit(1);
        writesCommitted = original.writeCount();
        original.resume();
    }

    @AfterEach
    void stop() {
        sim.deactivate();
    }

    /** Copies the whole of the (paused) original into the replica as epoch {@code n}. */
    private void commit(long n) throws HypervisorException {
        long[] all = new long[(int) original.memory().pageCount()];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        ByteBuffer staging = ByteBuffer.allocateDirect(all.length * SimMemory.PAGE_SIZE);
        original.copyPages(all, 0, all.length, staging);
        replica.applyCommitted(new CommittedEpoch(n, all, all.length, staging.flip(),
                original.captureDeviceState()));
    }

    @Test
    void theCloneRunsFromTheCommittedEpochWithItsOwnMemoryAndOptions() throws Exception {
        int committedDigest = replica.memory().digest();
        SimDomain clone = (SimDomain) replica.fork(CLONE, Map.of("dirty-rate", "0", "packet-rate", "10"));

        assertEquals(CLONE, clone.id());
        assertEquals(-1, clone.memory().firstDifference(replica.memory()), "the clone's memory is the committed one");
        assertEquals(committedDigest, clone.digest());
        assertEquals(writesCommitted, clone.writeCount(), "its device state is the committed one");
        assertEquals(0, clone.options().dirtyRate(), "overridden");
        assertEquals(10, clone.options().packetRate(), "overridden");
        assertEquals(original.options().locality(), clone.options().locality(), "the replica's");
        assertTrue(clone.info().running());
        assertSame(clone, sim.domain(CLONE.name()), "a domain of the binding");
        assertSame(clone, sim.open(CLONE, Map.of()), "which an engine takes hold of to protect it");

        // independent both ways
        long before = replica.memory().getLong(3, 0);
        clone.write(3, 0, before + 1);
        assertEquals(before, replica.memory().getLong(3, 0), "writing the clone leaves the replica as it was");
        original.pause();
        original.write(7, 0, 4242);
        commit(2);
        assertEquals(2, replica.committedEpoch(), "the replica goes on applying epochs");
        assertEquals(4242, replica.memory().getLong(7, 0));
        assertNotEquals(4242, clone.memory().getLong(7, 0), "applying to the replica leaves the clone as it was");
        assertEquals(before + 1, clone.memory().getLong(3, 0));

        clone.close();
        assertNull(sim.domain(CLONE.name()));
        SimDomain again = (SimDomain) replica.fork(CLONE, Map.of("dirty-rate", "0"));
        assertEquals(-1, again.memory().firstDifference(replica.memory()), "a clone of epoch 2");
    }

    @Test
    void aWorkloadOfItsOwnRunsInTheClone() throws Exception {
        SimDomain clone = (SimDomain) replica.fork(CLONE, Map.of("dirty-rate", "50000"));
        await().atMost(Duration.ofSeconds(5)).until(() -> clone.writeCount() > writesCommitted + 500);
        assertEquals(1, replica.committedEpoch());
    }

    @Test
    void refusals() throws Exception {
        replica.fork(CLONE, Map.of());
        assertEquals("sim:orig-2 already runs on this node", refusal(CLONE, Map.of()));
        String m = refusal(DomainId.parse("sim:other"), Map.of("colour", "red"));
        assertTrue(m.startsWith("cannot start sim:other from the replica of sim:orig: the sim binding has no option "
                + "'colour'; it accepts "), m);
        m = refusal(DomainId.parse("sim:other"), Map.of("dirty-rate", "-5"));
        assertTrue(m.contains("dirty-rate must be 0 to 10000000 pages/s, not -5"), m);
        m = refusal(DomainId.parse("sim:other"), Map.of("memory", "2M"));
        assertTrue(m.contains("with other memory"), m);
        m = refusal(DomainId.parse("sim:orig"), Map.of());
        assertTrue(m.contains("needs a name of its own"), m);
        m = refusal(DomainId.parse("qemu:other"), Map.of());
        assertTrue(m.contains("is a synthetic domain (sim:NAME), not qemu:other"), m);
        assertNull(sim.domain("other"), "nothing was started");
    }

    private String refusal(DomainId clone, Map<String, String> overrides) {
        return assertThrows(HypervisorException.class, () -> replica.fork(clone, overrides)).getMessage();
    }
}
