package io.romulus.qemu.internal.vm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** A VM's definition: defaults, the canonical map that travels in HELLO, and refusals that name what is wrong. */
class VmDefinitionTest {

    private static String refusal(Map<String, String> options) {
        return assertThrows(IllegalArgumentException.class, () -> VmDefinition.parse(options)).getMessage();
    }

    @Test
    void sizesAndTopologiesThatOverflowAreRefusedNotWrappedAround() {
        // 2^34+1 GiB shifted into a long is 1 GiB; 1073741825 * 4 * 1 in an int is 4 (VmOptionsFuzzTest's property)
        assertTrue(refusal(Map.of("disk.0.file", "/x", "memory", "17179869185G")).contains("too large"));
        assertTrue(refusal(Map.of("disk.0.file", "/x", "memory", "99999999999999999999")).contains("too large"));
        assertTrue(refusal(Map.of("disk.0.file", "/x", "cpus", "4", "cpu.topology", "1073741825,4,1"))
                .contains("whose product is cpus"));
        assertEquals(4, VmDefinition.parse(Map.of("disk.0.file", "/x", "cpus", "4", "cpu.topology", "1,2,2")).cpus());
    }

    @Test
    void aVmOfItsOwnDiskAndNicWithTheDefaults() {
        VmDefinition vm = VmDefinition.parse(Map.of("disk.0.file", "/srv/pg.img", "nic.0.mac", "52:54:00:AA:BB:01"));
        assertEquals(512L << 20, vm.memoryBytes());
        assertEquals(1, vm.cpus());
        assertEquals("pc", vm.machine());
        assertFalse(vm.directKernelBoot(), "no kernel: BIOS boot from its first disk");
        assertEquals(List.of(new VmDisk("/srv/pg.img", "raw", "virtio", "vda", false, "ignore")), vm.disks());
        assertEquals(List.of(new VmNic("virtio", "52:54:00:aa:bb:01", "")), vm.nics());
        assertTrue(VmDefinition.isVmMap(Map.of("disk.0.file", "/x")));
        assertFalse(VmDefinition.isVmMap(Map.of("memory", "1G", "port", "7000")), "the demo guest's options");
    }

    @Test
    void theCanonicalMapReadsBackAsTheSameMachine() {
        Map<String, String> given = new LinkedHashMap<>();
        given.put("memory", "2G");
        given.put("cpus", "4");
        given.put("machine", "q35");
        given.put("cpu", "host");
        given.put("cpu.topology", "1,2,2");
        given.put("kernel", "/boot/vmlinuz");
        given.put("initrd", "/boot/initrd.img");
        given.put("cmdline", "root=/dev/sda1 console=ttyS0");
        given.put("disk.0.file", "/srv/root.img");
        given.put("disk.0.bus", "sata");
        given.put("disk.1.file", "/srv/data.qcow2");
        given.put("disk.1.format", "qcow2");
        given.put("disk.1.discard", "unmap");
        given.put("disk.1.readonly", "yes");
        given.put("nic.0.model", "e1000");
        given.put("nic.0.mac", "52:54:00:00:00:01");
        given.put("nic.0.bridge", "br-db");
        given.put("nic.1.mac", "52:54:00:00:00:02");
        given.put("clock.offset", "localtime");
        given.put("clock.hpet", "off");
        given.put("on.reboot", "destroy");
        given.put("pm.s3", "off");
        given.put("features", "acpi,apic");
        VmDefinition vm = VmDefinition.parse(given);
        assertEquals(List.of("sda", "vda"), vm.disks().stream().map(VmDisk::dev).toList(), "each bus counts its own");
        assertEquals(vm, VmDefinition.parse(vm.toMap()), "what travels in HELLO builds the same machine on the backup");
        assertEquals(vm.toMap(), VmDefinition.parse(vm.toMap()).toMap());
        assertEquals("machine", vm.toMap().keySet().iterator().next(), "a canonical map is known by its machine key");
        assertEquals("br-2", vm.withBridge("br-2").nics().get(1).bridge());
        assertEquals(2, vm.withBridge("br-2").nics().size());
    }

    @Test
    void whatIsWrongIsNamed() {
        assertTrue(refusal(Map.of("disk.0.file", "/a", "colour", "red")).contains("no VM option 'colour'"));
        assertTrue(refusal(Map.of("disk.0.file", "/a", "disk.0.size", "1G")).contains("no option 'disk.0.size'"));
        assertTrue(refusal(Map.of("disk.1.file", "/a")).contains("disk.0 is missing"));
        assertTrue(refusal(Map.of("disk.0.format", "raw", "kernel", "/k")).contains("disk.0 has no file"));
        assertTrue(refusal(Map.of("disk.0.file", "relative.img")).contains("absolute path"));
        assertTrue(refusal(Map.of("disk.0.file", "/a", "disk.0.format", "vmdk")).contains("raw or qcow2"));
        assertTrue(refusal(Map.of("disk.0.file", "/a", "disk.0.bus", "scsi")).contains("virtio, sata or ide"));
        assertTrue(refusal(Map.of("disk.0.file", "/a", "nic.0.model", "virtio")).contains("has no mac"));
        assertTrue(refusal(Map.of("disk.0.file", "/a", "nic.0.mac", "01:00:5e:00:00:01")).contains("unicast"));
        assertTrue(refusal(Map.of("disk.0.file", "/a", "nic.0.mac", "52:54:00:00:00:01", "nic.1.mac",
                "52:54:00:00:00:01")).contains("two NICs have MAC"));
        assertTrue(refusal(Map.of("nic.0.mac", "52:54:00:00:00:01")).contains("boots from its first disk"));
        assertTrue(refusal(Map.of("disk.0.file", "/a", "disk.0.bus", "ide", "machine", "q35"))
                .contains("needs machine pc"));
        assertTrue(refusal(Map.of("disk.0.file", "/a", "cpus", "4", "cpu.topology", "1,1,2")).contains("product"));
        assertTrue(refusal(Map.of("disk.0.file", "/a", "clock.offset", "timezone")).contains("utc"));
        assertTrue(refusal(Map.of("disk.0.file", "/a", "features", "acpi,hap")).contains("comma list"));
        assertTrue(refusal(Map.of("disk.0.file", "/a", "memory", "16M")).contains("32M to 64G"));
        assertTrue(refusal(Map.of("disk.0.file", "/a", "machine", "virt")).contains("pc or q35"));
        assertTrue(refusal(Map.of("initrd", "/i", "disk.0.file", "/a")).contains("need a kernel"));
    }
}
