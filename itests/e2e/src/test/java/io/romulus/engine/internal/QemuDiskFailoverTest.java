package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.slf4j.LoggerFactory;

import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;

/**
 * The demo guest with a disk (ext4 on an NBD export of the primary node, replicated per epoch to the backup node's
 * copy), its journal service appending one record per request with fdatasync, and a client on the client host that
 * holds one TCP connection and keeps asking for records. The primary host dies at a random moment in a chosen phase of
 * an epoch; just before the backup resumes the guest, the test takes a copy of the backup's disk. Checked:
 * <ul>
 * <li>that copy, once its ext4 journal is replayed as a mount would, passes {@code e2fsck -fn} (clean);
 * <li>it holds every record the client was told was durable before the failover (nothing acknowledged is lost);
 * <li>every record in it is, byte for byte, in the files the resumed guest goes on writing. A record written in an
 *     epoch that never committed would have reached the backup's disk but not the backup's memory: the resumed guest
 *     writes that sequence number again with another random value, and the two differ. Besides the client's journal
 *     (whose writes wait for their replies, so an uncommitted epoch rarely has one), the guest's own stream writer
 *     appends a record every 5 ms to a second file, so that every epoch, the uncommitted last one included, writes;
 * <li>after the guest unmounts its filesystem, the backup's disk passes {@code e2fsck -fn}, and its journal holds
 *     every record the client was told about, before and after the failover, numbered 1, 2, 3, ... without a gap.
 * </ul>
 * And a planned switchover of the same guest, whose disk moves with it without a copy.
 */
class QemuDiskFailoverTest {

    private static final DomainId GUEST = DomainId.parse("qemu:disk");
    private static final String JOURNAL_PORT = "7001";

    @TempDir
    Path dir;

    private DiskFailoverRig rig;
    private NetLab lab;
    private QemuPair nodes;
    private CuttableLink link;
    private Process client;

    @AfterEach
    void stop() throws Exception {
        if (client != null) {
            client.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        if (rig != null) {
            rig.close();
        }
    }

    private void hosts(PrimaryCrash crash) throws Exception {
        rig = new DiskFailoverRig(dir, dir, 1024, crash);
        lab = rig.lab;
        nodes = rig.nodes;
        link = rig.link;
    }

    private static String script(String name) {
        return Path.of(System.getProperty("romulus.scripts", "../../scripts")).resolve(name).toAbsolutePath()
                .normalize().toString();
    }

    /** One record as the guest's journal holds it: sequence number and random value. */
    record Entry(long seq, long rand) {
    }

    @ParameterizedTest
    @EnumSource(value = PrimaryCrash.Phase.class, names = {"RUN", "TRANSFER", "DISK_WRITES"})
    void theBackupsDiskHoldsEverythingDurableAndNothingUncommitted(PrimaryCrash.Phase phase) throws Exception {
        PrimaryCrash crash = new PrimaryCrash(phase, () -> {
            nodes.primaryQemu.destroyAll(); // the primary host dies: its guest and its link go
            link.cut();
        });
        hosts(crash);
        nodes.primary.protect(new ProtectRequest(GUEST, link.address(), 25,
                Map.of("memory", "128M", "nic", "tap", "disk", "64M")));
        Path console = nodes.awaitProtected(GUEST);
        assertTrue(Files.readString(console, StandardCharsets.ISO_8859_1).contains("journal service on port "
                + JOURNAL_PORT), "the guest mounted its disk");

        Process streaming = lab.inClient(List.of("python3", script("journal-client.py"), NetLab.GUEST_IP, JOURNAL_PORT,
                "0", "-2"));
        String started = new String(streaming.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(streaming.waitFor(30, TimeUnit.SECONDS) && started.contains("streaming"), started);
        List<Entry> durable = new CopyOnWriteArrayList<>();
        List<String> errors = new CopyOnWriteArrayList<>();
        client = lab.inClient(List.of("python3", "-u", script("journal-client.py"), NetLab.GUEST_IP, JOURNAL_PORT,
                "0.02"));
        read(client, durable, errors);
        await().atMost(Duration.ofSeconds(60)).until(() -> durable.size() >= 40 || !errors.isEmpty());
        assertEquals(List.of(), errors);

        // the primary host dies at a random moment, in the chosen phase of an epoch
        crash.arm();
        Thread.sleep(new SplittableRandom().nextLong(1, 40));
        if (phase == PrimaryCrash.Phase.RUN) {
            crash.fire(-1);
        }
        await().atMost(Duration.ofSeconds(10)).until(crash::fired);
        List<Entry> before = new ArrayList<>(durable);
        await().atMost(Duration.ofSeconds(10)).until(() -> nodes.row(nodes.backup, Role.BACKUP).state()
                == ProtectionState.STANDBY);

        // the backup's disk as failover will find it
        Path backupDisk = backupImage();
        Path snapshot = dir.resolve("at-failover.img");
        Files.copy(backupDisk, snapshot, StandardCopyOption.REPLACE_EXISTING);
        assertEquals(ProtectionState.ACTIVATED, nodes.backup.failover(GUEST).state());

        Path replayed = dir.resolve("at-failover-replayed.img");
        Files.copy(snapshot, replayed);
        run(List.of("e2fsck", "-E", "journal_only", "-y", replayed.toString()), 0, 1);
        run(List.of("e2fsck", "-fn", replayed.toString()), 0);
        Map<Long, Long> atFailover = journal(replayed, "/journal");
        Map<Long, Long> streamAtFailover = journal(replayed, "/stream");
        for (Entry e : before) {
            assertEquals(e.rand(), atFailover.get(e.seq()), "record " + e.seq() + " was durable before the failover: "
                    + "it is on the backup's disk");
        }

        // the guest goes on from the backup, on the client's one connection
        int n = durable.size();
        await().atMost(Duration.ofSeconds(60)).until(() -> durable.size() >= n + 30 || !errors.isEmpty());
        assertEquals(List.of(), errors, "the client's connection survived");
        client.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        Process unmount = lab.inClient(List.of("python3", script("journal-client.py"), NetLab.GUEST_IP, JOURNAL_PORT,
                "0", "-1"));
        String answer = new String(unmount.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(unmount.waitFor(30, TimeUnit.SECONDS) && answer.contains("unmounted"), answer);

        Path finalDisk = backupImage();
        run(List.of("e2fsck", "-fn", finalDisk.toString()), 0);
        Map<Long, Long> last = journal(finalDisk, "/journal");
        Map<Long, Long> streamLast = journal(finalDisk, "/stream");
        assertConsistent("/journal", atFailover, last);
        assertConsistent("/stream", streamAtFailover, streamLast);
        assertTrue(streamAtFailover.size() > 100 && streamLast.size() > streamAtFailover.size(),
                "the stream writer wrote before and after the failover: " + streamAtFailover.size() + ", "
                        + streamLast.size());
        for (Entry e : durable) {
            assertEquals(e.rand(), last.get(e.seq()), "record " + e.seq() + " the client was told was durable");
        }
        LoggerFactory.getLogger(QemuDiskFailoverTest.class).info("DISK FAILOVER {} (epoch {}): {} records durable "
                + "before, {} on the backup's disk at the failover, {} in the end; stream {} at the failover, {} in the"
                + " end", phase, crash.firedInEpoch, before.size(), atFailover.size(), last.size(),
                streamAtFailover.size(), streamLast.size());
    }

    /**
     * Planned switchover of the guest with its disk: the backup host runs it on its copy of the disk and protects it
     * back; the old primary keeps the image its export served (no copy) and the new primary's writes reach it with
     * each checkpoint. The client holds one connection and appends durable records across the move. Checked: no
     * disk image was built on the old primary (no copy back); once the guest unmounted its filesystem and the next
     * checkpoints committed there, the old primary's image passes {@code e2fsck -fn} and holds every record the
     * client was told was durable, before and after the switchover.
     */
    @Test
    void aSwitchoverSendsTheNewPrimarysDiskWritesToTheOldPrimarysImageWithoutACopy() throws Exception {
        hosts(new PrimaryCrash(PrimaryCrash.Phase.RUN, () -> { })); // no crash
        nodes.backup.addOutputBufferProvider(rig.output, 0); // the backup holds output once it runs the guest
        nodes.primary.protect(new ProtectRequest(GUEST, link.address(), 25,
                Map.of("memory", "128M", "nic", "tap", "disk", "64M")));
        nodes.awaitProtected(GUEST);
        Path imageOnA = nodes.run.resolve("a").resolve(GUEST.name()).resolve("disk.img");
        assertTrue(Files.isRegularFile(imageOnA), imageOnA + " is the primary's disk");

        List<Entry> durable = new CopyOnWriteArrayList<>();
        List<String> errors = new CopyOnWriteArrayList<>();
        String journalClient = script("journal-client.py");
        client = lab.inClient(List.of("python3", "-u", journalClient, NetLab.GUEST_IP, JOURNAL_PORT, "0.02"));
        read(client, durable, errors);
        await().atMost(Duration.ofSeconds(60)).until(() -> durable.size() >= 40 || !errors.isEmpty());
        assertEquals(List.of(), errors);

        int before = durable.size();
        String done = nodes.primary.switchover(GUEST);
        assertTrue(done.contains("without a full copy"), done);
        await().atMost(Duration.ofSeconds(60)).until(() -> QemuSwitchoverTest.protectedPair(nodes,
                /* primary= */ nodes.backup, /* backup= */ nodes.primary));
        assertNull(nodes.row(nodes.primary, Role.PRIMARY), "the old primary runs the guest no more");
        await().atMost(Duration.ofSeconds(60)).until(() -> durable.size() >= before + 50 || !errors.isEmpty());
        assertEquals(List.of(), errors, "the client's connection survived the switchover");
        assertEquals(List.of(), imagesIn(dir.resolve("a-disks")), "no copy of the disk was made on the old primary");

        // the guest unmounts its filesystem; the checkpoints after it commit on the old primary's image
        client.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        Process unmount = lab.inClient(List.of("python3", journalClient, NetLab.GUEST_IP, JOURNAL_PORT, "0",
                "-1"));
        String answer = new String(unmount.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(unmount.waitFor(30, TimeUnit.SECONDS) && answer.contains("unmounted"), answer);
        long unmounted = nodes.row(nodes.backup, Role.PRIMARY).epoch();
        await().atMost(Duration.ofSeconds(30)).until(() -> nodes.row(nodes.primary, Role.BACKUP).epoch()
                >= unmounted + 5);

        run(List.of("e2fsck", "-fn", imageOnA.toString()), 0);
        Map<Long, Long> journal = journal(imageOnA, "/journal");
        for (Entry e : durable) {
            assertEquals(e.rand(), journal.get(e.seq()), "record " + e.seq() + " the client was told was durable "
                    + "is on the old primary's image");
        }
        assertTrue(durable.size() > before, "records were written after the switchover");
        LoggerFactory.getLogger(QemuDiskFailoverTest.class).info("DISK SWITCHOVER: {} records durable before the "
                + "switchover, {} in the end, all on the old primary's image ({} records); {}", before,
                durable.size(), journal.size(), done);
    }

    private static List<Path> imagesIn(Path disks) throws IOException {
        if (!Files.isDirectory(disks)) {
            return List.of();
        }
        try (var images = Files.list(disks)) {
            return images.filter(p -> p.getFileName().toString().endsWith(".img")).toList();
        }
    }

    /**
     * A file the guest appends to: numbered 1, 2, 3, ... without a gap in the end, and every record that was on the
     * backup's disk at the failover is the one the resumed guest kept (no write of an uncommitted epoch reached it).
     */
    private static void assertConsistent(String file, Map<Long, Long> atFailover, Map<Long, Long> last) {
        long seq = 0;
        for (long s : last.keySet()) {
            assertEquals(++seq, s, file + " is numbered without a gap or a repeat");
        }
        for (Map.Entry<Long, Long> e : atFailover.entrySet()) {
            assertEquals(e.getValue(), last.get(e.getKey()), "record " + e.getKey() + " of " + file + " on the backup's"
                    + " disk at the failover is the one the resumed guest kept: no write of an uncommitted epoch "
                    + "reached it");
        }
    }

    /** The backup's copy of the guest's disk: one image per stream, the older ones deleted once superseded. */
    private Path backupImage() throws IOException {
        try (var images = Files.list(dir.resolve("b-disks"))) {
            List<Path> found = images.filter(p -> p.getFileName().toString().startsWith("disk-vda.")).toList();
            assertEquals(1, found.size(), "one backup image of the disk: " + found);
            return found.get(0);
        }
    }

    private static void read(Process p, List<Entry> durable, List<String> errors) {
        Thread t = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null;) {
                    if (line.startsWith("durable ")) {
                        String[] f = line.split(" ");
                        durable.add(new Entry(Long.parseLong(f[1]), Long.parseLong(f[2])));
                    } else if (line.startsWith("error")) {
                        errors.add(line);
                    }
                }
            } catch (IOException e) {
                errors.add("reading the client: " + e);
            }
        }, "journal-client");
        t.setDaemon(true);
        t.start();
    }

    /** A file of records in an ext4 image, read with debugfs (no mount): sequence number to random value. */
    private static Map<Long, Long> journal(Path image, String file) throws Exception {
        String text = run(List.of("debugfs", "-R", "cat " + file, image.toString()), 0);
        Map<Long, Long> out = new LinkedHashMap<>();
        for (String line : text.split("\n")) {
            String[] f = line.trim().split(" ");
            if (f.length == 2 && !f[0].isEmpty() && Character.isDigit(f[0].charAt(0))) {
                Long previous = out.put(Long.parseLong(f[0]), Long.parseLong(f[1]));
                assertEquals(null, previous, "record " + f[0] + " appears twice in " + image);
            }
        }
        return out;
    }

    /** Runs a host command; its exit code must be one of {@code ok}. Returns its standard output. */
    private static String run(List<String> command, int... ok) throws Exception {
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), String.join(" ", command) + " did not finish");
        int code = p.exitValue();
        for (int c : ok) {
            if (c == code) {
                return out;
            }
        }
        throw new AssertionError(String.join(" ", command) + " exited " + code + ": " + out);
    }
}
