package io.romulus.qemu.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Replicas survive an engine update (detach, adopt) and the binding's own update (a new instance on the same run
 * directory), at their committed epoch with their pages and device state; state left by guests that are gone is
 * removed. No QEMU needed: a replica is a RAM file until it is activated.
 */
class QemuReplicaHandOverTest {

    private static final int PAGE = 4096;
    static final ReplicaSpec SPEC = new ReplicaSpec(DomainId.parse("qemu:db"), 32L << 20, PAGE,
            Map.of("memory", "32M", "dirty-mib", "1"));

    @TempDir
    Path run;

    private QemuSettings settings() {
        return new QemuSettings("qemu-system-x86_64", "tcg", run, run.resolve("vmlinuz"), run.resolve("initrd"),
                run.resolve("preload.so"), "uffd", "", "", 1000);
    }

    /** Epoch {@code n}: pages {@code pfns} filled with {@code fill}, device state {@code dev<fill>}. */
    static CommittedEpoch epoch(long n, byte fill, long... pfns) {
        ByteBuffer pages = ByteBuffer.allocate(pfns.length * PAGE);
        for (int i = 0; i < pages.capacity(); i++) {
            pages.put(i, fill);
        }
        return new CommittedEpoch(n, pfns, pfns.length, pages, new byte[] {'d', 'e', 'v', fill});
    }

    private static byte firstByte(Replica r, long pfn) throws HypervisorException {
        ByteBuffer page = ByteBuffer.allocate(PAGE);
        r.readPage(pfn, page);
        return page.get(0);
    }

    @Test
    void aDetachedReplicaIsAdoptedAtItsEpochAndGoesOn() throws Exception {
        QemuHypervisor qemu = new QemuHypervisor(settings());
        Replica first = qemu.createReplica(SPEC);
        first.applyCommitted(epoch(1, (byte) 1, 3, 4));
        first.detach();
        assertThrows(HypervisorException.class, () -> first.applyCommitted(epoch(2, (byte) 2, 3)),
                "the detached handle is unusable");
        first.close(); // does nothing: the replica is kept for the next engine

        Replica second = qemu.adoptReplica(SPEC).orElseThrow();
        assertEquals(1, second.committedEpoch());
        assertEquals(1, firstByte(second, 4));
        second.applyCommitted(epoch(2, (byte) 2, 4));
        assertEquals(2, firstByte(second, 4));
        assertEquals(1, firstByte(second, 3));
        assertTrue(qemu.adoptReplica(SPEC).isEmpty(), "adopted once");
        second.close();
        assertEquals(List.of(), replicaDirs(), "closing the adopted replica drops it");
    }

    @Test
    void aReplicaSurvivesTheBindingsOwnUpdate() throws Exception {
        QemuHypervisor old = new QemuHypervisor(settings());
        Replica r = old.createReplica(SPEC);
        r.writeInitial(new long[] {7}, 0, 1, ByteBuffer.wrap(filled((byte) 9)));
        r.applyCommitted(epoch(5, (byte) 5, 8));
        old.deactivate();
        r.close(); // the old handle after the update: must not remove what the next version adopts
        assertThrows(HypervisorException.class, () -> r.applyCommitted(epoch(6, (byte) 6, 8)));

        QemuHypervisor next = new QemuHypervisor(settings());
        Replica adopted = next.adoptReplica(SPEC).orElseThrow();
        assertEquals(5, adopted.committedEpoch());
        assertEquals(9, firstByte(adopted, 7));
        assertEquals(5, firstByte(adopted, 8));
        Path dir = replicaDirs().get(0);
        assertFalse(Files.exists(dir.resolve(ReplicaStateFile.NAME)), "the state file is taken");
        adopted.applyCommitted(epoch(6, (byte) 6, 8));

        // and once more, detached in between: the device state of epoch 6 is what the next one would activate
        adopted.detach();
        next.deactivate();
        assertArrayEquals(new byte[] {'d', 'e', 'v', 6}, Files.readAllBytes(dir.resolve(ReplicaStateFile.DEVICE_STATE)));
        QemuHypervisor third = new QemuHypervisor(settings());
        Replica again = third.adoptReplica(SPEC).orElseThrow();
        assertEquals(6, again.committedEpoch());
        assertEquals(6, firstByte(again, 8));
        // a new replica of the same domain in this JVM gets a directory of its own
        Replica fresh = third.createReplica(new ReplicaSpec(DomainId.parse("qemu:other"), 32L << 20, PAGE,
                Map.of("memory", "32M", "dirty-mib", "1")));
        assertEquals(-1, fresh.committedEpoch());
        assertEquals(6, again.committedEpoch());
        again.close();
        fresh.close();
        assertEquals(List.of(), replicaDirs());
    }

    @Test
    void aKeptReplicaOfAnotherSizeIsDroppedNotAdopted() throws Exception {
        QemuHypervisor old = new QemuHypervisor(settings());
        old.createReplica(SPEC).applyCommitted(epoch(1, (byte) 1, 0));
        old.deactivate();
        QemuHypervisor next = new QemuHypervisor(settings());
        ReplicaSpec bigger = new ReplicaSpec(SPEC.id(), 64L << 20, PAGE, Map.of("memory", "64M", "dirty-mib", "1"));
        assertTrue(next.adoptReplica(bigger).isEmpty());
        assertEquals(List.of(), replicaDirs(), "dropped");
        assertTrue(next.adoptReplica(SPEC).isEmpty());
    }

    @Test
    void aGuestThatIsGoneIsCleanedUpNotAdopted() throws Exception {
        Path dir = run.resolve("gone");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("ram"), "x");
        // a pid that is alive but not that guest's QEMU: this JVM
        Files.writeString(dir.resolve("qemu.pid"), Long.toString(ProcessHandle.current().pid()));
        new GuestStateFile("gone", DemoGuest.parse(Map.of()).toMap(), 128L << 20, PAGE, List.of(), "tcg", "", "",
                "uffd", List.of(), false, "none").held("uffd").write(dir);
        QemuHypervisor next = new QemuHypervisor(settings());
        assertFalse(Files.exists(dir), "its directory is removed");
        assertTrue(next.adopt(DomainId.parse("qemu:gone")).isEmpty());
        assertEquals(List.of(), next.domains());
    }

    private static byte[] filled(byte b) {
        byte[] page = new byte[PAGE];
        java.util.Arrays.fill(page, b);
        return page;
    }

    private List<Path> replicaDirs() throws IOException {
        try (Stream<Path> s = Files.list(run)) {
            return s.filter(p -> p.getFileName().toString().contains(".replica-")).toList();
        }
    }
}
