package io.romulus.qemu.internal.definition;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

/**
 * The lookup by name against libvirt's own test driver ({@code test:///default}, in this process, no daemon; Debian
 * package libvirt0). That driver's state is shared by every connection of the process: the domain a test defines is
 * undefined after it.
 */
class LibvirtLookupTest {

    private static final String URI = "test:///default";
    private static final org.libvirt.jna.Libvirt.VirErrorCallback QUIET = (data, error) -> { };

    @TempDir
    Path tmp;
    private Connect admin;
    private Domain defined;

    @BeforeEach
    void connect() throws LibvirtException {
        Connect.setErrorCallback(QUIET);
        admin = new Connect(URI, false);
    }

    @AfterEach
    void undefine() throws LibvirtException {
        if (defined != null) {
            defined.undefine();
        }
        admin.close();
    }

    @Test
    void aDefinedDomainIsFoundByNameAndTranslates() throws Exception {
        defined = admin.domainDefineXML(Golden.resource("debian12.xml"));

        String xml = LibvirtLookup.domainXml(URI, "debian12");

        LibvirtDomainXml.Definition fromLibvirt = LibvirtDomainXml.parse(xml);
        LibvirtDomainXml.Definition fromFile = LibvirtDomainXml.parse(Golden.resource("debian12.xml"));
        assertEquals("debian12", fromLibvirt.name());
        assertEquals(fromFile.options(), fromLibvirt.options());
        assertEquals(fromFile.options().keySet().stream().toList(), fromLibvirt.options().keySet().stream().toList(),
                "the same order");
    }

    @Test
    void anUnknownNameIsAClearError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LibvirtLookup.domainXml(URI, "no-such-vm"));
        assertTrue(e.getMessage().startsWith("libvirt at test:///default has no domain no-such-vm; it has "),
                e.getMessage());
        assertTrue(e.getMessage().contains("test"), "names the domains there are: " + e.getMessage());
    }

    @Test
    void anUnreachableLibvirtIsAClearError() {
        String uri = "test://" + tmp.resolve("missing-node.xml");
        IOException e = assertThrows(IOException.class, () -> LibvirtLookup.domainXml(uri, "debian12"));
        assertTrue(e.getMessage().startsWith("cannot connect to " + uri + ": "), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LibvirtLookup.domainXml("", "debian12"));
        assertThrows(IllegalArgumentException.class, () -> LibvirtLookup.domainXml(URI, " "));
    }

    @Test
    void theTestDriversOwnDomainIsRefusedNamingWhatIsWrongWithIt() throws Exception {
        // <domain type='test'>, <type arch='i686'>, currentMemory 2 GiB of 8 GiB, a libvirt network, a virtio balloon
        String xml = LibvirtLookup.domainXml(URI, "test");
        assertTrue(xml.contains("<name>test</name>"), xml);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LibvirtDomainXml.parse(xml));

        String message = e.getMessage();
        assertTrue(message.startsWith("5 problems in the libvirt domain XML:"), message);
        for (String expected : new String[] {
            "domain/@type='test' is not supported by the qemu binding: the domain type is kvm or qemu",
            "domain/currentMemory is not supported by the qemu binding: ballooning is not supported: currentMemory"
                    + " (2048 MiB) must equal memory (8192 MiB) or be left out",
            "domain/os/type/@arch='i686' is not supported by the qemu binding",
            "domain/devices/interface[aa:bb:cc:dd:ee:ff]/@type='network' is not supported by the qemu binding: give"
                    + " the bridge that libvirt network uses instead",
            "domain/devices/memballoon/@model='virtio' is not supported by the qemu binding"}) {
            assertTrue(message.contains("\n  " + expected), "expected '" + expected + "' in: " + message);
        }
    }
}
