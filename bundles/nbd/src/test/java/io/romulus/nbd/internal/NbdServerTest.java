package io.romulus.nbd.internal;

import static io.romulus.nbd.internal.QemuTools.qemuImg;
import static io.romulus.nbd.internal.QemuTools.qemuIo;
import static io.romulus.nbd.internal.QemuTools.qemuIoOk;
import static io.romulus.nbd.internal.QemuTools.qemuNbd;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.GuestDisk;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The NBD server against QEMU's own client (qemu-io, qemu-img, qemu-nbd from qemu-utils). */
@Timeout(60)
class NbdServerTest {

    static final int SIZE = 1 << 20;

    @TempDir
    Path dir;
    Path image;
    NbdExports exports;
    GuestDisk disk;

    @BeforeEach
    void serve() throws IOException {
        image = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(SIZE);
        }
        exports = new NbdExports(new NbdSettings(dir.resolve("run"), dir.resolve("disks"), 64));
        disk = exports.export("web-vda", "vda", image);
    }

    @AfterEach
    void stop() {
        exports.close();
    }

    static byte[] filled(int length, int value) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) value);
        return b;
    }

    byte[] file(int offset, int length) throws IOException {
        return Arrays.copyOfRange(Files.readAllBytes(image), offset, offset + length);
    }

    @Test
    void exportIsTheGuestDiskQemuAttachesTo() {
        assertEquals(new GuestDisk("vda", "nbd", "nbd+unix:///web-vda?socket=" + dir.resolve("run/nbd.sock"), SIZE),
                disk);
        assertTrue(Files.exists(dir.resolve("run/nbd.sock")));
    }

    @Test
    void writeReadFlushReachTheImage() throws Exception {
        qemuIoOk(disk.source(), "write -P 0xab 0 64k", "read -P 0xab 0 64k", "flush",
                "write -f -P 0xcd 128k 4k", "read -P 0xcd 128k 4k", "read -P 0 64k 64k");
        assertArrayEquals(filled(64 << 10, 0xab), file(0, 64 << 10));
        assertArrayEquals(filled(4096, 0xcd), file(128 << 10, 4096));
        assertArrayEquals(filled(64 << 10, 0), file(64 << 10, 64 << 10));
    }

    @Test
    void readsServeWhatTheImageHolds() throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.seek(512 << 10);
            f.write(filled(8192, 0x5a));
        }
        qemuIoOk(disk.source(), "read -P 0x5a 512k 8k", "read -P 0 0 512k");
    }

    @Test
    void qemuImgSeesTheSizeAndTheSameContentAsTheFile() throws Exception {
        qemuIoOk(disk.source(), "write -P 0x42 4k 12k", "write -P 0x17 1000k 24k");
        QemuTools.Result info = qemuImg("info", "--output=json", disk.source());
        assertEquals(0, info.exit(), info.output());
        assertTrue(info.output().contains("\"virtual-size\": " + SIZE), info.output());
        QemuTools.Result same = qemuImg("compare", "-f", "raw", "-F", "raw", image.toString(), disk.source());
        assertEquals(0, same.exit(), same.output());
        Files.write(dir.resolve("other.img"), new byte[SIZE]);
        QemuTools.Result differs = qemuImg("compare", "-f", "raw", "-F", "raw", dir.resolve("other.img").toString(),
                disk.source());
        assertEquals(1, differs.exit(), differs.output());
    }

    @Test
    void pipelinedWritesAllComplete() throws Exception {
        String[] commands = new String[18];
        for (int i = 0; i < 16; i++) {
            commands[i] = String.format("aio_write -P 0x%02x %dk 32k", i + 1, i * 32);
        }
        commands[16] = "aio_flush";
        commands[17] = "read -P 0x10 480k 32k";
        qemuIoOk(disk.source(), commands);
        for (int i = 0; i < 16; i++) {
            assertArrayEquals(filled(32 << 10, i + 1), file(i * (32 << 10), 32 << 10), "write " + i);
        }
    }

    @Test
    void writeZeroesAndTrimZeroTheRangeAndAreLoggedAsZeroes() throws Exception {
        Files.write(image, filled(SIZE, 0xff));
        NbdExport export = exports.find("web-vda");
        export.startLog();
        qemuIoOk(disk.source(), "write -z 0 128k", "discard 256k 64k", "read -P 0 0 128k", "read -P 0 256k 64k",
                "read -P 0xff 128k 128k");
        assertArrayEquals(new byte[128 << 10], file(0, 128 << 10));
        assertArrayEquals(new byte[64 << 10], file(256 << 10, 64 << 10));
        List<DiskWrite> writes = export.drainLog();
        long zeroed = 0;
        for (DiskWrite w : writes) {
            assertArrayEquals(new byte[w.data().length], w.data());
            zeroed += w.data().length;
        }
        assertEquals(192 << 10, zeroed);
    }

    @Test
    void outOfRangeRequestsFailAndTheServerKeepsServing() throws Exception {
        QemuTools.Result r = qemuIo(disk.source(), "read 1020k 8k");
        assertTrue(r.output().contains("failed"), r.output());
        r = qemuIo(disk.source(), "write 2M 4k");
        assertTrue(r.output().contains("failed"), r.output());
        qemuIoOk(disk.source(), "write -P 0x33 1020k 4k", "read -P 0x33 1020k 4k");
    }

    @Test
    void anUnknownExportIsRefusedWithItsName() throws Exception {
        String uri = disk.source().replace("web-vda", "nosuch");
        QemuTools.Result r = qemuIo(uri, "read 0 4k");
        assertNotEquals(0, r.exit(), r.output());
        assertTrue(r.output().contains("nosuch"), r.output());
    }

    @Test
    void exportsAreListed() throws Exception {
        Path second = dir.resolve("second.img");
        Files.write(second, new byte[4096]);
        exports.export("db-vdb", "vdb", second, true);
        QemuTools.Result r = qemuNbd("--list", "-k", exports.socket().toString());
        assertEquals(0, r.exit(), r.output());
        assertTrue(r.output().contains("exports available: 2"), r.output());
        assertTrue(r.output().contains("export: 'web-vda'\n  size:  1048576\n  flags: 0x16d ( flush fua trim zeroes "
                + "multi )\n  min block: 1\n  opt block: 4096\n  max block: 33554432"), r.output());
        assertTrue(r.output().contains("export: 'db-vdb'\n  size:  4096\n  flags: 0x16f ( readonly"), r.output());
    }

    @Test
    void aReadOnlyExportServesReadsOnly() throws Exception {
        Path ro = dir.resolve("ro.img");
        Files.write(ro, filled(64 << 10, 0x77));
        GuestDisk roDisk = exports.export("ro-vda", "vda", ro, true);
        QemuTools.Result r = qemuIo(roDisk.source(), "write 0 4k");
        assertNotEquals(0, r.exit(), r.output());
        assertTrue(r.output().contains("Permission denied"), r.output());
        r = QemuTools.qemuIoReadOnly(roDisk.source(), "read -P 0x77 0 64k");
        assertEquals(0, r.exit(), r.output());
        assertTrue(r.output().contains("read 65536/65536"), r.output());
        r = QemuTools.qemuIoReadOnly(roDisk.source(), "write 0 4k");
        assertTrue(r.output().contains("failed") || r.output().contains("read-only"), r.output());
    }

    @Test
    void aNameServesOneImage() throws Exception {
        assertEquals(disk, exports.export("web-vda", "vda", image));
        Path other = dir.resolve("other.img");
        Files.write(other, new byte[4096]);
        IOException e = assertThrows(IOException.class, () -> exports.export("web-vda", "vda", other));
        assertTrue(e.getMessage().contains("web-vda"), e.getMessage());
    }

    @Test
    void unexportDisconnectsAndForgetsTheName() throws Exception {
        try (RawNbdClient c = RawNbdClient.connected(exports.socket(), "web-vda")) {
            exports.unexport("web-vda");
            assertEquals(-1, c.in.read());
        }
        QemuTools.Result r = qemuIo(disk.source(), "read 0 4k");
        assertNotEquals(0, r.exit(), r.output());
    }
}
