package io.romulus.xen.internal.libvirt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.HypervisorException;

/** Parsing libvirt's domain XML, and attaching replicated disks to it for a restore. */
class DomainXmlTest {

    private static final String XML = """
            <domain type='xen'>
              <name>db</name>
              <uuid>6695eb01-f6a4-8304-79aa-97f2502e193f</uuid>
              <memory unit='MiB'>512</memory>
              <os><type arch='x86_64' machine='xenfv'>hvm</type></os>
              <devices>
                <disk type='file' device='disk'>
                  <driver name='qemu' type='raw'/>
                  <source file='/var/lib/xen/images/db.img'/>
                  <target dev='xvda' bus='xen'/>
                </disk>
                <disk type='block' device='disk'>
                  <source dev='/dev/drbd/by-res/r1'/>
                  <target dev='xvdb' bus='xen'/>
                </disk>
                <interface type='bridge'>
                  <mac address='00:16:3e:00:00:01'/>
                  <source bridge='xenbr0'/>
                  <target dev='vif3.0'/>
                  <model type='netfront'/>
                </interface>
              </devices>
            </domain>
            """;

    @Test
    void readsWhatTheBindingNeeds() throws Exception {
        DomainXml x = DomainXml.parse(XML);
        assertEquals("db", x.name());
        assertEquals(DomainXml.GuestKind.HVM, x.kind());
        assertEquals(512 * 1024, x.memoryKiB());
        assertEquals(List.of(new DomainXml.Disk("xvda", "file", "/var/lib/xen/images/db.img"),
                new DomainXml.Disk("xvdb", "block", "/dev/drbd/by-res/r1")), x.disks());
        assertEquals(List.of(new DomainXml.Interface("00:16:3e:00:00:01", "vif3.0", "xenbr0", "netfront")),
                x.interfaces());
        assertTrue(assertThrows(HypervisorException.class, () -> DomainXml.parse("<domain><name>")).getMessage()
                .contains("not XML"));
        assertTrue(assertThrows(HypervisorException.class, () -> DomainXml.parse("<domain/>")).getMessage()
                .contains("no <name>"));
    }

    @Test
    void attachesTheBackupsDisksBeforeARestore() throws Exception {
        String rewritten = DomainXml.parse(XML).withDiskSources(Map.of(
                "xvda", new GuestDisk("xvda", "file", "/srv/replica/db-xvda.img", 1L << 30),
                "xvdb", new GuestDisk("xvdb", "drbd", "/dev/drbd7", 1L << 30)));
        DomainXml x = DomainXml.parse(rewritten);
        assertEquals(List.of(new DomainXml.Disk("xvda", "file", "/srv/replica/db-xvda.img"),
                new DomainXml.Disk("xvdb", "block", "/dev/drbd7")), x.disks());
        assertEquals("db", x.name());
        assertEquals(1, x.interfaces().size(), "everything else is kept");
        HypervisorException nbd = assertThrows(HypervisorException.class, () -> DomainXml.parse(XML).withDiskSources(
                Map.of("xvda", new GuestDisk("xvda", "nbd", "nbd+unix:///x?socket=/s", 1))));
        assertTrue(nbd.getMessage().contains("cannot attach"), nbd.getMessage());
        HypervisorException missing = assertThrows(HypervisorException.class, () -> DomainXml.parse(XML)
                .withDiskSources(Map.of("xvdz", new GuestDisk("xvdz", "file", "/x", 1))));
        assertTrue(missing.getMessage().contains("no disk xvdz"), missing.getMessage());
    }
}
