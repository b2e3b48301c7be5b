package io.romulus.qemu.internal.definition;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.w3c.dom.Attr;
import org.w3c.dom.Element;
import org.w3c.dom.NamedNodeMap;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/**
 * One element of a libvirt domain XML that remembers what of it was read: its attributes, its text and its child
 * elements. After the translation, {@link #finish} refuses whatever nobody read, so nothing in the XML is dropped
 * without a word. Each element knows its path ({@code domain/devices/disk[vda]/driver}), which every refusal and note
 * names. Namespace declarations ({@code xmlns}, {@code xmlns:x}) are no content and are never refused.
 */
final class StrictElement {

    private final Element element;
    private final StrictElement parent;
    private final List<StrictElement> children = new ArrayList<>();
    private final Set<String> readAttributes = new HashSet<>();
    private String key = "";
    private boolean read;
    private boolean whole;
    private boolean textRead;

    private StrictElement(Element element, StrictElement parent) {
        this.element = element;
        this.parent = parent;
        NodeList nodes = element.getChildNodes();
        for (int i = 0; i < nodes.getLength(); i++) {
            if (nodes.item(i) instanceof Element e) {
                children.add(new StrictElement(e, this));
            }
        }
    }

    static StrictElement root(Element element) {
        StrictElement root = new StrictElement(element, null);
        root.read = true;
        return root;
    }

    /** The element's name as written, with its namespace prefix if it has one ({@code qemu:commandline}). */
    String tag() {
        return element.getTagName();
    }

    /** Where the element is: {@code domain/devices/interface[52:54:00:6b:3c:58]/model}. */
    String path() {
        String segment = key.isEmpty() ? tag() : tag() + "[" + key + "]";
        return parent == null ? segment : parent.path() + "/" + segment;
    }

    /** The path of one of its attributes with the value it has: {@code domain/devices/disk[hdc]/@device='cdrom'}. */
    String attributePath(String name) {
        return path() + "/@" + name + "='" + element.getAttribute(name) + "'";
    }

    /** Names this element among its siblings of the same kind in its path, e.g. a disk by its target. */
    void identify(String identity) {
        this.key = identity;
    }

    /** The attribute's value, or "" when it has none; either way it counts as read. */
    String attribute(String name) {
        readAttributes.add(name);
        return element.getAttribute(name);
    }

    boolean has(String attribute) {
        return element.hasAttribute(attribute);
    }

    /** The names of its attributes, namespace declarations left out; none of them counts as read. */
    Set<String> attributeNames() {
        Set<String> names = new java.util.TreeSet<>();
        NamedNodeMap attributes = element.getAttributes();
        for (int i = 0; i < attributes.getLength(); i++) {
            String name = ((Attr) attributes.item(i)).getName();
            if (!name.equals("xmlns") && !name.startsWith("xmlns:")) {
                names.add(name);
            }
        }
        return names;
    }

    /** Whether it has neither attributes nor child elements nor text. */
    boolean isEmpty() {
        return attributeNames().isEmpty() && children.isEmpty() && !hasText();
    }

    /** The trimmed text inside the element; it counts as read. */
    String text() {
        textRead = true;
        return element.getTextContent().trim();
    }

    /** The child elements of that name, in document order; they count as read (their insides do not). */
    List<StrictElement> children(String tag) {
        List<StrictElement> out = new ArrayList<>();
        for (StrictElement c : children) {
            if (c.tag().equals(tag)) {
                c.read = true;
                out.add(c);
            }
        }
        return out;
    }

    /** Every child element, in document order, none of them read yet. */
    List<StrictElement> allChildren() {
        return List.copyOf(children);
    }

    /**
     * The only child of that name, or null; a second one is refused.
     */
    StrictElement child(String tag, Translation t) {
        List<StrictElement> found = children(tag);
        for (int i = 1; i < found.size(); i++) {
            found.get(i).identify(String.valueOf(i + 1));
            t.refuse(found.get(i).path(), "only one <" + tag + "> is understood");
        }
        return found.isEmpty() ? null : found.get(0);
    }

    /** Counts this element as read. */
    void markRead() {
        read = true;
    }

    /** Counts this element and everything inside it as read: its whole content is covered by one note or option. */
    void markWhole() {
        read = true;
        whole = true;
    }

    /**
     * Refuses every attribute, text and child element that was not read; {@code <address>} and {@code <alias>}
     * children, which libvirt writes on every device, are noted instead.
     */
    void finish(Translation t) {
        if (whole) {
            return;
        }
        for (String name : attributeNames()) {
            if (!readAttributes.contains(name)) {
                t.refuse(attributePath(name), "");
            }
        }
        if (!textRead && hasText()) {
            t.refuse(path(), "it holds text ('" + ownText() + "') where libvirt expects none");
        }
        for (StrictElement c : children) {
            if (!c.read && (c.tag().equals("address") || c.tag().equals("alias"))) {
                t.note("<address> and <alias> elements are not used: Romulus places and names the VM's devices itself");
                c.markWhole();
            }
            if (c.read) {
                c.finish(t);
            } else {
                t.refuse(c.path(), "");
            }
        }
    }

    private boolean hasText() {
        return !ownText().isEmpty();
    }

    private String ownText() {
        StringBuilder text = new StringBuilder();
        NodeList nodes = element.getChildNodes();
        for (int i = 0; i < nodes.getLength(); i++) {
            Node n = nodes.item(i);
            if (n.getNodeType() == Node.TEXT_NODE || n.getNodeType() == Node.CDATA_SECTION_NODE) {
                text.append(n.getNodeValue());
            }
        }
        return text.toString().trim();
    }
}
