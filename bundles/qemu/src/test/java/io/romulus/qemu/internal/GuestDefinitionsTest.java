package io.romulus.qemu.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.qemu.internal.vm.VmDefinition;
import io.romulus.qemu.internal.vm.VmDisk;
import io.romulus.qemu.internal.vm.VmNic;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What {@code romulus:protect qemu:NAME -o ...} resolves to: a domain XML, a VM's own keys, or the demo guest. */
class GuestDefinitionsTest {

    private static final DomainId PG = DomainId.parse("qemu:pg");

    @TempDir
    Path dir;

    private final GuestDefinitions definitions = new GuestDefinitions(new QemuSettings("qemu-system-x86_64", "tcg",
            Path.of("/dev/shm/r"), Path.of("/g/vmlinuz"), Path.of("/g/initrd"), Path.of("/l/p.so"), "uffd", "", "",
            1000));

    private Path xml(String resource) throws IOException {
        Path file = dir.resolve(resource);
        try (InputStream in = getClass().getResourceAsStream("/libvirt/" + resource)) {
            Files.copy(in, file);
        }
        return file;
    }

    @Test
    void aDomainXmlBecomesTheVmWithTheOptionsOverridingIt() throws Exception {
        Path file = xml("debian12.xml");
        GuestDefinitions.Resolved r = definitions.resolve(PG, Map.of("xml", file.toString(), "memory", "1G",
                "nic.0.bridge", "br-db"));
        assertNull(r.demo());
        VmDefinition vm = r.vm();
        assertEquals(1L << 30, vm.memoryBytes(), "-o memory overrides the XML's 2 GiB");
        assertEquals(2, vm.cpus());
        assertEquals("q35", vm.machine());
        assertEquals(List.of(new VmDisk("/var/lib/libvirt/images/debian.img", "raw", "virtio", "vda", false,
                "ignore")), vm.disks());
        assertEquals(List.of(new VmNic("virtio", "52:54:00:3a:7e:91", "br-db")), vm.nics());
        assertTrue(r.notes().stream().anyMatch(n -> n.startsWith(file + ": ") && n.contains("emulator")), r.notes()
                .toString());
        assertTrue(r.notes().stream().anyMatch(n -> n.contains("names the VM 'debian12'; Romulus protects it as "
                + "qemu:pg")), r.notes().toString());
        assertEquals(vm, VmDefinition.parse(vm.toMap()), "the backup gets the same machine");
    }

    @Test
    void everyGoldenDomainOfTheTranslationIsAMachineTheBindingStarts() throws Exception {
        for (String name : List.of("debian12.xml", "kernel-boot.xml", "q35-sata.xml")) {
            VmDefinition vm = definitions.resolve(PG, Map.of("xml", xml(name).toString())).vm();
            assertEquals(vm, VmDefinition.parse(vm.toMap()), name);
            List<String> cmd = QemuProcess.commandLine("pg", dir, vm, new QemuSettings("qemu-system-x86_64", "tcg",
                    dir, dir, dir, dir, "uffd", "", "", 1000), false, vm.nics().stream().map(n -> "rt").toList(),
                    vm.disks().stream().map(d -> new io.romulus.api.hypervisor.GuestDisk(d.dev(), "nbd",
                            "nbd+unix:///x?socket=/s", 1L << 30)).toList());
            assertTrue(cmd.contains("-machine"), name);
        }
    }

    @Test
    void theDebianGuestsDefinitionAsTheDemoAndTheEndToEndTestsUseIt() throws Exception {
        Path file = dir.resolve("pg.xml");
        Files.writeString(file, Files.readString(Path.of("../../native/debian/domain.xml")).replace("@IMAGE@",
                "/srv/pg.img"));
        GuestDefinitions.Resolved r = definitions.resolve(PG, Map.of("xml", file.toString()));
        assertEquals(VmDefinition.parse(Map.ofEntries(Map.entry("memory", "512M"), Map.entry("cpus", "1"),
                Map.entry("disk.0.file", "/srv/pg.img"), Map.entry("nic.0.mac", "52:54:00:12:34:56"),
                Map.entry("nic.0.bridge", "br0"), Map.entry("serial", "ttyS0"), Map.entry("clock.offset", "utc"),
                Map.entry("features", "acpi,apic"), Map.entry("on.poweroff", "destroy"),
                Map.entry("on.reboot", "restart"), Map.entry("on.crash", "destroy"))), r.vm());
        assertEquals("/srv/pg.img", r.vm().disks().get(0).file());
        assertEquals(512L << 20, r.vm().memoryBytes());
        assertTrue(r.notes().stream().noneMatch(n -> n.contains("names the VM '")), r.notes().toString());
    }

    @Test
    void whatCannotBeUsedIsRefusedWithTheFileNamed() throws Exception {
        Path bad = dir.resolve("bad.xml");
        Files.writeString(bad, "<domain type='kvm'><name>x</name><memory>524288</memory><vcpu>1</vcpu>"
                + "<os><type arch='x86_64'>hvm</type></os><devices><hostdev mode='subsystem'/></devices></domain>");
        String m = assertThrows(IllegalArgumentException.class, () -> definitions.resolve(PG,
                Map.of("xml", bad.toString()))).getMessage();
        assertTrue(m.startsWith(bad + ": ") && m.contains("domain/devices/hostdev"), m);
        m = assertThrows(IllegalArgumentException.class, () -> definitions.resolve(PG,
                Map.of("xml", dir.resolve("none.xml").toString()))).getMessage();
        assertTrue(m.contains("cannot read the libvirt domain XML"), m);
        m = assertThrows(IllegalArgumentException.class, () -> definitions.resolve(PG, Map.of("xml", "/a",
                "libvirt", "pg"))).getMessage();
        assertTrue(m.contains("not both"), m);
        Path file = xml("debian12.xml");
        m = assertThrows(IllegalArgumentException.class, () -> definitions.resolve(PG, Map.of("xml",
                file.toString(), "colour", "red"))).getMessage();
        assertTrue(m.contains("no VM option 'colour'"), m);
    }

    @Test
    void aLibvirtDomainIsLookedUpByNameAtTheConfiguredUri() throws Exception {
        // libvirt's test driver, in this process: its state is shared by every connection of the process
        org.libvirt.Connect.setErrorCallback((data, error) -> { });
        org.libvirt.Connect admin = new org.libvirt.Connect("test:///default", false);
        String xml = Files.readString(Path.of("../../native/debian/domain.xml")).replace("@IMAGE@", "/srv/pg.img")
                .replace("<name>pg</name>", "<name>legacy-db</name>");
        org.libvirt.Domain defined = admin.domainDefineXML(xml);
        try {
            GuestDefinitions atTest = new GuestDefinitions(new QemuSettings("qemu-system-x86_64", "tcg",
                    Path.of("/dev/shm/r"), Path.of("/g/vmlinuz"), Path.of("/g/initrd"), Path.of("/l/p.so"), "uffd", "",
                    "", 1000, Path.of("/var/lib/romulus/disks"), "test:///default"));
            GuestDefinitions.Resolved r = atTest.resolve(PG, Map.of("libvirt", "legacy-db", "memory", "1G"));
            assertEquals("/srv/pg.img", r.vm().disks().get(0).file());
            assertEquals(1L << 30, r.vm().memoryBytes(), "-o overrides what libvirt says");
            assertTrue(r.notes().stream().anyMatch(n -> n.startsWith("libvirt domain legacy-db at test:///default: ")),
                    r.notes().toString());
            String m = assertThrows(IllegalArgumentException.class, () -> atTest.resolve(PG,
                    Map.of("libvirt", "no-such-vm"))).getMessage();
            assertTrue(m.contains("has no domain no-such-vm"), m);
        } finally {
            defined.undefine();
            admin.close();
        }
    }

    @Test
    void withoutADefinitionItIsTheVmsOwnKeysOrTheDemoGuest() throws Exception {
        GuestDefinitions.Resolved own = definitions.resolve(PG, Map.of("disk.0.file", "/srv/pg.img", "nic.0.mac",
                "52:54:00:00:00:01"));
        assertEquals("/srv/pg.img", own.vm().disks().get(0).file());
        GuestDefinitions.Resolved demo = definitions.resolve(PG, Map.of("memory", "128M", "nic", "tap"));
        assertNull(demo.vm());
        assertEquals(128L << 20, demo.demo().memoryBytes());
    }
}
