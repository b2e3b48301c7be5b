package io.romulus.qemu.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

class GuestOptionsTest {

    @Test
    void defaultsAndRoundTripThroughHello() {
        GuestOptions d = GuestOptions.parse(Map.of());
        assertEquals(128L << 20, d.memoryBytes());
        assertEquals("none", d.nic());
        GuestOptions o = GuestOptions.parse(Map.of("memory", "1G", "nic", "tap", "dirty-rate", "-1", "cpus", "2"));
        assertEquals(1L << 30, o.memoryBytes());
        assertEquals(o, GuestOptions.parse(o.toMap()), "what travels in HELLO builds the same guest on the backup");
        assertTrue(o.kernelCommandLine().contains("romulus.dirty.rate=-1"));
    }

    @Test
    void badOptionsAreRefusedWithTheirName() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GuestOptions.parse(Map.of("colour", "red")))
                .getMessage().contains("no option 'colour'"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GuestOptions.parse(Map.of("memory", "lots")))
                .getMessage().contains("memory"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GuestOptions.parse(Map.of("memory", "16M")))
                .getMessage().contains("32M"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GuestOptions.parse(Map.of("nic", "wifi")))
                .getMessage().contains("nic"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GuestOptions.parse(Map.of("mac", "1:2:3")))
                .getMessage().contains("mac"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GuestOptions.parse(Map.of("ip", "10.0.0.1")))
                .getMessage().contains("A.B.C.D/NN"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GuestOptions.parse(Map.of("cpus", "two")))
                .getMessage().contains("whole number"));
    }

    @Test
    void theCommandLineKeepsRamInTheSharedFileAndWaitsForIncomingState() {
        QemuSettings s = new QemuSettings("qemu-system-x86_64", "tcg", Path.of("/dev/shm/r"), Path.of("/g/vmlinuz"),
                Path.of("/g/initrd"), Path.of("/l/p.so"), "uffd", "ns", "br0", 1000);
        GuestOptions o = GuestOptions.parse(Map.of("nic", "tap"));
        List<String> boot = QemuProcess.commandLine("web", Path.of("/dev/shm/r/web"), o, s, false, "rt1", null);
        assertTrue(String.join(" ", boot).contains("mem-path=/dev/shm/r/web/ram,share=on"), boot.toString());
        assertTrue(boot.contains("migration.send-configuration=off"));
        assertTrue(boot.contains("tap,id=net0,ifname=rt1,script=no,downscript=no"));
        assertTrue(!boot.contains("-incoming"));
        List<String> incoming = QemuProcess.commandLine("web", Path.of("/dev/shm/r/web"), o, s, true, "rt1", null);
        assertEquals(List.of("-S", "-incoming", "defer"), incoming.subList(incoming.size() - 3, incoming.size()));
        assertThrows(IllegalArgumentException.class, () -> new QemuSettings("q", "hvf", Path.of("/"), Path.of("/"),
                Path.of("/"), Path.of("/"), "uffd", "", "", 1000));
    }

    @Test
    void aDiskIsAnNbdDriveAndTheJournalServiceListensNextToTheCounter() {
        QemuSettings s = new QemuSettings("qemu-system-x86_64", "tcg", Path.of("/dev/shm/r"), Path.of("/g/vmlinuz"),
                Path.of("/g/initrd"), Path.of("/l/p.so"), "uffd", "", "", 1000);
        GuestOptions o = GuestOptions.parse(Map.of("disk", "64M", "port", "7100"));
        assertEquals(64, o.diskMib());
        assertEquals("64M", o.toMap().get("disk"));
        assertEquals(o, GuestOptions.parse(o.toMap()));
        assertTrue(o.kernelCommandLine().contains("romulus.journal.port=7101"), o.kernelCommandLine());
        assertEquals(0, GuestOptions.parse(Map.of()).diskMib(), "no disk unless asked");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> GuestOptions.parse(Map.of("disk", "1M")))
                .getMessage().contains("disk must be 16M to 1T"));
        io.romulus.api.hypervisor.GuestDisk disk = new io.romulus.api.hypervisor.GuestDisk("vda", "nbd",
                "nbd+unix:///qemu-web?socket=/run/romulus/nbd/nbd.sock", 64L << 20);
        List<String> boot = QemuProcess.commandLine("web", Path.of("/dev/shm/r/web"), o, s, false, "rt1", disk);
        int i = boot.indexOf("-drive");
        assertEquals("file=nbd+unix:///qemu-web?socket=/run/romulus/nbd/nbd.sock,format=raw,if=virtio,cache=writeback",
                boot.get(i + 1));
    }

    @Test
    void aGuestMayNameItsBridgeWhichTravelsInHelloOnlyWhenSet() {
        QemuSettings host = new QemuSettings("qemu-system-x86_64", "tcg", Path.of("/dev/shm/r"),
                Path.of("/g/vmlinuz"), Path.of("/g/initrd"), Path.of("/l/p.so"), "uffd", "ns", "br0", 1000);
        GuestOptions plain = GuestOptions.parse(Map.of("nic", "tap"));
        assertEquals("", plain.bridge());
        assertFalse(plain.toMap().containsKey("bridge"), "a backup that predates the option still accepts the guest");
        assertEquals("br0", plain.bridgeOn(host), "no bridge of its own: the host's");

        GuestOptions own = GuestOptions.parse(Map.of("nic", "tap", "bridge", "br-pair.2"));
        assertEquals("br-pair.2", own.bridge());
        assertEquals("br-pair.2", own.toMap().get("bridge"));
        assertEquals(own, GuestOptions.parse(own.toMap()), "the activated replica joins the same bridge");
        assertEquals("br-pair.2", own.bridgeOn(host), "the guest's bridge overrides the host's");
        assertEquals("br_a", GuestOptions.parse(Map.of("bridge", "br_a")).bridgeOn(new QemuSettings("q", "tcg",
                Path.of("/"), Path.of("/"), Path.of("/"), Path.of("/"), "uffd", "", "", 1000)));
        assertEquals("b23456789012345", GuestOptions.parse(Map.of("bridge", "b23456789012345")).bridge(),
                "15 characters is the most an interface name has");
        assertEquals("", GuestOptions.parse(Map.of("bridge", "")).bridge(), "empty: the host's");

        for (String bad : List.of("b234567890123456", "br 0", "br/0", "br:0", "brück", ".", "..")) {
            String message = assertThrows(IllegalArgumentException.class,
                    () -> GuestOptions.parse(Map.of("bridge", bad)), bad).getMessage();
            assertTrue(message.contains("bridge must be empty") && message.contains("'" + bad + "'"), message);
        }
    }
}
