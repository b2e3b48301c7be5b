package io.romulus.sim.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.api.netbuf.OutputBuffer;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class SimDomainTest {

    private final SimHypervisor sim = new SimHypervisor();

    @AfterEach
    void stop() {
        sim.deactivate();
    }

    private SimDomain open(String name, Map<String, String> options) throws HypervisorException {
        return (SimDomain) sim.open(DomainId.parse("sim:" + name), options);
    }

    @Test
    void theDirtyLogHoldsExactlyThePagesWritten() throws Exception {
        SimDomain d = open("quiet", Map.of("memory", "1M", "dirty-rate", "0", "packet-rate", "0"));
        d.startDirtyLog();
        assertArrayEquals(new long[0], d.harvestDirty());
        d.write(3, 0, 1);
        d.write(200, 8, 2);
        d.write(3, 16, 3);
        d.write(64, 0, 4);
        assertArrayEquals(new long[] {3, 64, 200}, d.harvestDirty());
        assertArrayEquals(new long[0], d.harvestDirty(), "a harvest re-arms the log");
        d.stopDirtyLog();
        d.write(5, 0, 1);
        assertThrows(HypervisorException.class, d::harvestDirty);
    }

    @Test
    void aPausedDomainIsStillAndTheWorkloadDirtiesAtItsRate() throws Exception {
        SimDomain d = open("busy", Map.of("memory", "4M", "dirty-rate", "50000", "packet-rate", "1000"));
        d.startDirtyLog();
        await().atMost(Duration.ofSeconds(5)).until(() -> d.writeCount() > 1000);
        d.pause();
        int digest = d.memory().digest();
        long packets = sim.wire().total();
        long writes = d.writeCount();
        await().during(Duration.ofMillis(50)).atMost(Duration.ofSeconds(1)).pollInterval(Duration.ofMillis(10))
                .untilAsserted(() -> {
                    assertEquals(digest, d.memory().digest(), "memory changed while paused");
                    assertEquals(packets, sim.wire().total(), "the NIC emitted while paused");
                    assertEquals(writes, d.writeCount());
                });
        long[] dirty = d.harvestDirty();
        assertTrue(dirty.length > 10, "dirty pages: " + dirty.length);
        d.resume();
        await().atMost(Duration.ofSeconds(5)).until(() -> d.writeCount() > writes + 100);
    }

    @Test
    void copiedPagesAreThePagesAndDeviceStateRoundTripsThroughAReplica() throws Exception {
        SimDomain d = open("copy", Map.of("memory", "1M", "dirty-rate", "20000", "packet-rate", "500"));
        await().atMost(Duration.ofSeconds(5)).until(() -> d.writeCount() > 500 && d.nicSequence() > 5);
        d.pause();
        long pages = d.memory().pageCount();
        long[] all = new long[(int) pages];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        ByteBuffer staging = ByteBuffer.allocateDirect((int) (pages * 4096));
        d.copyPages(all, 0, all.length, staging);
        byte[] state = d.captureDeviceState();
        long writes = d.writeCount();
        long seq = d.nicSequence();
        int digest = d.memory().digest();

        SimReplica r = (SimReplica) sim.createReplica(new ReplicaSpec(DomainId.parse("sim:copy"), pages * 4096, 4096,
                d.options().toMap()));
        assertThrows(HypervisorException.class, r::activate, "nothing committed yet");
        staging.flip();
        r.applyCommitted(new CommittedEpoch(1, all, all.length, staging, state));
        assertEquals(1, r.committedEpoch());
        assertEquals(digest, r.memory().digest());
        assertEquals(-1, d.memory().firstDifference(r.memory()));

        var e = assertThrows(HypervisorException.class, r::activate);
        assertTrue(e.getMessage().contains("already runs"), "the primary still runs here: " + e.getMessage());
        d.close();
        SimDomain resumed = (SimDomain) r.activate();
        assertTrue(resumed.writeCount() >= writes);
        assertTrue(resumed.nicSequence() >= seq);
        await().atMost(Duration.ofSeconds(5)).until(() -> resumed.writeCount() > writes + 100);
        assertEquals(resumed, sim.domain("copy"));
    }

    @Test
    void heldOutputLeavesOnlyOnReleaseOfItsEpochAndInOrder() throws Exception {
        SimDomain d = open("out", Map.of("memory", "1M", "dirty-rate", "0", "packet-rate", "5000"));
        OutputBuffer b = sim.attach(d.networkInterfaces().get(0));
        assertThrows(Exception.class, () -> sim.attach(d.networkInterfaces().get(0)), "one buffer per NIC");
        long before = sim.wire().total();
        await().atMost(Duration.ofSeconds(5)).until(() -> b.stats().packetsQueued() > 20);
        // the NIC keeps emitting while the test runs: count epoch 1 with the domain paused, so no packet of
        // epoch 2 can slip in between the seal and the count
        d.pause();
        b.seal(1);
        long queuedIn1 = b.stats().packetsQueued();
        d.resume();
        await().atMost(Duration.ofSeconds(5)).until(() -> b.stats().packetsQueued() > queuedIn1 + 20);
        b.seal(2);
        assertEquals(before, sim.wire().total(), "nothing left before a release");
        assertEquals(2, b.stats().epochsOutstanding());

        b.release(1);
        // the NIC emitted straight onto the wire until the buffer was attached: look only at what came after
        List<SimWire.Packet> out = sim.wire().packets();
        out = out.subList((int) before, out.size());
        assertEquals(queuedIn1, out.size());
        assertTrue(out.stream().allMatch(p -> p.sealedEpoch() == 1));
        b.release(2);
        out = sim.wire().packets();
        for (int i = 1; i < out.size(); i++) {
            assertTrue(out.get(i).seq() > out.get(i - 1).seq(), "order");
        }
        long queuedBefore3 = b.stats().packetsQueued();
        await().atMost(Duration.ofSeconds(5)).until(() -> b.stats().packetsQueued() > queuedBefore3);
        b.seal(3);
        b.discard();
        assertTrue(b.stats().packetsDropped() > 0);
        b.passThrough();
        long passed = sim.wire().total();
        await().atMost(Duration.ofSeconds(5)).until(() -> sim.wire().total() > passed + 10);
        assertTrue(sim.wire().packets().get(sim.wire().packets().size() - 1).sealedEpoch() < 0);
        b.close();
    }

    @Test
    void oneOpenPerDomainAndOnlySimNames() throws Exception {
        open("one", Map.of("memory", "1M"));
        assertThrows(HypervisorException.class, () -> open("one", Map.of()));
        assertThrows(IllegalArgumentException.class, () -> sim.open(DomainId.parse("qemu:one"), Map.of()));
        assertTrue(sim.domains().get(0).description().startsWith("synthetic domain (not a VM)"));
    }
}
