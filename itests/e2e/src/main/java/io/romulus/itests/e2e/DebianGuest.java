package io.romulus.itests.e2e;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The Debian 12 guest of native/debian as a user would hand it to Romulus: its image directory and the libvirt domain
 * XML of the VM. Shared by the failover test and the pgbench benchmark, so both protect the same machine.
 */
public final class DebianGuest {

    /** The address the guest gives eth0 when its kernel command line names none. */
    public static final String IP = "10.77.0.10";
    /** What the guest prints on ttyS0 once PostgreSQL, Redis and nginx accept connections. */
    public static final String READY = "ROMULUS-DEBIAN-READY";

    private DebianGuest() {
    }

    /**
     * The directory that holds {@code debian.img} and {@code big.sha256}, checked.
     *
     * @throws IllegalStateException saying what is missing and how to build it
     */
    public static Path directory(Path dir) {
        for (String f : List.of("debian.img", "big.sha256")) {
            if (!Files.isReadable(dir.resolve(f))) {
                throw new IllegalStateException(dir.resolve(f).toAbsolutePath() + " is missing: build the Debian guest"
                        + " first (mvn -pl native install, which scripts/test runs)");
            }
        }
        return dir;
    }

    /** The user's own VM as {@code virsh dumpxml} would give it (BIOS boot, virtio disk and NIC on br0, serial). */
    public static String domainXml(Path image) {
        return """
                <domain type='kvm'>
                  <name>pg</name>
                  <uuid>6c1e7f2a-8d3b-4e5f-9a0b-1c2d3e4f5a6b</uuid>
                  <memory unit='KiB'>524288</memory>
                  <currentMemory unit='KiB'>524288</currentMemory>
                  <vcpu placement='static'>1</vcpu>
                  <os>
                    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
                    <boot dev='hd'/>
                  </os>
                  <features>
                    <acpi/>
                    <apic/>
                  </features>
                  <clock offset='utc'/>
                  <on_poweroff>destroy</on_poweroff>
                  <on_reboot>restart</on_reboot>
                  <on_crash>destroy</on_crash>
                  <devices>
                    <emulator>/usr/bin/qemu-system-x86_64</emulator>
                    <disk type='file' device='disk'>
                      <driver name='qemu' type='raw'/>
                      <source file='%s'/>
                      <target dev='vda' bus='virtio'/>
                      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
                    </disk>
                    <controller type='pci' index='0' model='pci-root'/>
                    <interface type='bridge'>
                      <mac address='52:54:00:12:34:56'/>
                      <source bridge='br0'/>
                      <model type='virtio'/>
                    </interface>
                    <serial type='pty'>
                      <target port='0'/>
                    </serial>
                    <console type='pty'>
                      <target type='serial' port='0'/>
                    </console>
                    <memballoon model='none'/>
                  </devices>
                </domain>
                """.formatted(image);
    }
}
