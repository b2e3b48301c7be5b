package io.romulus.assembly;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;

import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;
import org.xml.sax.SAXException;

/**
 * docs/configuration.md's key tables, generated: one table per PID, from the metatype the components declare (the
 * {@code OSGI-INF/metatype} XML bnd writes from each {@code @ObjectClassDefinition}: types, defaults, descriptions,
 * options, bounds) and from the files the assembly ships in etc/ (their values are the defaults a node starts with;
 * a key only a file has, such as an ACL line, is described by the comment above it). Each table sits between
 * {@code <!-- generated: PID -->} and {@code <!-- end of generated: PID -->}; everything around the markers is
 * written by hand and kept as it is.
 */
final class ConfigReference {

    /** The one command that rewrites docs/configuration.md from the bundles and etc/. */
    static final String COMMAND = "scripts/config-reference";

    private static final Pattern BLOCK = Pattern.compile(
            "<!-- generated: (\\S+) -->\\n(.*?)<!-- end of generated: \\1 -->", Pattern.DOTALL);

    private ConfigReference() {
    }

    /** One key as a component declares it in its metatype. A key without a default has null. */
    record Attribute(String id, String type, String defaultValue, String description, List<String> options,
            String min, String max) {
    }

    /** One key of a file in etc/: its value and the comment just above it (or above its group of keys). */
    record Shipped(String key, String value, String comment) {
    }

    /** The document with its tables regenerated, and what is wrong with the sources (one line each). */
    record Result(String document, List<String> problems) {
    }

    // --------------------------------------------------------------------------------------------------- sources

    /**
     * PID to the keys its component declares, in their order, from the metatype XML of every bundle under
     * {@code system} (jars, or the classes directories a reactor build that stops before package assembles). A key
     * whose name says "(deprecated)" is left out.
     */
    static Map<String, List<Attribute>> metatypeUnder(Path system) throws IOException {
        Map<String, List<Attribute>> pids = new TreeMap<>();
        List<Path> jars;
        try (Stream<Path> s = Files.walk(system)) {
            jars = s.filter(p -> p.toString().endsWith(".jar")).sorted().toList();
        }
        for (Path jar : jars) {
            if (Files.isDirectory(jar)) {
                Path dir = jar.resolve("OSGI-INF/metatype");
                if (Files.isDirectory(dir)) {
                    try (Stream<Path> s = Files.list(dir)) {
                        for (Path xml : s.filter(p -> p.toString().endsWith(".xml")).sorted().toList()) {
                            try (InputStream in = Files.newInputStream(xml)) {
                                metatype(in, pids);
                            }
                        }
                    }
                }
                continue;
            }
            try (ZipFile zip = new ZipFile(jar.toFile())) {
                for (ZipEntry e : zip.stream().filter(z -> z.getName().startsWith("OSGI-INF/metatype/")
                        && z.getName().endsWith(".xml")).toList()) {
                    try (InputStream in = zip.getInputStream(e)) {
                        metatype(in, pids);
                    }
                }
            }
        }
        return pids;
    }

    /** The metatype of the bundles a node ships ({@code system/io/romulus} of the assembled node). */
    static Map<String, List<Attribute>> metatype(Path assembly) throws IOException {
        Map<String, List<Attribute>> pids = metatypeUnder(assembly.resolve("system/io/romulus"));
        if (!pids.keySet().containsAll(Set.of("io.romulus.engine", "io.romulus.qemu", "io.romulus.detector",
                "io.romulus.netbuf.plug", "io.romulus.witness.zookeeper"))) {
            throw new IllegalStateException("metatype found: " + pids.keySet() + " (bnd writes it when it packages a "
                    + "bundle: a reactor build that stops before package, such as mvn test, assembles classes "
                    + "directories without it; run mvn verify, as scripts/test does)");
        }
        return pids;
    }

    /** Adds the PID of one metatype document with its keys. */
    static void metatype(InputStream in, Map<String, List<Attribute>> pids) throws IOException {
        Document xml;
        try {
            DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
            factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            xml = factory.newDocumentBuilder().parse(in);
        } catch (ParserConfigurationException | SAXException e) {
            throw new IOException("unreadable metatype: " + e.getMessage(), e);
        }
        String pid = ((Element) xml.getElementsByTagName("Designate").item(0)).getAttribute("pid");
        List<Attribute> keys = new ArrayList<>();
        NodeList ads = xml.getElementsByTagName("AD");
        for (int i = 0; i < ads.getLength(); i++) {
            Element ad = (Element) ads.item(i);
            if (ad.getAttribute("name").contains("(deprecated)")) {
                continue;
            }
            List<String> options = new ArrayList<>();
            NodeList os = ad.getElementsByTagName("Option");
            for (int j = 0; j < os.getLength(); j++) {
                options.add(((Element) os.item(j)).getAttribute("value"));
            }
            keys.add(new Attribute(ad.getAttribute("id"), ad.getAttribute("type"),
                    ad.hasAttribute("default") ? ad.getAttribute("default") : null, ad.getAttribute("description"),
                    options, ad.getAttribute("min"), ad.getAttribute("max")));
        }
        pids.put(pid, keys);
    }

    /** PID (file name without .cfg or .cfg.example) to the keys of its file in etc/, in the file's order. */
    static Map<String, List<Shipped>> etc(Path etc) throws IOException {
        Map<String, List<Shipped>> pids = new TreeMap<>();
        try (Stream<Path> s = Files.list(etc)) {
            for (Path f : s.sorted().toList()) {
                String name = f.getFileName().toString();
                if (name.endsWith(".cfg") || name.endsWith(".cfg.example")) {
                    pids.put(name.replaceFirst("\\.cfg(\\.example)?$", ""),
                            cfg(name, Files.readAllLines(f, StandardCharsets.UTF_8)));
                }
            }
        }
        return pids;
    }

    /**
     * The keys of one cfg file. The comment of a key is the block of comment lines just above it, or, for keys
     * written one under the other, the block above the first of them; the comment block that opens the file is its
     * header, nobody's comment.
     */
    static List<Shipped> cfg(String file, List<String> lines) {
        List<Shipped> keys = new ArrayList<>();
        List<String> comment = new ArrayList<>();
        String groupComment = "";
        boolean header = true;
        boolean previousWasKey = false;
        for (String line : lines) {
            String l = line.strip();
            if (l.startsWith("#")) {
                comment.add(l.replaceFirst("^#+", "").strip());
                previousWasKey = false;
                continue;
            }
            if (l.isEmpty()) {
                header = false;
                comment.clear();
                previousWasKey = false;
                continue;
            }
            int eq = l.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException(file + ": not KEY = VALUE: " + l);
            }
            if (header) {
                comment.clear();
                header = false;
            }
            if (!comment.isEmpty()) {
                groupComment = String.join(" ", comment).replaceAll("\\s+", " ").strip();
            } else if (!previousWasKey) {
                groupComment = "";
            }
            comment.clear();
            keys.add(new Shipped(l.substring(0, eq).strip(), l.substring(eq + 1).strip(), groupComment));
            previousWasKey = true;
        }
        return keys;
    }

    // ------------------------------------------------------------------------------------------------ generation

    /** The table of one PID, with what is wrong with its sources added to {@code problems}. */
    static String table(String pid, List<Shipped> shipped, List<Attribute> declared, List<String> problems) {
        Map<String, Shipped> byKey = new LinkedHashMap<>();
        for (Shipped s : shipped) {
            byKey.put(s.key(), s);
        }
        Map<String, Attribute> attributes = new LinkedHashMap<>();
        for (Attribute a : declared) {
            attributes.put(a.id(), a);
        }
        Set<String> keys = new LinkedHashSet<>(byKey.keySet());
        keys.addAll(attributes.keySet());
        boolean typed = !declared.isEmpty();
        StringBuilder t = new StringBuilder(typed ? "| key | default | type | meaning |\n| --- | --- | --- | --- |\n"
                : "| key | default | meaning |\n| --- | --- | --- |\n");
        for (String key : keys) {
            Shipped s = byKey.get(key);
            Attribute a = attributes.get(key);
            String value = s != null ? s.value() : a.defaultValue() != null ? a.defaultValue() : "";
            if (s != null && a != null && a.defaultValue() != null && !a.defaultValue().equals(s.value())) {
                problems.add(pid + " " + key + ": etc/" + pid + ".cfg ships '" + s.value()
                        + "', the component's default is '" + a.defaultValue() + "'");
            }
            String description = a != null ? a.description() : s.comment();
            if (description.isBlank()) {
                problems.add(pid + " " + key + ": no description (" + (a != null
                        ? "the description of its @AttributeDefinition" : "a comment above it in etc/" + pid + ".cfg")
                        + ")");
            }
            t.append("| ").append(code(key)).append(" | ").append(value.isEmpty() ? "(empty)" : code(value))
                    .append(" | ");
            if (typed) {
                t.append(a == null ? "" : type(a)).append(" | ");
            }
            t.append(sentence(description)).append(" |\n");
        }
        return t.toString();
    }

    /** What values a key takes, in a sysadmin's words. */
    static String type(Attribute a) {
        if (!a.options().isEmpty()) {
            List<String> o = a.options().stream().map(ConfigReference::code).toList();
            return o.size() == 1 ? o.get(0)
                    : String.join(", ", o.subList(0, o.size() - 1)) + " or " + o.get(o.size() - 1);
        }
        String base = switch (a.type()) {
            case "Boolean" -> "`true` or `false`";
            case "Integer", "Long", "Short", "Byte" -> "integer";
            case "Double", "Float" -> "number";
            case "Password" -> "secret text";
            default -> "text";
        };
        if (!a.min().isEmpty() && !a.max().isEmpty()) {
            return base + ", " + a.min() + " to " + a.max();
        }
        if (!a.min().isEmpty()) {
            return base + ", at least " + a.min();
        }
        if (!a.max().isEmpty()) {
            return base + ", at most " + a.max();
        }
        return a.defaultValue() == null ? base + ", required" : base;
    }

    private static String code(String s) {
        return "`" + s.replace("|", "\\|") + "`";
    }

    /** Plain text as one table cell: with a full stop, without table syntax. */
    private static String sentence(String text) {
        String s = text.strip().replace("|", "\\|").replace("<", "&lt;");
        return s.isEmpty() || s.matches("(?s).*[.!?]$") ? s : s + ".";
    }

    /**
     * The reference with every generated table rewritten from the sources. A PID that has no table yet gets a
     * section of its own at the end; a table of a PID that no longer exists is left as it is and reported.
     */
    static Result regenerate(String document, Map<String, List<Shipped>> etc, Map<String, List<Attribute>> metatype) {
        List<String> problems = new ArrayList<>();
        Set<String> pids = new LinkedHashSet<>(etc.keySet());
        pids.addAll(metatype.keySet());
        Set<String> seen = new LinkedHashSet<>();
        Matcher m = BLOCK.matcher(document);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String pid = m.group(1);
            seen.add(pid);
            String body = m.group(2);
            if (pids.contains(pid)) {
                body = table(pid, etc.getOrDefault(pid, List.of()), metatype.getOrDefault(pid, List.of()), problems);
            } else {
                problems.add(pid + ": a generated table in the reference, but neither etc/ nor a component has it");
            }
            m.appendReplacement(out, Matcher.quoteReplacement(
                    "<!-- generated: " + pid + " -->\n" + body + "<!-- end of generated: " + pid + " -->"));
        }
        m.appendTail(out);
        for (String pid : pids) {
            if (!seen.contains(pid)) {
                if (out.length() > 0 && out.charAt(out.length() - 1) != '\n') {
                    out.append('\n');
                }
                out.append("\n## `").append(pid).append("`\n\n")
                        .append(etc.containsKey(pid) ? "File: `etc/" + pid + ".cfg`.\n\n" : "No file in etc/.\n\n")
                        .append("<!-- generated: ").append(pid).append(" -->\n")
                        .append(table(pid, etc.getOrDefault(pid, List.of()), metatype.getOrDefault(pid, List.of()),
                                problems))
                        .append("<!-- end of generated: ").append(pid).append(" -->\n");
            }
        }
        return new Result(out.toString(), problems);
    }
}
