package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.LongStream;
import java.util.stream.Stream;

import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.qemu.internal.QemuHypervisor;
import io.romulus.qemu.internal.QemuSettings;
import io.romulus.qemu.internal.qmp.QmpClient;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hot upgrade of the QEMU binding with a real guest (TCG) whose workload writes 2000 pages a second: a protected
 * guest handed to a new handle when the engine is updated (detach, adopt) and to a new instance of the binding when
 * the binding itself is updated (deactivate, a new QemuHypervisor on the same run directory, adopt), its userfaultfd
 * dirty log going on throughout; and a replica handed over the same ways, then applying a further epoch and
 * activated. One guest for the whole class (booting costs 10-20 s under TCG). Needs QEMU, root and native/'s guest
 * image and preload library; without them it fails.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class QemuHotUpgradeTest {

    private static final DomainId GUEST = DomainId.parse("qemu:hot");
    private static final int PAGE = 4096;
    private static final long MEMORY = 128L << 20;
    private static final Map<String, String> OPTIONS = Map.of("memory", "128M", "dirty-rate", "2000");

    private static final Logger LOG = LoggerFactory.getLogger(QemuHotUpgradeTest.class);

    private final Path run = Path.of("/dev/shm", "romulus-hot-" + ProcessHandle.current().pid());
    private QemuSettings primarySettings;
    private QemuSettings backupSettings;
    /** The primary's binding; replaced by a new instance where the test updates the binding. */
    private QemuHypervisor primary;
    private final List<QemuHypervisor> backups = new ArrayList<>();

    @BeforeAll
    void bootTheGuest() throws Exception {
        primarySettings = QemuPair.settings(run.resolve("a"), "");
        backupSettings = QemuPair.settings(run.resolve("b"), "");
        primary = new QemuHypervisor(primarySettings);
        if (!primary.availability().available()) {
            throw new AssertionError(primary.availability().reason());
        }
        primary.open(GUEST, OPTIONS).close(); // booted; the guest runs on without a hold
        Path console = guestDir().resolve("console.log");
        await().atMost(Duration.ofMinutes(2)).until(() -> Files.exists(console)
                && Files.readString(console, StandardCharsets.ISO_8859_1).contains("ROMULUS-GUEST-READY"));
    }

    @AfterAll
    void stop() throws IOException {
        if (primary != null) {
            primary.destroyAll();
        }
        backups.forEach(QemuHypervisor::destroyAll);
        if (Files.exists(run)) {
            try (Stream<Path> paths = Files.walk(run)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private Path guestDir() {
        return run.resolve("a").resolve(GUEST.name());
    }

    private byte[] ram() throws IOException {
        try (FileChannel ch = FileChannel.open(guestDir().resolve("ram"))) {
            ByteBuffer all = ByteBuffer.allocate((int) MEMORY);
            while (all.hasRemaining() && ch.read(all) >= 0) {
                // reads the whole file
            }
            return all.array();
        }
    }

    /** The pages of the guest's RAM that differ from {@code before}. */
    private long[] changedSince(byte[] before) throws IOException {
        byte[] now = ram();
        return LongStream.range(0, MEMORY / PAGE).filter(p -> !Arrays.equals(before, (int) p * PAGE,
                (int) (p + 1) * PAGE, now, (int) p * PAGE, (int) (p + 1) * PAGE)).toArray();
    }

    /** Waits until the guest has written pages since {@code before}, which shows it runs; returns them. */
    private long[] awaitWrites(byte[] before) {
        long[][] changed = new long[1][];
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            changed[0] = changedSince(before);
            return changed[0].length >= 50;
        });
        return changed[0];
    }

    private static void assertReported(long[] written, long[] harvested) {
        for (int i = 1; i < harvested.length; i++) {
            if (harvested[i - 1] >= harvested[i]) {
                throw new AssertionError("harvested in ascending order without duplicates, but at " + i + " of "
                        + harvested.length + ": " + Arrays.toString(Arrays.copyOfRange(harvested, Math.max(0, i - 8),
                                Math.min(harvested.length, i + 8))));
            }
        }
        long missing = Arrays.stream(written).filter(p -> Arrays.binarySearch(harvested, p) < 0).count();
        LOG.info("The guest wrote {} pages while unheld; the adopted log reports {}", written.length,
                harvested.length);
        assertEquals(0, missing, "pages the guest wrote while no handle held it but the new handle does not report, of "
                + written.length);
        // the log was taken over, not re-armed (that would miss the pages above) nor lost (that reports everything)
        assertTrue(harvested.length < MEMORY / PAGE / 4, "only the written pages: " + harvested.length);
    }

    private String queryStatus() throws Exception {
        try (QmpClient qmp = QmpClient.connect(guestDir().resolve("qmp.sock"), Duration.ofSeconds(10))) {
            return qmp.execute("query-status", null).path("status").asText();
        }
    }

    @Test
    @Order(1)
    void anEngineUpdateHandsTheGuestOverWithItsDirtyLog() throws Exception {
        ProtectedDomain first = primary.open(GUEST, Map.of());
        first.startDirtyLog();
        first.harvestDirty();
        first.detach();
        byte[] detachedRam = ram();
        long[] written = awaitWrites(detachedRam);

        ProtectedDomain second = primary.adopt(GUEST).orElseThrow();
        second.startDirtyLog(); // keeps what is logged
        assertReported(written, second.harvestDirty());
        assertTrue(second.info().running());
        // and it goes on as a log does: pages written after this harvest are reported by the next one
        byte[] afterHarvest = ram();
        long[] later = awaitWrites(afterHarvest);
        assertReported(later, second.harvestDirty());
        second.close();
        assertTrue(primary.adopt(GUEST).isEmpty(), "closed, not detached: nothing to adopt");
    }

    @Test
    @Order(2)
    void aBindingUpdateHandsTheGuestToTheNextInstance() throws Exception {
        ProtectedDomain first = primary.open(GUEST, Map.of());
        first.startDirtyLog();
        first.pause();
        first.harvestDirty();
        first.resume();
        long updating = System.nanoTime();
        primary.deactivate(); // the bundle is updated: nothing of this instance survives but files and kernel state
        long deactivated = System.nanoTime();
        QemuHypervisor old = primary;
        primary = null;
        assertTrue(Files.exists(guestDir().resolve("guest.json")));
        assertEquals("running", queryStatus(), "QEMU runs on, no longer held by anyone");
        byte[] detachedRam = ram();
        long[] written = awaitWrites(detachedRam);
        assertEquals(List.of(), old.domains(), "the old instance holds nothing");
        assertThrows(HypervisorException.class, first::harvestDirty, "the old handle is no longer usable");

        long starting = System.nanoTime();
        primary = new QemuHypervisor(primarySettings);
        LOG.info("Binding update: deactivate took {} ms, the new instance found the guest in {} ms",
                (deactivated - updating) / 1_000_000, (System.nanoTime() - starting) / 1_000_000);
        assertEquals(List.of(GUEST), primary.domains().stream().map(d -> d.id()).toList());
        ProtectedDomain second = primary.adopt(GUEST).orElseThrow();
        second.startDirtyLog();
        assertReported(written, second.harvestDirty());
        assertEquals(MEMORY, second.info().memoryBytes());
        // the old handle can do nothing any more, and closing it does not end the new one's log
        first.close();
        byte[] afterHarvest = ram();
        long[] later = awaitWrites(afterHarvest);
        assertReported(later, second.harvestDirty());

        // unprotect as before: close, then open again starts a new log from the next write
        second.close();
        assertTrue(primary.adopt(GUEST).isEmpty());
        ProtectedDomain third = primary.open(GUEST, Map.of());
        third.startDirtyLog();
        byte[] reopened = ram();
        long[] fresh = awaitWrites(reopened);
        assertReported(fresh, third.harvestDirty());
        third.close();
    }

    @Test
    @Order(3)
    void aReplicaIsHandedOverAndActivatedFromItsEpoch() throws Exception {
        ReplicaSpec spec = new ReplicaSpec(GUEST, MEMORY, PAGE, OPTIONS);
        QemuHypervisor backup = new QemuHypervisor(backupSettings);
        backups.add(backup);
        Replica replica = backup.createReplica(spec);
        ProtectedDomain guest = primary.open(GUEST, Map.of());
        guest.startDirtyLog();

        // epoch 1: the whole RAM while paused
        guest.pause();
        guest.harvestDirty();
        long[] all = LongStream.range(0, MEMORY / PAGE).toArray();
        ByteBuffer staging = ByteBuffer.allocateDirect(1 << 20);
        for (int from = 0; from < all.length; from += 256) {
            staging.clear();
            guest.copyPages(all, from, 256, staging);
            staging.flip();
            replica.writeInitial(all, from, 256, staging);
        }
        replica.applyCommitted(new CommittedEpoch(1, new long[0], 0, ByteBuffer.allocate(0),
                guest.captureDeviceState()));
        guest.resume();

        // the engine is updated, then the binding itself
        replica.detach();
        replica = backup.adoptReplica(spec).orElseThrow();
        assertEquals(1, replica.committedEpoch());
        backup.deactivate();
        backup = new QemuHypervisor(backupSettings);
        backups.add(backup);
        replica = backup.adoptReplica(spec).orElseThrow();
        assertEquals(1, replica.committedEpoch());

        // epoch 2: what the guest wrote since, applied to the adopted replica
        awaitWrites(ram());
        guest.pause();
        long[] dirty = guest.harvestDirty();
        ByteBuffer pages = ByteBuffer.allocate(dirty.length * PAGE);
        guest.copyPages(dirty, 0, dirty.length, pages);
        pages.flip();
        byte[] device = guest.captureDeviceState();
        replica.applyCommitted(new CommittedEpoch(2, dirty, dirty.length, pages, device));
        ByteBuffer expected = ByteBuffer.allocate(PAGE);
        ByteBuffer actual = ByteBuffer.allocate(PAGE);
        for (long p : dirty) {
            expected.clear();
            actual.clear();
            guest.copyPages(new long[] {p}, 0, 1, expected);
            replica.readPage(p, actual);
            assertEquals(expected.flip(), actual.flip(), "page " + p + " of epoch 2");
        }
        long ticksAtEpoch2 = QemuPair.lastTick(guestDir().resolve("console.log"));
        guest.resume();
        guest.close();
        primary.destroy(GUEST.name()); // the primary host is lost

        ProtectedDomain activated = replica.activate();
        Path console = backupDir().resolve("console.log");
        await().atMost(Duration.ofSeconds(30)).until(() -> QemuPair.lastTick(console) > 0);
        String resumed = Files.readString(console, StandardCharsets.ISO_8859_1);
        assertFalse(resumed.contains("ROMULUS-GUEST-READY"), "resumed from the checkpoint, not booted:\n" + resumed);
        long first = QemuPair.lastTick(console);
        assertTrue(first >= ticksAtEpoch2 && first <= ticksAtEpoch2 + 30, "the guest's ticks go on from epoch 2 ("
                + ticksAtEpoch2 + "): " + first);
        assertTrue(activated.info().running());
        activated.close();
    }

    private Path backupDir() throws IOException {
        try (Stream<Path> dirs = Files.list(run.resolve("b"))) {
            return dirs.filter(p -> p.getFileName().toString().startsWith(GUEST.name() + ".replica-")).findFirst()
                    .orElseThrow();
        }
    }

}
