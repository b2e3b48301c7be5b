package io.romulus.qemu.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.qemu.internal.vm.VmDefinition;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The files a stopping version of the binding leaves for the next one read back as they were written. */
class StateFileTest {

    @TempDir
    Path dir;

    @Test
    void aGuestStateFileReadsBackAsWritten() throws IOException {
        Map<String, String> options = VmDefinition.parse(Map.of("memory", "256M", "nic.0.mac", "52:54:00:aa:bb:cc",
                "nic.1.mac", "52:54:00:aa:bb:cd", "nic.1.model", "e1000", "disk.0.file", "/srv/web.img",
                "disk.1.file", "/srv/data.img", "cmdline", "")).toMap();
        GuestStateFile written = new GuestStateFile("web", options, 256L << 20, 4096, List.of("rt0a1b2c3d",
                "rt0a1b2c3dn1"), "tcg", "hostA", "br0", "uffd",
                List.of(new GuestDisk("vda", "nbd", "nbd+unix:///qemu-web?socket=/run/x.sock", 64L << 20),
                        new GuestDisk("vdb", "nbd", "nbd+unix:///qemu-web-vdb?socket=/run/x.sock", 1L << 30)),
                false, "none").held("uffd");
        written.write(dir);
        GuestStateFile read = GuestStateFile.read(dir);
        assertEquals(written, read);
        assertTrue(read.held());
        assertEquals("uffd", read.dirtyLog());
        assertEquals(options, read.options());
        assertEquals(VmDefinition.parse(options), VmDefinition.parse(read.options()), "the guest is the same machine");
        assertEquals(List.copyOf(options.keySet()), List.copyOf(read.options().keySet()), "in the same order");
        assertEquals(written.released(), GuestStateFile.read(writeAgain(written.released())));
    }

    @Test
    void aGuestWithoutNicOrDiskReadsBackWithEmptyLists() throws IOException {
        GuestStateFile written = new GuestStateFile("plain", DemoGuest.parse(Map.of()).toMap(), 128L << 20, 4096,
                List.of(), "kvm", "", "", "compare", List.of(), true, "compare");
        written.write(dir);
        assertEquals(written, GuestStateFile.read(dir));
    }

    private Path writeAgain(GuestStateFile f) throws IOException {
        f.write(dir);
        assertTrue(Files.notExists(dir.resolve(GuestStateFile.NAME + ".tmp")), "written in one step");
        return dir;
    }

    @Test
    void aReplicaStateFileReadsBackAsWritten() throws IOException {
        ReplicaStateFile written = new ReplicaStateFile(new ReplicaSpec(DomainId.parse("qemu:db"), 64L << 20, 4096,
                Map.of("memory", "64M", "dirty-mib", "8")), 4711);
        written.write(dir);
        ReplicaStateFile read = ReplicaStateFile.read(dir);
        assertEquals(written.spec(), read.spec());
        assertEquals(4711, read.committedEpoch());
    }

    @Test
    void aFileOfAnotherFormatIsRefused() throws IOException {
        Files.writeString(dir.resolve(GuestStateFile.NAME), "{\"format\":1,\"name\":\"x\"}");
        IOException e = assertThrows(IOException.class, () -> GuestStateFile.read(dir));
        assertTrue(e.getMessage().contains("format 2"), e.getMessage());
        Files.writeString(dir.resolve(ReplicaStateFile.NAME), "{\"format\":1,\"memoryBytes\":4096}");
        assertThrows(IOException.class, () -> ReplicaStateFile.read(dir));
    }
}
