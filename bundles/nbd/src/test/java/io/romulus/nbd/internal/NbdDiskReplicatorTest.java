package io.romulus.nbd.internal;

import static io.romulus.nbd.internal.QemuTools.qemuImg;
import static io.romulus.nbd.internal.QemuTools.qemuIoOk;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Primary and backup of the NBD disk, as two nodes on one host (each its own socket and image directory). */
@Timeout(120)
class NbdDiskReplicatorTest {

    static final int SIZE = 2 << 20;
    static final DomainId DOMAIN = new DomainId("qemu", "web");

    @TempDir
    Path dir;
    Path image;
    NbdExports nodeA;
    NbdExports nodeB;
    NbdDiskReplicator replicatorA;
    NbdDiskReplicator replicatorB;
    GuestDisk disk;

    @BeforeEach
    void nodes() throws IOException {
        image = dir.resolve("a/web.img");
        Files.createDirectories(image.getParent());
        byte[] content = new byte[SIZE];
        for (int i = 0; i < SIZE; i++) {
            content[i] = (byte) (i * 31 + (i >> 12));
        }
        Files.write(image, content);
        nodeA = new NbdExports(new NbdSettings(dir.resolve("a/run"), dir.resolve("a/disks"), 256));
        nodeB = new NbdExports(new NbdSettings(dir.resolve("b/run"), dir.resolve("b/disks"), 256));
        replicatorA = new NbdDiskReplicator(nodeA);
        replicatorB = new NbdDiskReplicator(nodeB);
        disk = nodeA.export("web-vda", "vda", image);
    }

    @AfterEach
    void stop() {
        nodeA.close();
        nodeB.close();
    }

    static byte[] filled(int length, int value) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) value);
        return b;
    }

    static byte[] read(Path file, int offset, int length) throws IOException {
        return Arrays.copyOfRange(Files.readAllBytes(file), offset, offset + length);
    }

    static void assertSameContent(Path expected, Path actual) throws Exception {
        QemuTools.Result r = qemuImg("compare", "-f", "raw", "-F", "raw", expected.toString(), actual.toString());
        assertEquals(0, r.exit(), r.output());
    }

    @Test
    void supportsNbdDisksOnly() {
        assertEquals("nbd", replicatorA.name());
        assertTrue(replicatorA.supports(disk));
        assertFalse(replicatorA.supports(new GuestDisk("vda", "file", image.toString(), SIZE)));
        assertFalse(replicatorA.supports(new GuestDisk("vda", "nbd", "nbd://host:10809/web", SIZE)));
    }

    @Test
    void aPrimaryNeedsAnExportOfThisNode() {
        IOException e = assertThrows(IOException.class, () -> replicatorB.primary(DOMAIN, disk));
        assertTrue(e.getMessage().contains(nodeB.socket().toString()), e.getMessage());
    }

    @Test
    void theBackupMatchesThePrimaryAtEveryCommit() throws Exception {
        try (DiskReplicator.Primary primary = replicatorA.primary(DOMAIN, disk);
                DiskReplicator.Backup backup = replicatorB.backup(DOMAIN, disk)) {
            Path copy = ((NbdBackup) backup).image();
            assertTrue(copy.getFileName().toString().startsWith("web-vda."), copy.toString());
            assertEquals(SIZE, Files.size(copy));
            List<Long> chunks = new ArrayList<>();
            primary.initialCopy((offset, data) -> {
                if (chunks.isEmpty()) {
                    // the guest writes while the copy runs: behind the copy (not copied) and ahead of it
                    qemuIoOk(disk.source(), "write -P 0x5e 0 64k", "write -P 0x6f 1900k 8k");
                }
                chunks.add(offset);
                backup.writeInitial(offset, data);
            });
            assertEquals(8, chunks.size());

            List<DiskWrite> epoch1 = primary.barrier(1);
            assertEquals(List.of(0L, 1900L << 10), epoch1.stream().map(DiskWrite::offset).toList());
            backup.stage(1, epoch1);
            assertFalse(Arrays.equals(read(image, 0, 4096), read(copy, 0, 4096)), "staged before commit");
            backup.commit(1);
            assertSameContent(image, copy);

            qemuIoOk(disk.source(), "aio_write -P 0x71 100k 4k", "aio_write -P 0x72 102k 4k", "aio_flush",
                    "write -z 1M 128k");
            List<DiskWrite> epoch2 = primary.barrier(2);
            assertEquals(3, epoch2.size());
            backup.stage(2, epoch2);
            primary.committed(1);
            assertFalse(Arrays.equals(filled(4096, 0x71), read(copy, 100 << 10, 4096)), "staged before commit");
            backup.commit(2);
            assertSameContent(image, copy);
            assertTrue(primary.barrier(3).isEmpty());
        }
        qemuIoOk(disk.source(), "write -P 0x10 0 4k");
        try (DiskReplicator.Primary again = replicatorA.primary(DOMAIN, disk)) {
            again.initialCopy((offset, data) -> { });
            assertTrue(again.barrier(1).isEmpty(), "writes before protection are in the initial copy");
        }
    }

    @Test
    void stagedWritesReachTheDiskOnlyAtCommitAndDiscardDropsThem() throws Exception {
        try (NbdBackup backup = replicatorB.backup(DOMAIN, disk)) {
            Path copy = backup.image();
            backup.stage(1, List.of(new DiskWrite(0, filled(512, 1))));
            backup.stage(2, List.of(new DiskWrite(512, filled(512, 2))));
            backup.stage(2, List.of(new DiskWrite(1024, filled(512, 3))));
            assertArrayEquals(new byte[1536], read(copy, 0, 1536));
            backup.commit(1);
            assertEquals(1, backup.committedEpoch());
            assertArrayEquals(filled(512, 1), read(copy, 0, 512));
            assertArrayEquals(new byte[1024], read(copy, 512, 1024));
            backup.discardUncommitted();
            assertEquals(0, backup.stagedEpochs());
            backup.commit(2);
            assertArrayEquals(new byte[1024], read(copy, 512, 1024));
            assertThrows(IllegalStateException.class, () -> backup.stage(2, List.of()));
            assertThrows(IllegalArgumentException.class, () -> backup.stage(3,
                    List.of(new DiskWrite(0, filled(8, 9)), new DiskWrite(SIZE - 4, filled(8, 9)))));
            assertEquals(0, backup.stagedEpochs(), "a bad write stages nothing of its list");
        }
    }

    @Test
    void commitAppliesEveryEpochUpToItInOrderAndOverlappingWritesEndAsOnThePrimary() throws Exception {
        try (NbdBackup backup = replicatorB.backup(DOMAIN, disk)) {
            backup.stage(2, List.of(new DiskWrite(6, filled(4, 3))));
            backup.stage(1, List.of(new DiskWrite(0, filled(8, 1)), new DiskWrite(4, filled(8, 2))));
            backup.stage(3, List.of(new DiskWrite(0, filled(12, 4))));
            backup.commit(2);
            assertArrayEquals(new byte[] {1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 2, 2, 0}, read(backup.image(), 0, 13));
            assertEquals(1, backup.stagedEpochs());
        }
    }

    @Test
    void aNewStreamsInitialCopyLeavesThePreviousStreamsDiskAsItWas() throws Exception {
        NbdBackup first = replicatorB.backup(DOMAIN, disk);
        first.stage(1, List.of(new DiskWrite(0, filled(8, 7))));
        first.commit(1);
        try (NbdBackup second = replicatorB.backup(DOMAIN, disk)) {
            assertTrue(!second.image().equals(first.image()), "one image per stream");
            second.writeInitial(0, ByteBuffer.wrap(filled(8, 9)));
            assertArrayEquals(filled(8, 7), read(first.image(), 0, 8), "the committed replica a failover would use");
            first.close();
            assertTrue(Files.notExists(first.image()), "a superseded image goes when its backup is closed");
            assertArrayEquals(filled(8, 9), read(second.image(), 0, 8));
        }
    }

    @Test
    void activationServesTheDiskAsOfTheLastCommitAndCanBeProtectedBack() throws Exception {
        GuestDisk activated;
        try (NbdBackup backup = replicatorB.backup(DOMAIN, disk)) {
            for (int offset = 0; offset < SIZE; offset += 1 << 20) {
                backup.writeInitial(offset, ByteBuffer.wrap(filled(1 << 20, 0x11)));
            }
            backup.stage(1, List.of(new DiskWrite(0, filled(64 << 10, 0x22))));
            backup.commit(1);
            backup.stage(2, List.of(new DiskWrite(0, filled(64 << 10, 0x33))));
            activated = backup.activate();
            assertEquals(new GuestDisk("vda", "nbd", "nbd+unix:///web-vda?socket=" + nodeB.socket(), SIZE),
                    activated);
            assertThrows(IllegalStateException.class, () -> backup.stage(3, List.of()));
        }
        qemuIoOk(activated.source(), "read -P 0x22 0 64k", "read -P 0x11 64k 1984k", "write -P 0x44 8k 4k");
        assertTrue(replicatorB.supports(activated));
        try (DiskReplicator.Primary back = replicatorB.primary(DOMAIN, activated)) {
            back.initialCopy((offset, data) -> { });
            qemuIoOk(activated.source(), "write -P 0x55 12k 4k");
            List<DiskWrite> writes = back.barrier(1);
            assertEquals(1, writes.size());
            assertArrayEquals(filled(4096, 0x55), writes.get(0).data());
        }
    }

    /**
     * A planned switchover: at the final checkpoint both copies hold the disk; the old primary's image (the very file
     * its export served, no copy) becomes the backup of the new primary, which resumes logging with no initial copy;
     * the new primary's writes reach the old primary's image at each commit, and switching back serves that image
     * again under its old name. A kept image is never deleted.
     */
    @Test
    void aSwitchoverKeepsTheOldPrimarysImageAsTheBackupAndTheNewPrimaryResumesWithoutACopy() throws Exception {
        DiskReplicator.Primary onA = replicatorA.primary(DOMAIN, disk);
        NbdBackup onB = replicatorB.backup(DOMAIN, disk);
        onA.initialCopy(onB::writeInitial);
        qemuIoOk(disk.source(), "write -P 0x21 0 4k");
        onB.stage(7, onA.barrier(7));
        onB.commit(7);
        assertTrue(replicatorA.handsOver() && replicatorB.handsOver());

        // the switchover at checkpoint 7: A's domain stopped (the binding unexported its disk), B activates
        nodeA.unexport("web-vda");
        NbdBackup keptOnA = (NbdBackup) onA.handOver(7);
        assertEquals(image.toRealPath(), keptOnA.image(), "A's copy is the image its export served");
        assertEquals(7, keptOnA.committedEpoch());
        GuestDisk onBDisk = onB.activate();
        DiskReplicator.Primary resumed = replicatorB.resume(DOMAIN, onBDisk, 7);
        assertThrows(IllegalStateException.class, () -> resumed.initialCopy((offset, data) -> {
            throw new AssertionError("nothing is copied");
        }), "the write log runs already");
        qemuIoOk(onBDisk.source(), "write -P 0x32 8k 4k", "write -P 0x33 1M 8k");
        List<DiskWrite> epoch8 = resumed.barrier(8);
        assertEquals(2, epoch8.size(), "every write since the resume, and nothing else");
        keptOnA.stage(8, epoch8);
        assertFalse(Arrays.equals(filled(4096, 0x32), read(image, 8 << 10, 4096)), "staged before commit");
        keptOnA.commit(8);
        assertSameContent(onB.image(), image);
        onB.close();

        // and back at checkpoint 8: B's image is kept there, A serves its own image again under its old name
        nodeB.unexport("web-vda");
        NbdBackup keptOnB = (NbdBackup) resumed.handOver(8);
        GuestDisk again = keptOnA.activate();
        assertEquals(disk, again, "the disk A's domain had before");
        DiskReplicator.Primary onAAgain = replicatorA.resume(DOMAIN, again, 8);
        qemuIoOk(again.source(), "write -P 0x44 0 512");
        keptOnB.stage(9, onAAgain.barrier(9));
        keptOnB.commit(9);
        assertSameContent(image, keptOnB.image());
        onAAgain.close();
        keptOnB.close();
        keptOnA.close();
        assertTrue(Files.exists(keptOnB.image()) && Files.exists(image), "kept images are never deleted");
    }
}
