package io.romulus.xen.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.xen.internal.image.ParsedImage;
import io.romulus.xen.internal.image.XenImageParser;
import io.romulus.xen.internal.libvirt.LibvirtHost;
import io.romulus.xen.internal.libvirt.TestDriver;

/**
 * Hand-over across an engine update ({@code detach}, then {@code adopt} in the same binding instance) and across an
 * update of the xen bundle itself ({@link XenHypervisor#deactivate()}, then a new instance): with the same
 * {@link SimulatedXen} and libvirt's test driver as {@link XenHypervisorTest} (legacy-db is HVM domid 1, pfns 0..159,
 * 192..1023 and 4088..4095 populated, so pfn 200 is slot 168 and pfn 4090 slot 994).
 */
class XenHandOverTest {

    private static final DomainId DB = DomainId.parse("xen:legacy-db");
    private static final long POPULATED = 160 + 832 + 8;

    @TempDir
    Path tmp;
    private SimulatedXen xen;
    private SimulatedXen.Domain guest;
    private RecordingDeviceModel dm;
    private XenSettings settings;
    private XenHypervisor binding;

    @BeforeEach
    void start() throws Exception {
        xen = new SimulatedXen();
        guest = xen.add(1, 4096).populate(0, 160).populate(192, 832).populate(4088, 8);
        guest.param(1, 0xfeffc).param(5, 0xfeff0); // STORE_PFN and IOREQ_PFN, as every HVM guest has them
        dm = new RecordingDeviceModel();
        settings = new XenSettings(TestDriver.uri(tmp), tmp.resolve("images"), "/nowhere/qmp-%d", "/nowhere/dm-%d");
        binding = newBinding();
    }

    /** What a new revision of the xen bundle would start: a binding of its own over the same Xen and libvirt. */
    private XenHypervisor newBinding() {
        return new XenHypervisor(settings, () -> xen, LibvirtHost::connect, (domid, s) -> dm);
    }

    @AfterEach
    void stop() {
        binding.deactivate();
    }

    /** A harvest in a pause, as the engine makes it. */
    private static long[] harvest(ProtectedDomain d) throws HypervisorException {
        d.pause();
        try {
            return d.harvestDirty();
        } finally {
            d.resume();
        }
    }

    @Test
    void anEngineThatDetachesHandsTheRunningDomainAndItsUnharvestedPagesToTheNext() throws Exception {
        ProtectedDomain first = binding.open(DB, Map.of());
        first.startDirtyLog();
        guest.write(5, 0, (byte) 1);
        assertArrayEquals(new long[] {5}, harvest(first));
        guest.write(200, 0, (byte) 2);
        first.pause();
        int pauses = guest.pausesEver();
        dm.calls.clear();

        first.detach();
        assertFalse(guest.paused(), "a domain detached in a pause runs again");
        assertTrue(guest.logDirty(), "log-dirty mode stays on");
        assertEquals(List.of("cont", "close"), dm.calls, "the device model runs and keeps logging DMA writes");
        assertTrue(Files.exists(tmp.resolve("images/legacy-db.detached")));
        guest.write(4090, 0, (byte) 3); // written while no engine holds the domain
        assertThrows(HypervisorException.class, first::harvestDirty, "a detached handle no longer drives");
        first.close();
        assertTrue(guest.logDirty(), "closing a detached handle leaves the log alone");

        ProtectedDomain second = binding.adopt(DB).orElseThrow();
        assertNotSame(first, second);
        assertEquals(pauses, guest.pausesEver(), "neither detach nor adopt paused the domain");
        assertEquals(0, guest.logDirtyRestarts(), "the log was never restarted");
        assertEquals(List.of("cont", "close", "dirty-log true"), dm.calls);
        assertTrue(Files.notExists(tmp.resolve("images/legacy-db.detached")), "the record is consumed");
        second.startDirtyLog(); // keeps what is logged
        assertArrayEquals(new long[] {168, 994}, harvest(second));
        assertArrayEquals(new long[0], harvest(second));
        assertThrows(HypervisorException.class, () -> binding.adopt(DB), "held by a handle that was not detached");
        second.close();
        assertFalse(guest.logDirty(), "closing the adopted handle ends protection");
        assertTrue(binding.adopt(DB).isEmpty(), "nothing detached any more");
    }

    @Test
    void aNewRevisionOfTheBindingAdoptsWhatTheOldOneLeftRunning() throws Exception {
        ProtectedDomain first = binding.open(DB, Map.of());
        first.startDirtyLog();
        guest.write(5, 0, (byte) 1);
        assertArrayEquals(new long[] {5}, harvest(first));
        guest.write(5, 1, (byte) 2);
        int pauses = guest.pausesEver();

        binding.deactivate(); // the xen bundle is stopped for its update: it detaches what it holds
        assertTrue(guest.logDirty());
        assertFalse(guest.paused());
        guest.write(200, 0, (byte) 3);
        binding = newBinding();
        guest.write(4090, 0, (byte) 4);

        ProtectedDomain second = binding.adopt(DB).orElseThrow();
        assertEquals(pauses, guest.pausesEver(), "nothing paused the domain across the update");
        assertEquals(0, guest.logDirtyRestarts());
        assertEquals(POPULATED * 4096, second.info().memoryBytes());
        second.pause();
        assertArrayEquals(new long[] {5, 168, 994}, second.harvestDirty());
        ByteBuffer page = ByteBuffer.allocate(4096);
        second.copyPages(new long[] {168}, 0, 1, page);
        assertEquals(3, page.get(0));
        assertTrue(second.captureDeviceState().length > 0, "an adopted handle captures without a startDirtyLog");
        second.resume();
        second.close();
        assertFalse(guest.logDirty());
    }

    @Test
    void aDomainIsNotAdoptedWhenItsDirtyLogOrItsMemoryDidNotSurvive() throws Exception {
        assertTrue(binding.adopt(DB).isEmpty(), "nothing was detached");

        ProtectedDomain first = binding.open(DB, Map.of());
        first.startDirtyLog();
        first.detach();
        xen.disableLogDirty(1); // someone turned log-dirty mode off meanwhile: what was written is unknown
        assertTrue(binding.adopt(DB).isEmpty());
        assertFalse(guest.logDirty(), "the probe's ENABLE is undone");

        ProtectedDomain second = binding.open(DB, Map.of());
        second.startDirtyLog();
        binding.deactivate();
        guest.populate(170, 1); // ballooned in while detached: the engine's page numbering no longer holds
        binding = newBinding();
        assertTrue(binding.adopt(DB).isEmpty());
        assertTrue(guest.logDirty(), "left on, for open to restart");

        ProtectedDomain third = binding.open(DB, Map.of());
        third.startDirtyLog();
        assertEquals(1, guest.logDirtyRestarts(), "open starts the log afresh: off and on, as libxc's save does");
        third.close();
        assertThrows(IllegalArgumentException.class, () -> binding.adopt(DomainId.parse("sim:legacy-db")));
    }

    /** The primary's part of an epoch: what is dirty, copied in a pause, applied to the replica. */
    private static void epoch(ProtectedDomain primary, Replica replica, long n) throws HypervisorException {
        primary.pause();
        long[] dirty = primary.harvestDirty();
        ByteBuffer staging = ByteBuffer.allocate(Math.max(1, dirty.length) * 4096);
        primary.copyPages(dirty, 0, dirty.length, staging);
        byte[] device = primary.captureDeviceState();
        primary.resume();
        replica.applyCommitted(new CommittedEpoch(n, dirty, dirty.length, staging.flip(), device));
    }

    private static ReplicaSpec spec() {
        return new ReplicaSpec(DB, POPULATED * 4096, 4096, Map.of());
    }

    @Test
    void aReplicaIsAdoptedAtItsCommittedEpochWithItsContentsInTheSameAndInANewRevision() throws Exception {
        ProtectedDomain primary = binding.open(DB, Map.of());
        Replica first = binding.createReplica(spec());
        primary.startDirtyLog();
        long[] all = new long[(int) POPULATED];
        for (int i = 0; i < all.length; i++) {
            all[i] = i;
        }
        ByteBuffer pages = ByteBuffer.allocate(all.length * 4096);
        guest.write(3, 0, (byte) 9);
        primary.copyPages(all, 0, all.length, pages);
        first.writeInitial(all, 0, all.length, pages.flip());
        guest.write(200, 0, (byte) 7);
        epoch(primary, first, 1);

        Path image = tmp.resolve("images/legacy-db.xenimg");
        first.detach();
        assertThrows(HypervisorException.class, () -> first.readPage(168, ByteBuffer.allocate(4096)));
        first.close();
        assertTrue(Files.exists(image), "a detached replica's image stays");
        assertTrue(Files.exists(tmp.resolve("images/legacy-db.xenimg.replica")));
        assertTrue(binding.adoptReplica(new ReplicaSpec(DB, 4096 * 4096, 4096, Map.of())).isEmpty(),
                "made for another spec");

        Replica second = binding.adoptReplica(spec()).orElseThrow();
        assertEquals(1, second.committedEpoch());
        ByteBuffer page = ByteBuffer.allocate(4096);
        second.readPage(168, page);
        assertArrayEquals(guest.page(200), page.array());
        guest.write(4090, 5, (byte) 8);
        epoch(primary, second, 2);

        binding.deactivate(); // the binding's own update: the replica is detached with it
        binding = newBinding();
        Replica third = binding.adoptReplica(spec()).orElseThrow();
        assertEquals(2, third.committedEpoch());
        guest.write(0, 0, (byte) 6);
        ProtectedDomain adopted = binding.adopt(DB).orElseThrow();
        epoch(adopted, third, 3);
        assertEquals(3, third.committedEpoch());
        try (ParsedImage parsed = XenImageParser.parse(image)) {
            for (long pfn : new long[] {0, 3, 200, 4090, 4095}) {
                assertArrayEquals(guest.page(pfn), parsed.page(pfn), "page of pfn " + pfn);
            }
            assertTrue(parsed.xml().contains("<name>legacy-db</name>"));
        }
        third.close();
        adopted.close();
        assertTrue(Files.notExists(image));
    }

    @Test
    void aReplicaWithoutACommittedEpochIsDroppedAndANewOneReplacesADetachedOne() throws Exception {
        Replica early = binding.createReplica(spec());
        early.detach();
        assertTrue(Files.notExists(tmp.resolve("images/legacy-db.xenimg")), "nothing committed: dropped");
        assertTrue(binding.adoptReplica(spec()).isEmpty());

        ProtectedDomain primary = binding.open(DB, Map.of());
        primary.startDirtyLog();
        Replica committed = binding.createReplica(spec());
        epoch(primary, committed, 1);
        committed.detach();
        Replica fresh = binding.createReplica(spec());
        assertEquals(-1, fresh.committedEpoch());
        assertTrue(Files.notExists(tmp.resolve("images/legacy-db.xenimg.replica")));
        assertTrue(binding.adoptReplica(spec()).isEmpty(), "the new replica replaced the detached one");
        fresh.close();
        primary.close();
    }
}
