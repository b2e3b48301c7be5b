package io.romulus.xen.internal.libvirt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.romulus.api.hypervisor.HypervisorException;

/**
 * The libvirt layer against libvirt's own test driver ({@code test:///default}: one running HVM domain "test", in
 * this process). Each test gets a fresh driver through a private {@code test://} URI backed by a node XML, so state
 * does not leak between tests.
 */
class LibvirtHostTest {

    @TempDir
    Path tmp;
    private LibvirtHost host;

    @BeforeEach
    void connect() throws Exception {
        host = LibvirtHost.connect(TestDriver.uri(tmp));
    }

    @AfterEach
    void close() {
        host.close();
    }

    @Test
    void listsTheRunningGuestsWithoutDomain0() throws Exception {
        List<LibvirtHost.LibvirtDomain> domains = host.domains();
        assertEquals(List.of("legacy-db", "pv-guest", "pvh-guest"), domains.stream().map(LibvirtHost.LibvirtDomain::name).toList());
        LibvirtHost.LibvirtDomain db = host.domain("legacy-db");
        assertTrue(db.id() > 0, "a domid");
        assertEquals(262144, db.memoryKiB());
        assertTrue(db.running());
    }

    @Test
    void describesInterfacesAndDisks() throws Exception {
        DomainXml xml = host.xml("legacy-db");
        assertEquals(DomainXml.GuestKind.HVM, xml.kind());
        assertEquals("legacy-db", xml.name());
        assertEquals(List.of(new DomainXml.Interface("00:16:3e:12:34:56", "vif-db", "xenbr0", "")), xml.interfaces());
        assertEquals(List.of(new DomainXml.Disk("xvda", "file", "/var/lib/xen/images/legacy-db.img")), xml.disks());
        assertEquals(DomainXml.GuestKind.PV, host.xml("pv-guest").kind());
    }

    @Test
    void namesTheDomainsThereAreWhenOneIsMissing() {
        HypervisorException e = assertThrows(HypervisorException.class, () -> host.domain("nope"));
        assertTrue(e.getMessage().contains("no domain named 'nope'") && e.getMessage().contains("legacy-db"),
                e.getMessage());
    }

    @Test
    void aDefinedButStoppedDomainIsNotProtectable() {
        HypervisorException e = assertThrows(HypervisorException.class, () -> host.domain("stopped"));
        assertTrue(e.getMessage().contains("not running"), e.getMessage());
    }

    @Test
    void deliversLifecycleEvents() throws Exception {
        List<String> events = new CopyOnWriteArrayList<>();
        AutoCloseable subscription = host.onLifecycle((name, event) -> events.add(name + " " + event));
        try {
            host.destroy("pvh-guest");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (events.isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
        } finally {
            subscription.close();
        }
        assertEquals(List.of("pvh-guest STOPPED/DESTROYED"), events);
        assertFalse(host.running("pvh-guest"));
    }

    @Test
    void restoreReportsLibvirtsReasonAndTheFile() throws Exception {
        Path junk = Files.write(tmp.resolve("junk.img"), new byte[] {1, 2, 3});
        HypervisorException e = assertThrows(HypervisorException.class, () -> host.restore(junk));
        assertTrue(e.getMessage().contains("cannot restore " + junk), e.getMessage());
    }

    @Test
    void anUnreachableLibvirtIsAClearError() {
        HypervisorException e = assertThrows(HypervisorException.class,
                () -> LibvirtHost.connect("test:///" + tmp.resolve("missing.xml")));
        assertTrue(e.getMessage().startsWith("libvirt test:///"), e.getMessage());
    }
}
