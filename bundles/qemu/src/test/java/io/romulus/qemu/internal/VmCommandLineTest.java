package io.romulus.qemu.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.qemu.internal.vm.VmDefinition;

import org.junit.jupiter.api.Test;

/** The QEMU command line of a user's VM: its disks on their buses, its NICs, its boot and platform. */
class VmCommandLineTest {

    private static final QemuSettings HOST = new QemuSettings("qemu-system-x86_64", "tcg", Path.of("/dev/shm/r"),
            Path.of("/g/vmlinuz"), Path.of("/g/initrd"), Path.of("/l/p.so"), "uffd", "", "br0", 1000);
    private static final Path DIR = Path.of("/dev/shm/r/db");

    private static List<GuestDisk> served(VmDefinition vm) {
        List<GuestDisk> out = new ArrayList<>();
        vm.disks().forEach(d -> out.add(new GuestDisk(d.dev(), "nbd", "nbd+unix:///qemu-db-" + d.dev()
                + "?socket=/s", 1L << 30)));
        return out;
    }

    private static List<String> taps(VmDefinition vm) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < vm.nics().size(); i++) {
            out.add("rt" + i);
        }
        return out;
    }

    private static List<String> line(VmDefinition vm) {
        return QemuProcess.commandLine("db", DIR, vm, HOST, false, taps(vm), served(vm));
    }

    private static List<String> after(List<String> cmd, String flag) {
        List<String> values = new ArrayList<>();
        for (int i = 0; i < cmd.size() - 1; i++) {
            if (cmd.get(i).equals(flag)) {
                values.add(cmd.get(i + 1));
            }
        }
        return values;
    }

    @Test
    void aBiosBootedVmBootsItsFirstDiskAndKeepsItsMac() {
        VmDefinition vm = VmDefinition.parse(Map.of("memory", "1G", "cpus", "2", "disk.0.file", "/srv/db.img",
                "disk.1.file", "/srv/wal.img", "disk.1.discard", "unmap", "nic.0.mac", "52:54:00:00:00:07"));
        List<String> cmd = line(vm);
        assertFalse(cmd.contains("-kernel"), "SeaBIOS boots the image's own boot loader");
        assertEquals(List.of("pc,memory-backend=ram0"), after(cmd, "-machine"));
        assertEquals(List.of("1024M"), after(cmd, "-m"));
        assertEquals(List.of("2"), after(cmd, "-smp"));
        assertEquals(List.of("file=nbd+unix:///qemu-db-vda?socket=/s,format=raw,if=none,id=disk0,cache=writeback",
                "file=nbd+unix:///qemu-db-vdb?socket=/s,format=raw,if=none,id=disk1,cache=writeback,discard=unmap"),
                after(cmd, "-drive"));
        assertEquals(List.of("virtio-net-pci,netdev=net0,mac=52:54:00:00:00:07,romfile=",
                "virtio-blk-pci,drive=disk0,bootindex=1", "virtio-blk-pci,drive=disk1"), after(cmd, "-device"));
        assertEquals(List.of("tap,id=net0,ifname=rt0,script=no,downscript=no"), after(cmd, "-netdev"));
        assertEquals("file:" + DIR.resolve("console.log"), after(cmd, "-serial").get(0));
    }

    /** The vCPU threads carry names (top -H, the benchmarks' CPU ledger); a QEMU of an earlier binding is still ours. */
    @Test
    void theGuestIsNamedWithItsThreadsAndFoundByNameEitherWay() {
        List<String> cmd = line(VmDefinition.parse(Map.of("memory", "1G", "disk.0.file", "/srv/db.img")));
        assertEquals("romulus-db,debug-threads=on", cmd.get(cmd.indexOf("-name") + 1));
        assertTrue(QemuProcess.namesGuest(cmd, "db"));
        assertTrue(QemuProcess.namesGuest(List.of("qemu-system-x86_64", "-name", "romulus-db"), "db"), "an older QEMU");
        assertFalse(QemuProcess.namesGuest(cmd, "d"));
        assertFalse(QemuProcess.namesGuest(List.of("-name", "romulus-db2,debug-threads=on"), "db"));
    }

    @Test
    void sataAndIdeDisksSitOnTheirControllers() {
        VmDefinition pc = VmDefinition.parse(Map.of("disk.0.file", "/a", "disk.0.bus", "sata", "disk.1.file", "/b",
                "disk.1.bus", "ide", "disk.1.dev", "hdc", "disk.2.file", "/c", "disk.2.bus", "sata", "disk.2.readonly",
                "true"));
        assertEquals(List.of("ahci,id=ahci0", "ide-hd,drive=disk0,bus=ahci0.0,bootindex=1",
                "ide-hd,drive=disk1,bus=ide.1,unit=0", "ide-hd,drive=disk2,bus=ahci0.1"), after(line(pc), "-device"));
        assertTrue(after(line(pc), "-drive").get(2).contains(",readonly=on"));
        VmDefinition q35 = VmDefinition.parse(Map.of("machine", "q35", "disk.0.file", "/a", "disk.0.bus", "sata",
                "disk.0.dev", "sdc"));
        assertEquals(List.of("ide-hd,drive=disk0,bus=ide.2,bootindex=1"), after(line(q35), "-device"),
                "q35 has its AHCI built in");
    }

    @Test
    void directKernelBootAndThePlatformAsTheDefinitionSays() {
        VmDefinition vm = VmDefinition.parse(Map.ofEntries(Map.entry("kernel", "/boot/vmlinuz"),
                Map.entry("initrd", "/boot/initrd"), Map.entry("cmdline", "root=/dev/vda1 console=ttyS0"),
                Map.entry("disk.0.file", "/a"), Map.entry("nic.0.mac", "52:54:00:00:00:01"),
                Map.entry("nic.0.model", "e1000"), Map.entry("cpus", "4"), Map.entry("cpu", "host"),
                Map.entry("cpu.topology", "2,2,1"), Map.entry("clock.hpet", "off"), Map.entry("features", "apic,pae"),
                Map.entry("features.vmport", "off"), Map.entry("clock.offset", "localtime"),
                Map.entry("clock.rtc.driftfix", "slew"), Map.entry("on.reboot", "destroy"), Map.entry("pm.s3", "off"),
                Map.entry("pm.s4", "on")));
        List<String> cmd = line(vm);
        assertEquals(List.of("/boot/vmlinuz"), after(cmd, "-kernel"));
        assertEquals(List.of("/boot/initrd"), after(cmd, "-initrd"));
        assertEquals(List.of("root=/dev/vda1 console=ttyS0"), after(cmd, "-append"));
        assertEquals(List.of("pc,memory-backend=ram0,hpet=off,vmport=off,acpi=off"), after(cmd, "-machine"));
        assertEquals(List.of("4,sockets=2,cores=2,threads=1"), after(cmd, "-smp"));
        assertEquals(List.of("max"), after(cmd, "-cpu"), "host under TCG is QEMU's max");
        assertEquals(List.of("base=localtime,driftfix=slew"), after(cmd, "-rtc"));
        assertTrue(cmd.contains("-no-reboot"));
        assertTrue(after(cmd, "-global").containsAll(List.of("PIIX4_PM.disable_s3=1", "PIIX4_PM.disable_s4=0")));
        assertEquals("e1000,netdev=net0,mac=52:54:00:00:00:01,romfile=", after(cmd, "-device").get(0));
        assertEquals("virtio-blk-pci,drive=disk0", after(cmd, "-device").get(1), "no boot index: the kernel boots");
        List<String> incoming = QemuProcess.commandLine("db", DIR, vm, HOST, true, taps(vm), served(vm));
        assertEquals(List.of("-S", "-incoming", "defer"), incoming.subList(incoming.size() - 3, incoming.size()));
        assertEquals(cmd, incoming.subList(0, incoming.size() - 3), "the backup starts the very same machine");
        assertThrows(IllegalArgumentException.class, () -> QemuProcess.commandLine("db", DIR, vm, HOST, false,
                List.of(), served(vm)), "one tap per NIC");
    }
}
