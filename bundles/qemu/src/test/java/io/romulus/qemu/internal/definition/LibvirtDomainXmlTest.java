package io.romulus.qemu.internal.definition;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The translation of whole, realistic domain XMLs against their golden translations, the units of memory, and the
 * parser's handling of files, malformed XML and external entities.
 */
class LibvirtDomainXmlTest {

    /** A small VM the binding accepts, to vary one thing at a time. */
    static final String MINIMAL = """
            <domain type='kvm'>
              <name>web</name>
              <memory unit='MiB'>256</memory>
              <vcpu>2</vcpu>
              <os>
                <type arch='x86_64' machine='pc'>hvm</type>
                <boot dev='hd'/>
              </os>
              <features><acpi/><apic/></features>
              <clock offset='utc'/>
              <devices>
                <disk type='file' device='disk'>
                  <driver name='qemu' type='raw'/>
                  <source file='/images/web.img'/>
                  <target dev='vda' bus='virtio'/>
                </disk>
                <interface type='bridge'>
                  <mac address='52:54:00:00:00:01'/>
                  <source bridge='br0'/>
                  <model type='virtio'/>
                </interface>
                <serial type='pty'/>
                <memballoon model='none'/>
              </devices>
            </domain>
            """;

    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"debian12", "kernel-boot", "q35-sata"})
    void translatesRealisticDomainsAsTheirGoldenFilesSay(String name) {
        LibvirtDomainXml.Definition d = LibvirtDomainXml.parse(Golden.resource(name + ".xml"));
        assertEquals(Golden.resource(name + ".expected"), Golden.render(d));
    }

    @Test
    void theDebianVmAsVirtInstallMadeItIsRefusedForItsChannelBalloonAndRng() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LibvirtDomainXml.parse(Golden.resource("debian12-virt-install.xml")));
        assertEquals("""
                3 problems in the libvirt domain XML:
                  domain/devices/channel is not supported by the qemu binding
                  domain/devices/memballoon/@model='virtio' is not supported by the qemu binding: ballooning is not \
                supported; use <memballoon model='none'/>
                  domain/devices/rng is not supported by the qemu binding""", e.getMessage());
    }

    @Test
    void theMinimalDomainIsAcceptedWithTheKeysItSpeaksTo() {
        LibvirtDomainXml.Definition d = LibvirtDomainXml.parse(MINIMAL);
        assertEquals("web", d.name());
        assertEquals(List.of("memory", "cpus", "machine", "disk.0.file", "disk.0.format", "disk.0.bus", "disk.0.dev",
                "nic.0.model", "nic.0.mac", "nic.0.bridge", "serial", "clock.offset", "features"),
                List.copyOf(d.options().keySet()));
        assertEquals("256M", d.options().get("memory"));
        assertEquals("ttyS0", d.options().get("serial"));
        assertThrows(UnsupportedOperationException.class, () -> d.options().put("memory", "1G"));
    }

    @ParameterizedTest(name = "{0} {1} is {2}")
    @CsvSource({
        "2097152, KiB, 2048M",
        "2097152, '', 2048M",
        "2097152, k, 2048M",
        "2097152, K, 2048M",
        "2147483648, b, 2048M",
        "2147483648, bytes, 2048M",
        "2048, MiB, 2048M",
        "2048, M, 2048M",
        "2, GiB, 2048M",
        "2, G, 2048M",
        "2, gib, 2048M",
        "1, TiB, 1048576M",
        "1, T, 1048576M",
        "131072, KB, 125M",
        "1048576, MB, 1000000M",
        "4096, GB, 3906250M",
        "1048576, TB, 1000000000000M",
    })
    void memoryIsWholeMibWhateverTheUnit(String value, String unit, String expected) {
        String memory = unit.isEmpty() ? "<memory>" + value + "</memory>"
                : "<memory unit='" + unit + "'>" + value + "</memory>";
        String xml = MINIMAL.replace("<memory unit='MiB'>256</memory>", memory);
        assertEquals(expected, LibvirtDomainXml.parse(xml).options().get("memory"));
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({
        "262145, KiB, domain/memory must be a whole number of MiB above 0; not 268436480 bytes",
        "1, GB, domain/memory must be a whole number of MiB above 0; not 1000000000 bytes",
        "0, MiB, domain/memory must be a whole number of MiB above 0; not 0 bytes",
        "2G, '', domain/memory must be a whole number; not '2G'",
        "-256, MiB, domain/memory must be a whole number; not '-256'",
        "1, PiB, domain/memory/@unit='PiB' is not a unit libvirt knows",
        "256, MiBs, domain/memory/@unit='MiBs' is not a unit libvirt knows",
    })
    void memoryThatIsNoWholeMibIsRefused(String value, String unit, String expected) {
        String memory = "<memory unit='" + unit + "'>" + value + "</memory>";
        String xml = MINIMAL.replace("<memory unit='MiB'>256</memory>", memory);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LibvirtDomainXml.parse(xml));
        assertTrue(e.getMessage().startsWith(expected.replace(';', ',')), e.getMessage());
    }

    @Test
    void currentMemoryEqualToMemoryIsAcceptedInAnyUnit() {
        String xml = MINIMAL.replace("<vcpu>", "<currentMemory unit='KiB'>262144</currentMemory><vcpu>");
        assertEquals("256M", LibvirtDomainXml.parse(xml).options().get("memory"));
    }

    @Test
    void malformedXmlIsRefusedWithTheParsersLineAndColumn() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LibvirtDomainXml.parse("""
                <domain type='kvm'>
                  <name>web</nam>
                </domain>
                """));
        assertTrue(e.getMessage().startsWith("the libvirt domain XML is not well-formed XML: line 2, column 14: "),
                e.getMessage());
        assertTrue(e.getMessage().contains("\"name\""), e.getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LibvirtDomainXml.parse(""))
                .getMessage().contains("line 1, column 1"));
    }

    @Test
    void aDocumentThatIsNoDomainIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LibvirtDomainXml.parse("<network><name>default</name></network>"));
        assertEquals("expected a libvirt <domain>, found <network>", e.getMessage());
    }

    @Test
    void anExternalEntityIsNeverRead() throws Exception {
        Path secret = Files.writeString(tmp.resolve("secret"), "TOP-SECRET-42");
        String xxe = """
                <?xml version="1.0"?>
                <!DOCTYPE domain [ <!ENTITY xxe SYSTEM "%s"> ]>
                """.formatted(secret.toUri()) + MINIMAL.replace("<name>web</name>", "<name>&xxe;</name>");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LibvirtDomainXml.parse(xxe));
        assertTrue(e.getMessage().contains("DOCTYPE"), e.getMessage());
        assertFalse(e.getMessage().contains("TOP-SECRET-42"), e.getMessage());

        String parameterEntity = """
                <?xml version="1.0"?>
                <!DOCTYPE domain [ <!ENTITY % p SYSTEM "%s"> %%p; ]>
                """.replace("%s", secret.toUri().toString()).replace("%%p", "%p") + MINIMAL;
        e = assertThrows(IllegalArgumentException.class, () -> LibvirtDomainXml.parse(parameterEntity));
        assertTrue(e.getMessage().contains("DOCTYPE"), e.getMessage());
        assertFalse(e.getMessage().contains("TOP-SECRET-42"), e.getMessage());

        String xinclude = MINIMAL.replace("<memballoon model='none'/>", "<memballoon model='none'/>"
                + "<xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='" + secret.toUri()
                + "' parse='text'/>");
        e = assertThrows(IllegalArgumentException.class, () -> LibvirtDomainXml.parse(xinclude));
        assertEquals("domain/devices/xi:include is not supported by the qemu binding", e.getMessage());
    }

    @Test
    void readsAFileAndSaysWhyItCannotReadOne() throws Exception {
        Path file = Files.writeString(tmp.resolve("kernel-boot.xml"), Golden.resource("kernel-boot.xml"));
        assertEquals(Golden.resource("kernel-boot.expected"), Golden.render(LibvirtDomainXml.read(file)));

        Path missing = tmp.resolve("missing.xml");
        assertEquals("cannot read the libvirt domain XML " + missing + ": no such file",
                assertThrows(IllegalArgumentException.class, () -> LibvirtDomainXml.read(missing)).getMessage());
        assertEquals("cannot read the libvirt domain XML " + tmp + ": it is a directory",
                assertThrows(IllegalArgumentException.class, () -> LibvirtDomainXml.read(tmp)).getMessage());

        Path broken = Files.writeString(tmp.resolve("broken.xml"), "<domain>\n<name>x</name>\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LibvirtDomainXml.read(broken));
        assertTrue(e.getMessage().startsWith(broken + " is not well-formed XML: line 3"), e.getMessage());
    }

    @Test
    void aFileIsReadInTheEncodingItsDeclarationGives() throws Exception {
        String xml = "<?xml version='1.0' encoding='ISO-8859-1'?>\n" + MINIMAL.replace("<name>web</name>",
                "<name>web</name><description>Kassenbüro</description>");
        Path file = Files.write(tmp.resolve("latin1.xml"), xml.getBytes(StandardCharsets.ISO_8859_1));
        assertEquals("web", LibvirtDomainXml.read(file).name());
    }
}
