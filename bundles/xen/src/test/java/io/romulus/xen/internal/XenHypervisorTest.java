package io.romulus.xen.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
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
import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.xen.internal.image.ParsedImage;
import io.romulus.xen.internal.image.StreamFormat;
import io.romulus.xen.internal.image.XenDeviceState;
import io.romulus.xen.internal.image.XenImageParser;
import io.romulus.xen.internal.libvirt.LibvirtHost;
import io.romulus.xen.internal.libvirt.TestDriver;

/**
 * The binding end to end on one host without Xen: libvirt is libvirt's test driver (domain "legacy-db", an HVM guest,
 * is domid 1; "pvh-guest" 2; "pv-guest" 3), the hypervisor calls go to {@link SimulatedXen}, whose domain 1 has a
 * hole in its pfn space, and the device model is recorded. Replica images are checked with the independent
 * {@link XenImageParser}.
 */
class XenHypervisorTest {

    /** legacy-db: pfns 0..159 and 192..1023 populated, 160..191 a hole, special pages 4088..4095 at the top. */
    private static final long[] RANGES = {0, 160, 192, 832, 4088, 8};
    private static final long POPULATED = 160 + 832 + 8;

    @TempDir
    Path tmp;
    private SimulatedXen xen;
    private RecordingDeviceModel dm;
    private XenHypervisor binding;

    @BeforeEach
    void start() throws Exception {
        xen = new SimulatedXen();
        SimulatedXen.Domain db = xen.add(1, 4096).populate(0, 160).populate(192, 832).populate(4088, 8);
        db.param(1, 0xfeffc).param(5, 0xfeff0).param(6, 0); // STORE_PFN, IOREQ_PFN, and BUFIOREQ_PFN 0: not sent
        db.xenstore("/local/domain/0/device-model/1/physmap/f0000000/start_addr", "f0000000")
                .xenstore("/local/domain/0/device-model/1/physmap/f0000000/size", "800000")
                .xenstore("/local/domain/0/device-model/1/physmap/f0000000/name", "vga.vram");
        xen.add(2, 512).populate(0, 512);
        dm = new RecordingDeviceModel();
        String uri = TestDriver.uri(tmp);
        binding = new XenHypervisor(new XenSettings(uri, tmp.resolve("images"), "/nowhere/qmp-%d", "/nowhere/dm-%d"),
                () -> xen, LibvirtHost::connect, (domid, s) -> dm);
    }

    @AfterEach
    void stop() {
        binding.deactivate();
    }

    @Test
    void isAvailableWithXenAndLibvirt() {
        Hypervisor.Availability a = binding.availability();
        assertTrue(a.available(), a.reason());
        assertTrue(a.reason().startsWith("Xen 4.17 through libvirt test://"), a.reason());
    }

    @Test
    void onAHostWithoutXenItLoadsAndSaysWhy() {
        XenHypervisor real = new XenHypervisor(new XenSettings("xen:///system", tmp, "/x/%d", "/y/%d"),
                io.romulus.xen.internal.xc.NativeXenControl::open, LibvirtHost::connect, (domid, s) -> dm);
        try {
            Hypervisor.Availability a = real.availability();
            assertFalse(a.available());
            assertTrue(a.reason().contains("Xen") && a.reason().contains("libvirt xen:///system"), a.reason());
            HypervisorException e = assertThrows(HypervisorException.class, real::domains);
            assertTrue(e.getMessage().contains("libvirt xen:///system"), e.getMessage());
        } finally {
            real.deactivate();
        }
    }

    @Test
    void listsLibvirtsDomains() throws Exception {
        List<DomainInfo> domains = binding.domains();
        assertEquals(List.of("xen:legacy-db", "xen:pv-guest", "xen:pvh-guest"),
                domains.stream().map(d -> d.id().toString()).toList());
        assertEquals(256L << 20, domains.get(0).memoryBytes());
        assertTrue(domains.get(0).description().contains("domid 1"), domains.get(0).description());
    }

    @Test
    void opensAnHvmDomainWithItsPopulatedMemoryInterfacesAndDisks() throws Exception {
        try (ProtectedDomain d = binding.open(DomainId.parse("xen:legacy-db"), Map.of())) {
            assertEquals(POPULATED * 4096, d.info().memoryBytes());
            assertEquals(4096, d.info().pageSize());
            assertTrue(d.info().running());
            assertEquals(List.of(new GuestInterface("net0", "00:16:3e:12:34:56", "vif", "vif-db", null)),
                    d.networkInterfaces());
            assertEquals(List.of(new GuestDisk("xvda", "file", "/var/lib/xen/images/legacy-db.img", 0)), d.disks());
            assertArrayEquals(RANGES, binding.opened("legacy-db").memory().ranges());
            HypervisorException twice = assertThrows(HypervisorException.class,
                    () -> binding.open(DomainId.parse("xen:legacy-db"), Map.of()));
            assertTrue(twice.getMessage().contains("already open"));
        }
    }

    @Test
    void refusesWhatItCannotProtect() {
        HypervisorException pv = assertThrows(HypervisorException.class,
                () -> binding.open(DomainId.parse("xen:pv-guest"), Map.of()));
        assertTrue(pv.getMessage().contains("PV guest") && pv.getMessage().contains("HVM and PVH"), pv.getMessage());
        HypervisorException options = assertThrows(HypervisorException.class,
                () -> binding.open(DomainId.parse("xen:legacy-db"), Map.of("memory", "1G")));
        assertTrue(options.getMessage().contains("takes no options"), options.getMessage());
        HypervisorException missing = assertThrows(HypervisorException.class,
                () -> binding.open(DomainId.parse("xen:nope"), Map.of()));
        assertTrue(missing.getMessage().contains("no domain named 'nope'"), missing.getMessage());
        assertThrows(IllegalArgumentException.class, () -> binding.open(DomainId.parse("qemu:legacy-db"), Map.of()));
    }

    @Test
    void aCheckpointHarvestsCopiesAndCapturesThroughTheHoles() throws Exception {
        SimulatedXen.Domain guest = xen.get(1);
        try (ProtectedDomain d = binding.open(DomainId.parse("xen:legacy-db"), Map.of())) {
            d.startDirtyLog();
            assertTrue(guest.logDirty());
            guest.write(5, 0, (byte) 1);
            guest.write(200, 7, (byte) 2); // slot 168: 160 slots before the hole, then 200-192
            guest.write(4090, 9, (byte) 3); // slot 160 + 832 + 2
            guest.tick();

            d.pause();
            assertTrue(guest.paused());
            long[] slots = d.harvestDirty();
            assertArrayEquals(new long[] {5, 168, 994}, slots);
            ByteBuffer staging = ByteBuffer.allocate(3 * 4096);
            d.copyPages(slots, 0, 3, staging);
            assertEquals(3 * 4096, staging.position());
            assertEquals(1, staging.get(0));
            assertEquals(2, staging.get(4096 + 7));
            assertEquals(3, staging.get(2 * 4096 + 9));
            XenDeviceState state = XenDeviceState.decode(d.captureDeviceState());
            d.resume();
            assertFalse(guest.paused());

            assertEquals(4, state.xenMajor());
            assertEquals(17, state.xenMinor());
            assertEquals(StreamFormat.DOMAIN_X86_HVM, state.domainType());
            assertArrayEquals(RANGES, state.gpfnRanges());
            assertArrayEquals(new long[] {1, 0xfeffc, 5, 0xfeff0}, state.hvmParams(), "zero parameters are not sent");
            assertArrayEquals(xen.hvmContext(1), state.hvmContext());
            assertEquals(48, state.cpuidPolicy().length);
            assertTrue(state.domainXml().contains("<name>legacy-db</name>"));
            assertArrayEquals("QEVM state 1".getBytes(StandardCharsets.US_ASCII), state.emulatorContext());
            assertEquals("physmap/f0000000/start_addr\0f0000000\0physmap/f0000000/size\0800000\0"
                    + "physmap/f0000000/name\0vga.vram\0", new String(state.emulatorXenstore(), StandardCharsets.US_ASCII));
            assertEquals(List.of("dirty-log true", "stop", "save", "cont"), dm.calls);
            assertArrayEquals(new long[0], d.harvestDirty(), "CLEAN cleared the log");
        }
        assertFalse(guest.logDirty(), "closing stops the dirty log");
        assertFalse(guest.paused());
    }

    @Test
    void aGuestThatChangesItsMemoryLayoutIsReported() throws Exception {
        SimulatedXen.Domain guest = xen.get(1);
        try (ProtectedDomain d = binding.open(DomainId.parse("xen:legacy-db"), Map.of())) {
            d.startDirtyLog();
            guest.populate(170, 1); // ballooned in, into the hole
            guest.write(170, 0, (byte) 1);
            d.pause();
            HypervisorException e = assertThrows(HypervisorException.class, d::harvestDirty);
            assertTrue(e.getMessage().contains("pfn 170") && e.getMessage().contains("memory layout changed"),
                    e.getMessage());
            d.resume();
        }
    }

    @Test
    void theReplicaIsARestorableImageOfTheLastCommittedEpoch() throws Exception {
        SimulatedXen.Domain guest = xen.get(1);
        ProtectedDomain primary = binding.open(DomainId.parse("xen:legacy-db"), Map.of());
        DomainInfo info = primary.info();
        Replica replica = binding.createReplica(new ReplicaSpec(info.id(), info.memoryBytes(), 4096, Map.of()));
        try {
            HypervisorException early = assertThrows(HypervisorException.class, replica::activate);
            assertTrue(early.getMessage().contains("no committed epoch"), early.getMessage());
            primary.startDirtyLog();
            // epoch 0: the full copy, while the guest runs
            guest.write(3, 0, (byte) 9);
            long[] all = new long[(int) POPULATED];
            for (int i = 0; i < all.length; i++) {
                all[i] = i;
            }
            ByteBuffer pages = ByteBuffer.allocate(all.length * 4096);
            primary.copyPages(all, 0, all.length, pages);
            pages.flip();
            replica.writeInitial(all, 0, all.length, pages);
            // epoch 1
            guest.write(200, 0, (byte) 7);
            primary.pause();
            long[] dirty = primary.harvestDirty();
            ByteBuffer staging = ByteBuffer.allocate(dirty.length * 4096);
            primary.copyPages(dirty, 0, dirty.length, staging);
            byte[] device = primary.captureDeviceState();
            primary.resume();
            staging.flip();
            replica.applyCommitted(new CommittedEpoch(1, dirty, dirty.length, staging, device));
            assertEquals(1, replica.committedEpoch());

            Path image = tmp.resolve("images/legacy-db.xenimg");
            try (ParsedImage parsed = XenImageParser.parse(image)) {
                assertTrue(parsed.xml().contains("<name>legacy-db</name>"));
                assertEquals(StreamFormat.DOMAIN_X86_HVM, parsed.domainType());
                assertEquals(POPULATED, parsed.pfns().length);
                assertEquals(4095, parsed.pfns()[parsed.pfns().length - 1]);
                for (long pfn : new long[] {0, 3, 159, 192, 200, 1023, 4088, 4095}) {
                    assertArrayEquals(guest.page(pfn), parsed.page(pfn), "page of pfn " + pfn);
                }
                assertEquals(null, parsed.page(170), "the hole is not in the image");
                assertEquals(0xfeffcL, parsed.hvmParams().get(1L));
                assertArrayEquals(XenDeviceState.decode(device).hvmContext(), parsed.hvmContext());
                assertArrayEquals(XenDeviceState.decode(device).emulatorContext(), parsed.emulatorContext());
                assertEquals(3, parsed.emulatorXenstore().size());
            }
            ByteBuffer page = ByteBuffer.allocate(4096);
            replica.readPage(168, page);
            assertArrayEquals(guest.page(200), page.array());

            // failover: libvirt restores the file; the test driver cannot restore a Xen image, and says so
            HypervisorException restore = assertThrows(HypervisorException.class, replica::activate);
            assertTrue(restore.getMessage().contains("cannot restore " + image), restore.getMessage());
        } finally {
            replica.close();
            primary.close();
        }
    }

    @Test
    void destroyEndsTheDomainInLibvirt() throws Exception {
        ProtectedDomain d = binding.open(DomainId.parse("xen:legacy-db"), Map.of());
        d.destroy();
        assertEquals(List.of("xen:pv-guest", "xen:pvh-guest"),
                binding.domains().stream().map(x -> x.id().toString()).toList());
        assertTrue(Files.notExists(tmp.resolve("images/legacy-db.xenimg")));
    }
}
