package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;

/**
 * A VM given by its own keys rather than a domain XML: direct kernel boot (the demo guest's kernel and initramfs, as a
 * user's kernel on the host) and two disks of its own, an ext4 {@code vda} the guest writes to and a {@code vdb}
 * filled with known bytes. Protected, then the primary host dies; the backup resumes the same machine with its copies
 * of both disks: the client's one connection counts on without a gap, the activated QEMU has both disks, and the
 * backup's {@code vdb} is byte for byte the user's image.
 */
class UserVmFailoverTest {

    private static final DomainId GUEST = DomainId.parse("qemu:own");

    @TempDir
    Path dir;

    private DiskFailoverRig rig;
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

    @Test
    void aVmOfItsOwnKeysWithTwoDisksFailsOverWithBoth() throws Exception {
        Path guest = Path.of(System.getProperty("romulus.guest.dir", "../../native/target/guest")).toAbsolutePath()
                .normalize();
        Path root = dir.resolve("own-root.img");
        try (RandomAccessFile f = new RandomAccessFile(root.toFile(), "rw")) {
            f.setLength(64L << 20);
        }
        run(List.of("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0,nodiscard",
                root.toString()));
        Path data = dir.resolve("own-data.img");
        byte[] bytes = new byte[16 << 20];
        new SplittableRandom(16).nextBytes(bytes);
        Files.write(data, bytes);
        byte[] dataSha = sha256(data);

        PrimaryCrash crash = new PrimaryCrash(PrimaryCrash.Phase.RUN, () -> {
            rig.nodes.primaryQemu.destroyAll();
            rig.link.cut();
        });
        rig = new DiskFailoverRig(dir, dir, 1024, crash);
        Map<String, String> vm = new LinkedHashMap<>();
        vm.put("memory", "128M");
        vm.put("kernel", guest.resolve("vmlinuz").toString());
        vm.put("initrd", guest.resolve("initramfs.cpio.gz").toString());
        vm.put("cmdline", "console=ttyS0 panic=-1 quiet romulus.ip=10.77.0.10/24 romulus.port=7000 "
                + "romulus.journal.port=7001");
        vm.put("disk.0.file", root.toString());
        vm.put("disk.1.file", data.toString());
        vm.put("nic.0.mac", "52:54:00:12:34:56");
        rig.nodes.primary.protect(new ProtectRequest(GUEST, rig.link.address(), 25, vm));
        Path console = rig.nodes.awaitProtected(GUEST);
        assertTrue(Files.readString(console, StandardCharsets.ISO_8859_1).contains("journal service on port 7001"),
                "the guest mounted its first disk");

        List<Long> values = new CopyOnWriteArrayList<>();
        List<String> errors = new CopyOnWriteArrayList<>();
        client = rig.lab.inClient(List.of("python3", "-u", Path.of(System.getProperty("romulus.scripts",
                "../../scripts")).resolve("counter-client.py").toAbsolutePath().normalize().toString(), NetLab.GUEST_IP,
                "7000", "0.02"));
        read(client, values, errors);
        await().atMost(Duration.ofSeconds(60)).until(() -> values.size() >= 40 || !errors.isEmpty());

        crash.arm();
        crash.fire(-1);
        await().atMost(Duration.ofSeconds(10)).until(() -> rig.nodes.row(rig.nodes.backup, Role.BACKUP).state()
                == ProtectionState.STANDBY);
        assertEquals(ProtectionState.ACTIVATED, rig.nodes.backup.failover(GUEST).state());
        int before = values.size();
        await().atMost(Duration.ofSeconds(60)).until(() -> values.size() >= before + 30 || !errors.isEmpty());
        assertEquals(List.of(), errors, "the client's connection survived");
        for (int i = 1; i < values.size(); i++) {
            assertEquals(values.get(i - 1) + 1, values.get(i), "one connection, one increment per answer: " + values);
        }

        // the backup runs the same machine: its kernel, both disks (its own copies), the same MAC
        Path activated = rig.nodes.activatedDir(GUEST.name());
        long pid = Long.parseLong(Files.readString(activated.resolve("qemu.pid")).trim());
        String cmdline = Files.readString(Path.of("/proc", Long.toString(pid), "cmdline")).replace('\0', ' ');
        assertTrue(cmdline.contains("-kernel " + guest.resolve("vmlinuz")) && cmdline.contains("id=disk0")
                && cmdline.contains("id=disk1") && cmdline.contains("mac=52:54:00:12:34:56"), cmdline);
        Path backupData;
        try (var images = Files.list(dir.resolve("b-disks"))) {
            List<Path> found = images.filter(p -> p.getFileName().toString().startsWith(GUEST.name() + "-vdb.")).toList();
            assertEquals(1, found.size(), "one backup image of vdb: " + found);
            backupData = found.get(0);
        }
        assertArrayEquals(dataSha, sha256(backupData), "the backup's vdb is the user's image, byte for byte");
    }

    private static byte[] sha256(Path f) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f));
    }

    private static void read(Process p, List<Long> values, List<String> errors) {
        Thread t = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null;) {
                    if (line.startsWith("value ")) {
                        values.add(Long.parseLong(line.split(" ")[1]));
                    } else if (line.startsWith("error")) {
                        errors.add(line);
                    }
                }
            } catch (IOException e) {
                errors.add("reading the client: " + e);
            }
        }, "counter-client");
        t.setDaemon(true);
        t.start();
    }

    private static void run(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, String.join(" ", command) + ": " + out);
    }
}
