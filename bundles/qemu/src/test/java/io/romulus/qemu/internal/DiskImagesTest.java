package io.romulus.qemu.internal;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.qemu.internal.vm.VmDisk;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The user's images made ready to serve: raw where it is, qcow2 converted once with qemu-img, the original untouched. */
class DiskImagesTest {

    @TempDir
    Path dir;

    private DiskImages images() {
        return new DiskImages(new QemuSettings("qemu-system-x86_64", "tcg", dir, dir, dir, dir, "uffd", "", "", 1000,
                dir.resolve("converted"), "test:///default"), DomainId.parse("qemu:pg"));
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + " (Debian package qemu-utils): " + out);
    }

    private static byte[] sha256(Path f) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f));
    }

    @Test
    void aRawImageIsServedWhereItIs() throws Exception {
        Path raw = dir.resolve("pg.img");
        try (RandomAccessFile f = new RandomAccessFile(raw.toFile(), "rw")) {
            f.setLength(64L << 20);
        }
        VmDisk disk = new VmDisk(raw.toString(), "raw", "virtio", "vda", false, "ignore");
        assertEquals(List.of(disk), images().prepare(List.of(disk)));
        VmDisk missing = new VmDisk(dir.resolve("none.img").toString(), "raw", "virtio", "vdb", false, "ignore");
        String m = assertThrows(HypervisorException.class, () -> images().prepare(List.of(missing))).getMessage();
        assertTrue(m.contains("qemu:pg disk vdb") && m.contains("is not a readable file"), m);
    }

    @Test
    void aQcow2ImageIsConvertedOnceAndTheOriginalIsLeftAsItIs() throws Exception {
        Path qcow2 = dir.resolve("pg.qcow2");
        run("qemu-img", "create", "-q", "-f", "qcow2", qcow2.toString(), "32M");
        run("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 64k", qcow2.toString());
        byte[] before = sha256(qcow2);
        VmDisk disk = new VmDisk(qcow2.toString(), "qcow2", "sata", "sda", false, "unmap");

        VmDisk served = images().prepare(List.of(disk)).get(0);
        Path raw = dir.resolve("converted").resolve("pg-sda.raw");
        assertEquals(new VmDisk(raw.toString(), "raw", "sata", "sda", false, "unmap"), served);
        assertEquals(32L << 20, Files.size(raw));
        try (RandomAccessFile f = new RandomAccessFile(raw.toFile(), "r")) {
            f.seek(1 << 20);
            assertEquals(0x5a, f.read(), "the data written into the qcow2 image is in the raw copy");
            f.seek(2 << 20);
            assertEquals(0, f.read());
        }
        assertArrayEquals(before, sha256(qcow2), "the qcow2 image is not written");

        // a second protection uses the copy; a newer original is converted again
        FileTime converted = Files.getLastModifiedTime(raw);
        assertEquals(served, images().prepare(List.of(disk)).get(0));
        assertEquals(converted, Files.getLastModifiedTime(raw), "not converted again");
        Files.setLastModifiedTime(qcow2, FileTime.fromMillis(converted.toMillis() + 5000));
        images().prepare(List.of(disk));
        assertTrue(Files.getLastModifiedTime(raw).compareTo(converted) > 0, "converted again");
    }
}
