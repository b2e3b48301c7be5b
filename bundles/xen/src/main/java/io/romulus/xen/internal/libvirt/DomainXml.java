package io.romulus.xen.internal.libvirt;

import java.io.IOException;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.List;

import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;

import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;
import org.xml.sax.InputSource;
import org.xml.sax.SAXException;

import io.romulus.api.hypervisor.HypervisorException;

/**
 * What the binding needs from libvirt's description of a domain ({@code virDomainGetXMLDesc}): its name and kind,
 * its memory, and the interfaces and disks that output commit and disk replication attach to. The raw XML is kept:
 * the backup writes it into the replica image, whose restore builds the domain from it.
 *
 * @param xml         the XML as libvirt gave it
 * @param name        the domain's name
 * @param uuid        its UUID
 * @param osType      {@code <os><type>}: {@code hvm}, {@code xenpvh} (PVH) or {@code xen}/{@code linux} (PV)
 * @param memoryKiB   {@code <memory>} in KiB
 * @param interfaces  its network interfaces
 * @param disks       its disks
 */
public record DomainXml(String xml, String name, String uuid, String osType, long memoryKiB,
                        List<Interface> interfaces, List<Disk> disks) {

    /** Guest kinds in Xen's own words. */
    public enum GuestKind { HVM, PVH, PV }

    /**
     * A network interface.
     *
     * @param mac    the guest's MAC address
     * @param target the host device ({@code vif5.0}), or empty while the domain does not run
     * @param bridge the bridge it joins, or empty
     * @param model  the emulated model, or empty for a PV interface
     */
    public record Interface(String mac, String target, String bridge, String model) {
    }

    /**
     * A disk.
     *
     * @param target the guest-side name ({@code xvda})
     * @param type   libvirt's disk type: {@code file}, {@code block}, {@code network}
     * @param source the file, device or network name
     */
    public record Disk(String target, String type, String source) {
    }

    public DomainXml {
        interfaces = List.copyOf(interfaces);
        disks = List.copyOf(disks);
    }

    /** HVM, PVH or PV, from {@code <os><type>}. */
    public GuestKind kind() {
        return switch (osType) {
            case "hvm" -> GuestKind.HVM;
            case "xenpvh" -> GuestKind.PVH;
            default -> GuestKind.PV;
        };
    }

    /**
     * Parses libvirt's domain XML.
     *
     * @throws HypervisorException if it is not well-formed or has no {@code <name>}
     */
    public static DomainXml parse(String xml) throws HypervisorException {
        Element root;
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            f.setExpandEntityReferences(false);
            DocumentBuilder b = f.newDocumentBuilder();
            b.setErrorHandler(null);
            Document doc = b.parse(new InputSource(new StringReader(xml)));
            root = doc.getDocumentElement();
        } catch (ParserConfigurationException | SAXException | IOException e) {
            throw new HypervisorException("libvirt gave a domain description that is not XML: " + e.getMessage(), e);
        }
        if (!"domain".equals(root.getTagName())) {
            throw new HypervisorException("expected a libvirt <domain>, found <" + root.getTagName() + ">");
        }
        String name = text(root, "name");
        if (name.isEmpty()) {
            throw new HypervisorException("libvirt's domain description has no <name>");
        }
        Element os = child(root, "os");
        String osType = os == null ? "" : text(os, "type");
        List<Interface> nics = new ArrayList<>();
        List<Disk> disks = new ArrayList<>();
        Element devices = child(root, "devices");
        if (devices != null) {
            for (Element e : children(devices, "interface")) {
                Element source = child(e, "source");
                nics.add(new Interface(attr(child(e, "mac"), "address"), attr(child(e, "target"), "dev"),
                        source == null ? "" : source.getAttribute("bridge"), attr(child(e, "model"), "type")));
            }
            for (Element e : children(devices, "disk")) {
                if (!"disk".equals(e.getAttribute("device")) && !e.getAttribute("device").isEmpty()) {
                    continue;
                }
                Element source = child(e, "source");
                String src = "";
                if (source != null) {
                    for (String a : new String[] {"file", "dev", "name", "volume"}) {
                        if (!source.getAttribute(a).isEmpty()) {
                            src = source.getAttribute(a);
                            break;
                        }
                    }
                }
                disks.add(new Disk(attr(child(e, "target"), "dev"), e.getAttribute("type"), src));
            }
        }
        return new DomainXml(xml, name, text(root, "uuid"), osType, memoryKiB(child(root, "memory")), nics, disks);
    }

    /**
     * This description with the sources of some disks replaced: {@code sources} maps a disk's target ({@code xvda})
     * to its new source and kind. A {@code file} becomes {@code <disk type='file'><source file=.../>}; a
     * {@code block} or {@code drbd} device becomes {@code <disk type='block'><source dev=.../>}.
     *
     * @throws HypervisorException for a kind libvirt's libxl driver cannot attach this way, or a target the domain
     *                             does not have
     */
    public String withDiskSources(java.util.Map<String, io.romulus.api.hypervisor.GuestDisk> sources)
            throws HypervisorException {
        Document doc;
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            DocumentBuilder b = f.newDocumentBuilder();
            b.setErrorHandler(null);
            doc = b.parse(new InputSource(new StringReader(xml)));
        } catch (ParserConfigurationException | SAXException | IOException e) {
            throw new HypervisorException("cannot read the domain's XML: " + e.getMessage(), e);
        }
        java.util.Set<String> done = new java.util.HashSet<>();
        Element devices = child(doc.getDocumentElement(), "devices");
        for (Element disk : devices == null ? List.<Element>of() : children(devices, "disk")) {
            String target = attr(child(disk, "target"), "dev");
            io.romulus.api.hypervisor.GuestDisk replacement = sources.get(target);
            if (replacement == null) {
                continue;
            }
            String type;
            String attribute;
            switch (replacement.kind()) {
                case "file" -> {
                    type = "file";
                    attribute = "file";
                }
                case "block", "drbd" -> {
                    type = "block";
                    attribute = "dev";
                }
                default -> throw new HypervisorException("disk " + target + " of " + name + " comes back as "
                        + replacement.kind() + " (" + replacement.source() + "), which a Xen domain cannot attach"
                        + " through libvirt's libxl driver; Xen disks are replicated as file, block or drbd");
            }
            disk.setAttribute("type", type);
            Element source = child(disk, "source");
            if (source == null) {
                source = doc.createElement("source");
                disk.insertBefore(source, disk.getFirstChild());
            }
            for (String a : new String[] {"file", "dev", "name", "volume", "protocol"}) {
                source.removeAttribute(a);
            }
            source.setAttribute(attribute, replacement.source());
            done.add(target);
        }
        for (String target : sources.keySet()) {
            if (!done.contains(target)) {
                throw new HypervisorException(name + " has no disk " + target + " to attach " + sources.get(target)
                        .source() + " as");
            }
        }
        try {
            javax.xml.transform.Transformer t = javax.xml.transform.TransformerFactory.newInstance().newTransformer();
            t.setOutputProperty(javax.xml.transform.OutputKeys.OMIT_XML_DECLARATION, "yes");
            java.io.StringWriter out = new java.io.StringWriter();
            t.transform(new javax.xml.transform.dom.DOMSource(doc), new javax.xml.transform.stream.StreamResult(out));
            return out.toString();
        } catch (javax.xml.transform.TransformerException e) {
            throw new HypervisorException("cannot write the domain's XML: " + e.getMessage(), e);
        }
    }

    private static long memoryKiB(Element memory) throws HypervisorException {
        if (memory == null) {
            return 0;
        }
        long value;
        try {
            value = Long.parseLong(memory.getTextContent().trim());
        } catch (NumberFormatException e) {
            throw new HypervisorException("libvirt's <memory> is not a number: '" + memory.getTextContent() + "'");
        }
        String unit = memory.getAttribute("unit");
        return switch (unit.isEmpty() ? "KiB" : unit) {
            case "b", "bytes" -> value / 1024;
            case "KiB", "k", "K" -> value;
            case "MiB", "M" -> value * 1024;
            case "GiB", "G" -> value * 1024 * 1024;
            default -> throw new HypervisorException("unknown memory unit '" + unit + "' in libvirt's <memory>");
        };
    }

    private static Element child(Element parent, String tag) {
        List<Element> found = children(parent, tag);
        return found.isEmpty() ? null : found.get(0);
    }

    private static List<Element> children(Element parent, String tag) {
        List<Element> out = new ArrayList<>();
        NodeList nodes = parent.getChildNodes();
        for (int i = 0; i < nodes.getLength(); i++) {
            if (nodes.item(i) instanceof Element e && e.getTagName().equals(tag)) {
                out.add(e);
            }
        }
        return out;
    }

    private static String text(Element parent, String tag) {
        Element e = child(parent, tag);
        return e == null ? "" : e.getTextContent().trim();
    }

    private static String attr(Element e, String name) {
        return e == null ? "" : e.getAttribute(name);
    }
}
