package io.romulus.qemu.internal;

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

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What {@link QemuReplica#fork} refuses before it starts anything, and that a clone which cannot start leaves nothing
 * behind and the replica as it was. No QEMU needed: a replica is a RAM file, and a QEMU that does not come up is
 * {@code /bin/false}. Clones of real guests are in the e2e tests (QemuForkTest).
 */
class QemuReplicaForkTest {

    private static final int PAGE = 4096;
    private static final DomainId CLONE = DomainId.parse("qemu:db-2");
    private static final ReplicaSpec SPEC = new ReplicaSpec(DomainId.parse("qemu:db"), 32L << 20, PAGE,
            Map.of("memory", "32M", "dirty-mib", "1", "nic", "tap"));

    @TempDir
    Path run;

    private QemuSettings settings(String qemu) {
        return new QemuSettings(qemu, "tcg", run, run.resolve("vmlinuz"), run.resolve("initrd"),
                run.resolve("preload.so"), "compare", "", "", 1000);
    }

    private static String refusal(Replica r, DomainId clone, Map<String, String> overrides) {
        return assertThrows(HypervisorException.class, () -> r.fork(clone, overrides)).getMessage();
    }

    private List<String> dirs() throws IOException {
        try (Stream<Path> list = Files.list(run)) {
            return list.map(p -> p.getFileName().toString()).filter(n -> !n.contains(".replica-")).sorted().toList();
        }
    }

    @Test
    void aReplicaWithNoCommittedEpochHasNothingToClone() throws Exception {
        Replica r = new QemuHypervisor(settings("qemu-system-x86_64")).createReplica(SPEC);
        String m = refusal(r, CLONE, Map.of());
        assertTrue(m.contains("no epoch was committed yet") && m.contains("qemu:db-2"), m);
        assertEquals(List.of(), dirs(), "nothing is left of the clone");
        r.close();
    }

    @Test
    void overridesThatAreNoOptionOrCannotTakeEffectAreRefusedByName() throws Exception {
        Replica r = new QemuHypervisor(settings("qemu-system-x86_64")).createReplica(SPEC);
        r.applyCommitted(QemuReplicaHandOverTest.epoch(1, (byte) 1, 0));
        String m = refusal(r, CLONE, Map.of("colour", "red"));
        assertTrue(m.contains("with other colour:") && m.contains("may override bridge only"), m);
        m = refusal(r, CLONE, Map.of("ip", "10.77.0.11/24", "port", "7001", "bridge", "br1"));
        assertTrue(m.contains("with other ip, port:") && m.contains("does not boot")
                && m.contains("may override bridge only"), m);
        m = refusal(r, CLONE, Map.of("memory", "64M"));
        assertTrue(m.contains("with other memory:"), m);
        m = refusal(r, CLONE, Map.of("bridge", "no such bridge"));
        assertTrue(m.contains("bridge must be empty"), m);
        m = refusal(r, SPEC.id(), Map.of());
        assertTrue(m.contains("needs a name of its own"), m);
        m = refusal(r, DomainId.parse("sim:db-2"), Map.of());
        assertTrue(m.contains("is a QEMU guest (qemu:NAME), not sim:db-2"), m);
        assertEquals(List.of(), dirs());
        assertEquals(1, r.committedEpoch());
        r.close();
    }

    @Test
    void aGuestWithADiskCannotBeCloned() throws Exception {
        ReplicaSpec withDisk = new ReplicaSpec(DomainId.parse("qemu:files"), 32L << 20, PAGE,
                Map.of("memory", "32M", "dirty-mib", "1", "disk", "64M"));
        Replica r = new QemuHypervisor(settings("qemu-system-x86_64")).createReplica(withDisk);
        r.applyCommitted(QemuReplicaHandOverTest.epoch(1, (byte) 1, 0));
        String m = refusal(r, CLONE, Map.of("disk", "0"));
        assertTrue(m.startsWith("cloning a guest with a disk is not supported: its disk(s) (vda)"), m);
        r.close();
    }

    @Test
    void aCloneThatCannotStartLeavesNothingAndTheReplicaGoesOn() throws Exception {
        QemuHypervisor qemu = new QemuHypervisor(settings("/bin/false"));
        Replica r = qemu.createReplica(SPEC);
        r.applyCommitted(QemuReplicaHandOverTest.epoch(1, (byte) 1, 0, 5));
        String m = refusal(r, CLONE, Map.of("bridge", "br-2"));
        assertTrue(m.contains("QEMU for qemu:db-2 did not come up"), m);
        assertEquals(List.of(), dirs(), "the clone's directory is removed");
        assertEquals(List.of(), qemu.domains());

        r.applyCommitted(QemuReplicaHandOverTest.epoch(2, (byte) 2, 5));
        ByteBuffer page = ByteBuffer.allocate(PAGE);
        r.readPage(0, page);
        assertEquals(1, page.get(0));
        page.clear();
        r.readPage(5, page);
        assertEquals(2, page.get(0));
        m = refusal(r, CLONE, Map.of());
        assertFalse(m.contains("being started as a clone"), "the name is free again: " + m);
        r.close();
    }
}
