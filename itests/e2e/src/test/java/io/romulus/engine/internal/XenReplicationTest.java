package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.api.netbuf.OutputBufferStats;
import io.romulus.transport.mina.internal.MinaCheckpointTransport;
import io.romulus.transport.mina.internal.TransportSettings;
import io.romulus.xen.internal.SimulatedXen;
import io.romulus.xen.internal.XenHypervisor;
import io.romulus.xen.internal.XenSettings;
import io.romulus.xen.internal.dm.DeviceModel;
import io.romulus.xen.internal.image.ParsedImage;
import io.romulus.xen.internal.image.XenImageParser;
import io.romulus.xen.internal.libvirt.LibvirtHost;
import io.romulus.xen.internal.libvirt.TestDriver;

/**
 * The Xen binding behind two real engines joined by the MINA stream: the primary's hypervisor calls go to a simulated
 * Xen whose guest writes pages all the time, libvirt is its test driver on both nodes. The engine's verification
 * (a CRC32C of the primary's memory taken in every pause, checked against the replica read back from the backup's
 * image file) holds on every checkpoint, and with the guest quiet the backup's image, read by the independent parser,
 * holds exactly the guest's memory under its real pfns. What this does not exercise: Xen itself (the hypercalls, and
 * libxl restoring the image), which needs a Xen host.
 */
class XenReplicationTest {

    private static final DomainId DB = DomainId.parse("xen:legacy-db");

    @TempDir
    Path dir;
    private final SimulatedXen primaryXen = new SimulatedXen();
    private final SimulatedXen backupXen = new SimulatedXen();
    private XenHypervisor primaryBinding;
    private XenHypervisor backupBinding;
    private MinaCheckpointTransport primaryStream;
    private MinaCheckpointTransport backupStream;
    private Engine primary;
    private Engine backup;
    private final VifLedger vifs = new VifLedger();
    private final AtomicBoolean writing = new AtomicBoolean(true);
    private final AtomicLong writes = new AtomicLong();
    /**
     * The guest's xvda is a file disk (libvirt's test driver describes one that does not exist here, 0 bytes): the
     * engine protects no domain whose disks nothing replicates, so the in-memory replicator stands in for one.
     */
    private final MemoryDiskReplicator disks = new MemoryDiskReplicator();
    private Thread guest;
    private CuttableLink link;

    @BeforeEach
    void nodes() throws Exception {
        // domid 1 is "legacy-db" in libvirt's test driver: 2 MiB below a hole, 10 MiB above it, 8 special pages on top
        SimulatedXen.Domain d = primaryXen.add(1, 8192).populate(0, 512).populate(768, 2560).populate(8184, 8);
        d.param(1, 8190).param(5, 8188);
        primaryBinding = binding(primaryXen, "a");
        backupBinding = binding(backupXen, "b");
        TransportSettings t = TransportSettings.defaults().withSecretFile(dir.resolve("stream.secret"));
        backupStream = MinaCheckpointTransport.create(t.withListen("127.0.0.1", 0).withNodeId("node-b"));
        primaryStream = MinaCheckpointTransport.create(t.withListen("127.0.0.1", 0).withNodeId("node-a"));
        primary = new Engine(new EngineSettings("node-a", 25, 1, 10_000, 1024, 5000, 50, 4, 256,
                EngineSettings.FailoverMode.MANUAL, 7490, false));
        primary.addHypervisor(primaryBinding);
        primary.addOutputBufferProvider(vifs, 0);
        primary.addDiskReplicator(disks, "file", 0);
        disks.adopt(new GuestDisk("xvda", "file", "/var/lib/xen/images/legacy-db.img", 0));
        primary.setTransport(primaryStream);
        backup = new Engine(new EngineSettings("node-b", 25, 1, 10_000, 1024, 5000, 50, 4, 256,
                EngineSettings.FailoverMode.MANUAL, 7490, false));
        backup.addHypervisor(backupBinding);
        backup.addDiskReplicator(new ActivatedAsFile(disks, dir.resolve("b/xvda-copy.img")), "file", 0);
        backup.setTransport(backupStream);
        guest = new Thread(() -> dirty(d), "simulated-guest");
        guest.setDaemon(true);
        guest.start();
    }

    private XenHypervisor binding(SimulatedXen xen, String node) throws Exception {
        Path home = Files.createDirectories(dir.resolve(node));
        return new XenHypervisor(new XenSettings(TestDriver.uri(home), home.resolve("images"), "/nowhere/%d",
                "/nowhere/%d"), () -> xen, LibvirtHost::connect, (domid, s) -> new QuietDeviceModel());
    }

    /** The guest: writes a few hundred random bytes of random populated pages per millisecond, unless paused. */
    private void dirty(SimulatedXen.Domain d) {
        SplittableRandom random = new SplittableRandom(42);
        long[] populated = {512, 2560, 8};
        long[] starts = {0, 768, 8184};
        while (!Thread.currentThread().isInterrupted()) {
            if (writing.get()) {
                for (int i = 0; i < 200; i++) {
                    int r = random.nextInt(3);
                    long pfn = starts[r] + random.nextLong(populated[r]);
                    try {
                        d.write(pfn, random.nextInt(4096), (byte) random.nextInt());
                        writes.incrementAndGet();
                    } catch (IllegalStateException paused) {
                        break;
                    }
                }
                d.tick();
            }
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    @AfterEach
    void stop() throws Exception {
        guest.interrupt();
        guest.join(1000);
        if (link != null) {
            link.close();
        }
        primary.shutdown();
        backup.shutdown();
        primaryStream.close();
        backupStream.close();
        primaryBinding.deactivate();
        backupBinding.deactivate();
    }

    @Test
    void everyCheckpointVerifiesAndTheImageHoldsTheGuestsMemory() throws Exception {
        link = new CuttableLink(new InetSocketAddress("127.0.0.1", backupStream.listenAddress().getPort()));
        primary.protect(new ProtectRequest(DB, link.address(), 25, Map.of(), true));
        await().atMost(Duration.ofSeconds(90)).until(() -> Rows.committed(backup) >= 200);
        assertEquals(ProtectionState.PROTECTED, Rows.row(primary, Role.PRIMARY).state());
        String detail = Rows.row(backup, Role.BACKUP).detail();
        assertTrue(detail.contains("verified") && !detail.contains("failed"), detail);
        assertTrue(writes.get() > 10_000, "the guest wrote: " + writes.get());
        assertTrue(vifs.released.get() >= 200, "the vif's output released on ACKs: " + vifs.released.get());
        assertEquals(List.of(), vifs.violations, "releases follow seals, in order");

        // the guest goes quiet; two more checkpoints carry its last writes
        writing.set(false);
        long quiet = Rows.committed(backup);
        await().atMost(Duration.ofSeconds(30)).until(() -> Rows.committed(backup) >= quiet + 2);
        Path image = dir.resolve("b/images/legacy-db.xenimg");
        SimulatedXen.Domain d = primaryXen.get(1);
        try (ParsedImage parsed = XenImageParser.parse(image)) {
            assertEquals(512 + 2560 + 8, parsed.pfns().length);
            for (long pfn : parsed.pfns()) {
                assertArrayEquals(d.page(pfn), parsed.page(pfn), "pfn " + pfn);
            }
            assertEquals(8190L, parsed.hvmParams().get(1L));
            assertArrayEquals(primaryXen.hvmContext(1), parsed.hvmContext(), "the last captured vCPU state");
        }

        // the primary host dies (its link is reset, nothing more leaves it); failover: the image's XML is rewritten
        // to attach the disk as the backup's replicator made it usable here, then libvirt restores the image (which
        // libvirt's test driver cannot do: it says so, naming the file)
        link.cut();
        Exception e = org.junit.jupiter.api.Assertions.assertThrows(Exception.class, () -> backup.failover(DB));
        StringBuilder messages = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            messages.append(t.getMessage()).append(" / ");
        }
        assertTrue(messages.indexOf("cannot restore") >= 0 && messages.indexOf("legacy-db.xenimg") >= 0,
                messages.toString());
        try (ParsedImage parsed = XenImageParser.parse(image)) {
            assertTrue(parsed.xml().contains("<source file=\"" + dir.resolve("b/xvda-copy.img") + "\"/>"),
                    parsed.xml());
        }
        assertEquals(List.of(), disks.mismatches);
        assertFalse(backupXen.closed());
    }

    /**
     * The output buffer of the domain's vif, as a ledger: no device exists here, so it records the engine's seal and
     * release calls and checks that an epoch is released only after it was sealed, in increasing order.
     */
    private static final class VifLedger implements OutputBufferProvider {
        final List<String> violations = new CopyOnWriteArrayList<>();
        final AtomicLong released = new AtomicLong();

        @Override
        public String name() {
            return "ledger";
        }

        @Override
        public boolean supports(GuestInterface nic) {
            return "vif".equals(nic.kind()) && "vif-db".equals(nic.hostDevice());
        }

        @Override
        public OutputBuffer attach(GuestInterface nic) {
            return new OutputBuffer() {
                private long sealed = -1;
                private long releasedUpTo = -1;

                @Override
                public String interfaceName() {
                    return nic.hostDevice();
                }

                @Override
                public synchronized void seal(long epoch) {
                    if (epoch <= sealed) {
                        violations.add("sealed " + epoch + " after " + sealed);
                    }
                    sealed = epoch;
                }

                @Override
                public synchronized void release(long epoch) {
                    if (epoch > sealed || epoch < releasedUpTo) {
                        violations.add("released " + epoch + " (sealed " + sealed + ", released " + releasedUpTo + ")");
                    }
                    releasedUpTo = epoch;
                    released.incrementAndGet();
                }

                @Override
                public void discard() {
                }

                @Override
                public void passThrough() {
                    violations.add("pass-through while protected");
                }

                @Override
                public void resumeBuffering() {
                }

                @Override
                public OutputBufferStats stats() {
                    return new OutputBufferStats("ledger", 0, 0, released.get(), 0, 0, 0);
                }

                @Override
                public void close() {
                }
            };
        }
    }

    /** The in-memory replicator, whose backup comes back on failover as a file disk of this host. */
    private static final class ActivatedAsFile implements DiskReplicator {
        private final DiskReplicator delegate;
        private final Path file;

        ActivatedAsFile(DiskReplicator delegate, Path file) {
            this.delegate = delegate;
            this.file = file;
        }

        @Override
        public String name() {
            return delegate.name();
        }

        @Override
        public boolean supports(GuestDisk disk) {
            return delegate.supports(disk);
        }

        @Override
        public Primary primary(DomainId domain, GuestDisk disk) throws Exception {
            return delegate.primary(domain, disk);
        }

        @Override
        public Backup backup(DomainId domain, GuestDisk disk) throws Exception {
            Backup b = delegate.backup(domain, disk);
            return new Backup() {
                @Override
                public void writeInitial(long offset, java.nio.ByteBuffer data) throws Exception {
                    b.writeInitial(offset, data);
                }

                @Override
                public void stage(long epoch, List<io.romulus.api.disk.DiskWrite> writes) throws Exception {
                    b.stage(epoch, writes);
                }

                @Override
                public void commit(long epoch) throws Exception {
                    b.commit(epoch);
                }

                @Override
                public void discardUncommitted() {
                    b.discardUncommitted();
                }

                @Override
                public GuestDisk activate() throws Exception {
                    GuestDisk d = b.activate();
                    return new GuestDisk(d.name(), "file", file.toString(), d.sizeBytes());
                }

                @Override
                public void close() {
                    b.close();
                }
            };
        }
    }

    /** An HVM device model that has nothing to save: the simulated guest has no emulated devices. */
    private static final class QuietDeviceModel implements DeviceModel {
        @Override
        public void stop() {
        }

        @Override
        public byte[] saveState() {
            return new byte[] {'Q', 'E', 'V', 'M'};
        }

        @Override
        public void setGlobalDirtyLog(boolean enable) {
        }

        @Override
        public void cont() {
        }

        @Override
        public void close() {
        }
    }
}
