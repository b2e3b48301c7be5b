package io.romulus.qemu.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import io.romulus.qemu.internal.vm.VmDefinition;
import io.romulus.qemu.internal.vm.VmDisk;

import org.junit.jupiter.api.Test;

class DemoGuestTest {

    @Test
    void defaultsAndRoundTripThroughHello() {
        DemoGuest d = DemoGuest.parse(Map.of());
        assertEquals(128L << 20, d.memoryBytes());
        assertEquals("none", d.nic());
        DemoGuest o = DemoGuest.parse(Map.of("memory", "1G", "nic", "tap", "dirty-rate", "-1", "cpus", "2"));
        assertEquals(1L << 30, o.memoryBytes());
        assertEquals(o, DemoGuest.parse(o.toMap()), "what travels in HELLO builds the same guest on the backup");
        assertTrue(o.kernelCommandLine().contains("romulus.dirty.rate=-1"));
    }

    @Test
    void badOptionsAreRefusedWithTheirName() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DemoGuest.parse(Map.of("colour", "red")))
                .getMessage().contains("no option 'colour'"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DemoGuest.parse(Map.of("memory", "lots")))
                .getMessage().contains("memory"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DemoGuest.parse(Map.of("memory", "16M")))
                .getMessage().contains("32M"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DemoGuest.parse(Map.of("nic", "wifi")))
                .getMessage().contains("nic"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DemoGuest.parse(Map.of("mac", "1:2:3")))
                .getMessage().contains("mac"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DemoGuest.parse(Map.of("ip", "10.0.0.1")))
                .getMessage().contains("A.B.C.D/NN"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DemoGuest.parse(Map.of("cpus", "two")))
                .getMessage().contains("whole number"));
    }

    @Test
    void theCommandLineKeepsRamInTheSharedFileAndWaitsForIncomingState() {
        QemuSettings s = new QemuSettings("qemu-system-x86_64", "tcg", Path.of("/dev/shm/r"), Path.of("/g/vmlinuz"),
                Path.of("/g/initrd"), Path.of("/l/p.so"), "uffd", "ns", "br0", 1000);
        VmDefinition o = DemoGuest.parse(Map.of("nic", "tap")).definition(s, Path.of("/dev/shm/r/web/disk.img"));
        List<String> boot = QemuProcess.commandLine("web", Path.of("/dev/shm/r/web"), o, s, false, List.of("rt1"),
                List.of());
        assertTrue(String.join(" ", boot).contains("mem-path=/dev/shm/r/web/ram,share=on"), boot.toString());
        assertTrue(boot.contains("migration.send-configuration=off"));
        assertTrue(boot.contains("tap,id=net0,ifname=rt1,script=no,downscript=no"));
        assertTrue(!boot.contains("-incoming"));
        assertEquals("/g/vmlinuz", boot.get(boot.indexOf("-kernel") + 1), "the demo boots this host's kernel");
        assertTrue(boot.get(boot.indexOf("-append") + 1).contains("romulus.port=7000"));
        assertEquals("virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56,romfile=", boot.get(boot.indexOf("-netdev") + 3));
        List<String> incoming = QemuProcess.commandLine("web", Path.of("/dev/shm/r/web"), o, s, true, List.of("rt1"),
                List.of());
        assertEquals(List.of("-S", "-incoming", "defer"), incoming.subList(incoming.size() - 3, incoming.size()));
        assertThrows(IllegalArgumentException.class, () -> new QemuSettings("q", "hvf", Path.of("/"), Path.of("/"),
                Path.of("/"), Path.of("/"), "uffd", "", "", 1000));
    }

    @Test
    void aDiskIsAnNbdDriveAndTheJournalServiceListensNextToTheCounter() {
        QemuSettings s = new QemuSettings("qemu-system-x86_64", "tcg", Path.of("/dev/shm/r"), Path.of("/g/vmlinuz"),
                Path.of("/g/initrd"), Path.of("/l/p.so"), "uffd", "", "", 1000);
        DemoGuest o = DemoGuest.parse(Map.of("disk", "64M", "port", "7100"));
        assertEquals(64, o.diskMib());
        assertEquals("64M", o.toMap().get("disk"));
        assertEquals(o, DemoGuest.parse(o.toMap()));
        assertTrue(o.kernelCommandLine().contains("romulus.journal.port=7101"), o.kernelCommandLine());
        assertEquals(0, DemoGuest.parse(Map.of()).diskMib(), "no disk unless asked");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DemoGuest.parse(Map.of("disk", "1M")))
                .getMessage().contains("disk must be 16M to 1T"));
        io.romulus.api.hypervisor.GuestDisk disk = new io.romulus.api.hypervisor.GuestDisk("vda", "nbd",
                "nbd+unix:///qemu-web?socket=/run/romulus/nbd/nbd.sock", 64L << 20);
        VmDefinition vm = o.definition(s, Path.of("/dev/shm/r/web/disk.img"));
        assertEquals(List.of(new VmDisk("/dev/shm/r/web/disk.img", "raw", "virtio", "vda", false, "ignore")),
                vm.disks());
        List<String> boot = QemuProcess.commandLine("web", Path.of("/dev/shm/r/web"), vm, s, false, List.of(),
                List.of(disk));
        int i = boot.indexOf("-drive");
        assertEquals("file=nbd+unix:///qemu-web?socket=/run/romulus/nbd/nbd.sock,format=raw,if=none,id=disk0,"
                + "cache=writeback", boot.get(i + 1));
        assertEquals("virtio-blk-pci,drive=disk0", boot.get(i + 3), "direct kernel boot: no boot index");
    }

    @Test
    void aGuestMayNameItsBridgeWhichTravelsInHelloOnlyWhenSet() {
        QemuSettings host = new QemuSettings("qemu-system-x86_64", "tcg", Path.of("/dev/shm/r"),
                Path.of("/g/vmlinuz"), Path.of("/g/initrd"), Path.of("/l/p.so"), "uffd", "ns", "br0", 1000);
        DemoGuest plain = DemoGuest.parse(Map.of("nic", "tap"));
        assertEquals("", plain.bridge());
        assertFalse(plain.toMap().containsKey("bridge"), "a backup that predates the option still accepts the guest");
        assertEquals("br0", QemuProcess.bridgeOf(plain.definition(host, Path.of("/d")).nics().get(0), host),
                "no bridge of its own: the host's");

        DemoGuest own = DemoGuest.parse(Map.of("nic", "tap", "bridge", "br-pair.2"));
        assertEquals("br-pair.2", own.bridge());
        assertEquals("br-pair.2", own.toMap().get("bridge"));
        assertEquals(own, DemoGuest.parse(own.toMap()), "the activated replica joins the same bridge");
        assertEquals("br-pair.2", QemuProcess.bridgeOf(own.definition(host, Path.of("/d")).nics().get(0), host),
                "the guest's bridge overrides the host's");
        assertEquals("b23456789012345", DemoGuest.parse(Map.of("bridge", "b23456789012345")).bridge(),
                "15 characters is the most an interface name has");
        assertEquals("", DemoGuest.parse(Map.of("bridge", "")).bridge(), "empty: the host's");

        for (String bad : List.of("b234567890123456", "br 0", "br/0", "br:0", "brück", ".", "..")) {
            String message = assertThrows(IllegalArgumentException.class,
                    () -> DemoGuest.parse(Map.of("bridge", bad)), bad).getMessage();
            assertTrue(message.contains("bridge must be empty") && message.contains("'" + bad + "'"), message);
        }
    }
}
