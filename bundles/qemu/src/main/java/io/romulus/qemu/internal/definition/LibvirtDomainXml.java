package io.romulus.qemu.internal.definition;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.StringReader;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;

import org.w3c.dom.Document;
import org.xml.sax.ErrorHandler;
import org.xml.sax.InputSource;
import org.xml.sax.SAXException;
import org.xml.sax.SAXParseException;

/**
 * A VM of the user's own, described as a libvirt domain XML (what {@code virsh dumpxml} prints), translated strictly
 * into the qemu binding's flat option map. Whatever the XML says is either mapped to an option, recorded in a note
 * (accepted, but not used), or refused: the translation then fails with an {@link IllegalArgumentException} that
 * names each offending element by its path ({@code domain/devices/hostdev is not supported by the qemu binding}).
 *
 * <p>The options, in this order; a key the XML does not speak to is left out, and the binding's default applies:
 * <ul>
 *   <li>{@code memory} ({@code 1024M}), {@code cpus}, {@code cpu} ({@code host} or a QEMU model),
 *       {@code cpu.topology} ({@code sockets,cores,threads}), {@code machine} ({@code pc} or {@code q35});</li>
 *   <li>{@code kernel}, {@code initrd}, {@code cmdline} for a direct kernel boot (without them SeaBIOS boots the first
 *       disk);</li>
 *   <li>per disk, from 0: {@code disk.N.file}, {@code .format} ({@code raw}, {@code qcow2}), {@code .bus}
 *       ({@code virtio}, {@code sata}, {@code ide}), {@code .dev} ({@code vda}), {@code .readonly} ({@code true}),
 *       {@code .discard} (cache and I/O modes are noted, not mapped: the disk is served over NBD);</li>
 *   <li>per NIC, from 0: {@code nic.N.model} ({@code virtio}, {@code e1000}), {@code .mac} (lower case),
 *       {@code .bridge};</li>
 *   <li>{@code serial} ({@code ttyS0}); {@code clock.offset} ({@code utc}, {@code localtime}),
 *       {@code clock.rtc.driftfix} ({@code slew}), {@code clock.hpet} ({@code off}), {@code clock.pit}
 *       ({@code delay}); {@code on.poweroff}, {@code on.reboot}, {@code on.crash} ({@code destroy},
 *       {@code restart}); {@code pm.s3}, {@code pm.s4} ({@code on}, {@code off}); {@code features} (of
 *       {@code acpi,apic,pae}, in document order), {@code features.vmport} ({@code off}).</li>
 * </ul>
 *
 * <p>The XML is read without a DTD and without external entities: a {@code <!DOCTYPE>} is refused.
 */
public final class LibvirtDomainXml {

    private LibvirtDomainXml() {
    }

    /**
     * A VM as the qemu binding runs it.
     *
     * @param name    the domain's {@code <name>}, for the caller to check against the name it protects the VM as
     * @param options the flat, canonical options, in a stable order (see {@link LibvirtDomainXml})
     * @param notes   what the XML says that was accepted without becoming an option, one sentence each
     */
    public record Definition(String name, Map<String, String> options, List<String> notes) {

        public Definition {
            options = Collections.unmodifiableMap(new LinkedHashMap<>(options));
            notes = List.copyOf(notes);
        }
    }

    /**
     * Translates a domain XML.
     *
     * @throws IllegalArgumentException if it is not well-formed XML (with the parser's line and column), or says
     *                                  anything the qemu binding does not support (naming every such element)
     */
    public static Definition parse(String xml) {
        return translate(parse(new InputSource(new StringReader(xml)), "the libvirt domain XML"));
    }

    /**
     * Reads and translates a domain XML file; its encoding is the one its XML declaration gives (UTF-8 without one).
     *
     * @throws IllegalArgumentException if the file cannot be read, is not well-formed or says what the binding does
     *                                  not support
     */
    public static Definition read(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("cannot read the libvirt domain XML " + file + ": no such file", e);
        } catch (AccessDeniedException e) {
            throw new IllegalArgumentException("cannot read the libvirt domain XML " + file + ": permission denied", e);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read the libvirt domain XML " + file + ": "
                    + (Files.isDirectory(file) ? "it is a directory" : e.toString()), e);
        }
        InputSource source = new InputSource(new ByteArrayInputStream(bytes));
        source.setSystemId(file.toUri().toString());
        return translate(parse(source, file.toString()));
    }

    private static Definition translate(Document document) {
        if (!document.getDocumentElement().getTagName().equals("domain")) {
            throw new IllegalArgumentException("expected a libvirt <domain>, found <"
                    + document.getDocumentElement().getTagName() + ">");
        }
        Translation t = new Translation();
        String name = new DomainTranslator(StrictElement.root(document.getDocumentElement()), t).translate();
        t.check();
        return new Definition(name, t.options(), t.notes());
    }

    private static Document parse(InputSource source, String what) {
        try {
            DocumentBuilder builder = hardenedFactory().newDocumentBuilder();
            builder.setErrorHandler(new ErrorHandler() {
                @Override
                public void warning(SAXParseException e) {
                    // nothing a user would act on
                }

                @Override
                public void error(SAXParseException e) throws SAXParseException {
                    throw e;
                }

                @Override
                public void fatalError(SAXParseException e) throws SAXParseException {
                    throw e;
                }
            });
            builder.setEntityResolver((publicId, systemId) -> {
                throw new SAXException("external entity " + systemId + " is not read");
            });
            return builder.parse(source);
        } catch (SAXParseException e) {
            throw new IllegalArgumentException(what + " is not well-formed XML: line " + e.getLineNumber()
                    + ", column " + e.getColumnNumber() + ": " + e.getMessage(), e);
        } catch (SAXException | IOException e) {
            throw new IllegalArgumentException(what + " cannot be read as XML: " + e.getMessage(), e);
        } catch (ParserConfigurationException e) {
            throw new IllegalStateException("the JDK's XML parser cannot be hardened: " + e.getMessage(), e);
        }
    }

    /** The JDK's DOM parser with no DTD, no external entities, no XInclude: nothing outside the document is read. */
    private static DocumentBuilderFactory hardenedFactory() throws ParserConfigurationException {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
        f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        f.setFeature("http://xml.org/sax/features/external-general-entities", false);
        f.setFeature("http://xml.org/sax/features/external-parameter-entities", false);
        f.setFeature("http://apache.org/xml/features/nonvalidating/load-external-dtd", false);
        f.setAttribute(XMLConstants.ACCESS_EXTERNAL_DTD, "");
        f.setAttribute(XMLConstants.ACCESS_EXTERNAL_SCHEMA, "");
        f.setXIncludeAware(false);
        f.setExpandEntityReferences(false);
        f.setNamespaceAware(false);
        return f;
    }
}
