package io.romulus.sim.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.api.netbuf.OutputBuffer;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Hand-over across an engine update: detach and adopt of a synthetic domain, its replica and its output hold. */
class SimHandOverTest {

    private static final Map<String, String> QUIET = Map.of("memory", "1M", "dirty-rate", "0", "packet-rate", "0");

    private final SimHypervisor sim = new SimHypervisor();

    @AfterEach
    void stop() {
        sim.deactivate();
    }

    private SimDomain open(String name, Map<String, String> options) throws HypervisorException {
        return (SimDomain) sim.open(DomainId.parse("sim:" + name), options);
    }

    private SimDomain adopt(String name) throws HypervisorException {
        return (SimDomain) sim.adopt(DomainId.parse("sim:" + name)).orElseThrow();
    }

    @Test
    void anAdoptedDomainHarvestsEveryPageWrittenSinceTheDetachedHandlesLastHarvest() throws Exception {
        SimDomain first = open("handover", QUIET);
        first.startDirtyLog();
        first.write(1, 0, 1);
        assertArrayEquals(new long[] {1}, first.harvestDirty());
        first.write(3, 0, 2);
        first.detach();
        first.write(200, 8, 3); // the guest goes on writing while no engine holds it
        first.write(7, 0, 4);

        SimDomain second = adopt("handover");
        assertNotSame(first, second);
        assertSame(second, sim.domain("handover"));
        second.write(9, 0, 5);
        second.startDirtyLog(); // an adopted domain's log keeps what it holds
        assertArrayEquals(new long[] {3, 7, 9, 200}, second.harvestDirty());
        assertArrayEquals(new long[0], second.harvestDirty());
        assertEquals(5, second.writeCount());

        assertThrows(IllegalStateException.class, first::pause, "a detached handle no longer drives the domain");
        assertThrows(HypervisorException.class, first::harvestDirty);
        first.close();
        assertFalse(second.isStopped(), "closing a detached handle leaves the domain to its new handle");
        second.write(4, 0, 6);
        assertArrayEquals(new long[] {4}, second.harvestDirty());
    }

    @Test
    void theWorkloadRunsOnWhileNoEngineHoldsTheDomain() throws Exception {
        SimDomain first = open("busy", Map.of("memory", "4M", "dirty-rate", "20000", "packet-rate", "0"));
        first.startDirtyLog();
        first.pause();
        first.harvestDirty();
        long writes = first.writeCount();
        first.detach();
        assertFalse(first.isPaused(), "a detached domain runs");
        await().atMost(Duration.ofSeconds(5)).until(() -> first.writeCount() > writes + 200);

        SimDomain second = adopt("busy");
        second.pause();
        long[] dirty = second.harvestDirty();
        assertTrue(dirty.length > 10, "pages written while detached: " + dirty.length);
        assertEquals(second.memory(), first.memory(), "the same memory");
        second.resume();
    }

    @Test
    void onlyADetachedDomainWithItsDirtyLogRunningIsAdopted() throws Exception {
        DomainId id = DomainId.parse("sim:refuse");
        assertTrue(sim.adopt(id).isEmpty(), "nothing runs");
        SimDomain first = open("refuse", QUIET);
        first.startDirtyLog();
        assertThrows(HypervisorException.class, () -> sim.adopt(id), "held by a handle that was not detached");
        first.stopDirtyLog();
        first.detach();
        assertTrue(sim.adopt(id).isEmpty(), "its dirty log was stopped: only a full copy protects it again");

        ProtectedDomain reopened = sim.open(id, QUIET);
        assertNotSame(first, reopened);
        assertThrows(HypervisorException.class, () -> sim.open(id, QUIET));
        reopened.close();
        assertTrue(sim.adopt(id).isEmpty(), "closed: the synthetic domain is gone");
        assertThrows(IllegalArgumentException.class, () -> sim.adopt(DomainId.parse("xen:refuse")));
    }

    @Test
    void nothingOutlivesTheBindingItself() throws Exception {
        SimDomain d = open("update", QUIET);
        d.startDirtyLog();
        d.detach();
        sim.deactivate();
        assertTrue(d.isStopped(), "the old revision stops its domains");
        SimHypervisor next = new SimHypervisor();
        try {
            assertTrue(next.adopt(d.id()).isEmpty());
        } finally {
            next.deactivate();
        }
    }

    private static ReplicaSpec spec(String name) {
        return new ReplicaSpec(DomainId.parse("sim:" + name), 1 << 20, 4096, SimOptions.parse(QUIET).toMap());
    }

    private static CommittedEpoch epoch(long n, long pfn, byte fill) {
        ByteBuffer page = ByteBuffer.allocate(4096);
        while (page.hasRemaining()) {
            page.put(fill);
        }
        return new CommittedEpoch(n, new long[] {pfn}, 1, page.flip(), new byte[0]);
    }

    private static byte firstByte(Replica r, long pfn) throws HypervisorException {
        ByteBuffer b = ByteBuffer.allocate(4096);
        r.readPage(pfn, b);
        return b.get(0);
    }

    @Test
    void anAdoptedReplicaKeepsItsCommittedEpochAndContents() throws Exception {
        Replica first = sim.createReplica(spec("r"));
        first.applyCommitted(epoch(4, 10, (byte) 0x44));
        first.detach();
        assertThrows(HypervisorException.class, () -> firstByte(first, 10), "a detached replica is not used");
        first.close();

        Replica second = sim.adoptReplica(spec("r")).orElseThrow();
        assertNotSame(first, second);
        assertEquals(4, second.committedEpoch());
        assertEquals(0x44, firstByte(second, 10));
        second.applyCommitted(epoch(5, 11, (byte) 0x55));
        assertEquals(5, second.committedEpoch());
        assertEquals(0x55, firstByte(second, 11));
        assertTrue(sim.adoptReplica(spec("r")).isEmpty(), "adopted once");
        assertEquals(0x44, firstByte(second, 10));
    }

    @Test
    void aReplicaIsAdoptedOnlyForItsOwnSpecAndOnlyOnceItCommitted() throws Exception {
        Replica uncommitted = sim.createReplica(spec("early"));
        uncommitted.detach();
        assertTrue(sim.adoptReplica(spec("early")).isEmpty(), "no committed epoch: nothing to adopt");

        Replica committed = sim.createReplica(spec("other"));
        committed.applyCommitted(epoch(1, 0, (byte) 1));
        committed.detach();
        ReplicaSpec bigger = new ReplicaSpec(DomainId.parse("sim:other"), 2 << 20, 4096, Map.of());
        assertTrue(sim.adoptReplica(bigger).isEmpty(), "made for another spec");
        assertTrue(sim.adoptReplica(spec("other")).isEmpty(), "and dropped");

        Replica stale = sim.createReplica(spec("fresh"));
        stale.applyCommitted(epoch(1, 0, (byte) 1));
        stale.detach();
        Replica fresh = sim.createReplica(spec("fresh"));
        assertTrue(sim.adoptReplica(spec("fresh")).isEmpty(), "a new replica drops the detached one");
        assertEquals(-1, fresh.committedEpoch());
    }

    @Test
    void anAdoptedOutputHoldReleasesEverythingHeldWithTheNextSealedEpochAndNothingPassesMeanwhile()
            throws Exception {
        SimDomain d = open("nic", Map.of("memory", "1M", "dirty-rate", "0", "packet-rate", "5000"));
        OutputBuffer first = sim.attach(d.networkInterfaces().get(0));
        long before = sim.wire().total();
        await().atMost(Duration.ofSeconds(5)).until(() -> first.stats().packetsQueued() > 20);
        first.seal(1);
        first.detach();
        long heldAtDetach = first.stats().packetsQueued();
        assertThrows(IllegalStateException.class, () -> first.seal(2));
        assertThrows(IllegalStateException.class, first::passThrough);
        first.close(); // a detached buffer's close leaves the hold alone
        await().atMost(Duration.ofSeconds(5)).until(() -> first.stats().packetsQueued() > heldAtDetach + 20);
        assertEquals(before, sim.wire().total(), "nothing passes while no engine holds the buffer");

        OutputBuffer second = sim.attach(d.networkInterfaces().get(0));
        assertNotSame(first, second);
        assertThrows(Exception.class, () -> sim.attach(d.networkInterfaces().get(0)), "one buffer per NIC");
        d.pause();
        second.seal(7);
        long held = second.stats().packetsQueued();
        assertEquals(before, sim.wire().total());
        second.release(7);
        d.resume();
        List<SimWire.Packet> out = sim.wire().packets();
        out = out.subList((int) before, out.size());
        assertEquals(held, out.size(), "everything held before and after the detach");
        assertTrue(out.stream().allMatch(p -> p.sealedEpoch() == 7), "all of it with the next sealed epoch");
        for (int i = 1; i < out.size(); i++) {
            assertEquals(out.get(i - 1).seq() + 1, out.get(i).seq(), "in order, none lost");
        }
        second.close();
    }
}
