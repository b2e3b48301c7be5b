package io.romulus.assembly;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The documentation cannot rot silently: every relative link and every repository or node path that README.md and
 * docs/*.md name exists, and docs/configuration.md documents exactly the keys of etc/*.cfg, with their defaults, and
 * every key the components declare in their metatype.
 */
class DocsTest {

    private static final Pattern LINK = Pattern.compile("\\]\\(([^)\\s]+)(?:\\s+\"[^\"]*\")?\\)");
    private static final Pattern FENCE = Pattern.compile("(?ms)^\\s*```.*?^\\s*```\\s*$");
    private static final Pattern CODE_SPAN = Pattern.compile("`[^`\\n]*`");
    private static final Pattern HEADING = Pattern.compile("(?m)^#{1,6}\\s+(.+?)\\s*#*\\s*$");
    /** A path of the repository (or of a node: etc/, bin/) named in the text, not part of a longer path. */
    private static final Pattern PATH = Pattern.compile(
            "(?<![\\w/.~$-])((?:scripts|bundles|native|itests|docs|assembly|features|etc|bin)/[A-Za-z0-9._/-]*"
                    + "[A-Za-z0-9_])");
    /** Files a node makes or the operator copies in, which neither the repository nor the tarball holds. */
    private static final Set<String> MADE_ON_THE_NODE = Set.of("etc/romulus-admin.password",
            "etc/romulus-stream.secret", "etc/io.romulus.witness.zookeeper.cfg");
    /** A row of a configuration table: | `key` | `default` or (empty) | meaning | */
    private static final Pattern KEY_ROW = Pattern.compile("^\\|\\s*`([^`]+)`\\s*\\|\\s*(`[^`]*`|\\(empty\\))\\s*\\|");
    private static final Pattern PID_HEADING = Pattern.compile("^##\\s+`([^`]+)`");

    private static List<Path> documents(Path root) throws IOException {
        List<Path> docs = new ArrayList<>();
        docs.add(root.resolve("README.md"));
        try (Stream<Path> s = Files.list(root.resolve("docs"))) {
            s.filter(p -> p.toString().endsWith(".md")).sorted().forEach(docs::add);
        }
        return docs;
    }

    /** The text of a Markdown file without its code blocks (fenced) and, if asked, its code spans. */
    private static String prose(String markdown, boolean withoutCodeSpans) {
        String text = FENCE.matcher(markdown).replaceAll("");
        return withoutCodeSpans ? CODE_SPAN.matcher(text).replaceAll("") : text;
    }

    /** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
    static String anchor(String heading) {
        String plain = heading.replaceAll("\\[([^\\]]*)\\]\\([^)]*\\)", "$1").replace("`", "");
        return plain.toLowerCase(Locale.ROOT).replaceAll("[^\\p{L}\\p{N} _-]", "").replace(' ', '-');
    }

    private static Set<String> anchors(Path markdown) throws IOException {
        Set<String> anchors = new HashSet<>();
        Matcher m = HEADING.matcher(prose(Files.readString(markdown, StandardCharsets.UTF_8), false));
        while (m.find()) {
            anchors.add(anchor(m.group(1)));
        }
        return anchors;
    }

    /** What is wrong with the relative links of {@code doc}: one line per broken link. */
    static List<String> brokenLinks(Path doc) throws IOException {
        List<String> broken = new ArrayList<>();
        Matcher m = LINK.matcher(prose(Files.readString(doc, StandardCharsets.UTF_8), true));
        while (m.find()) {
            String target = m.group(1);
            if (target.matches("^[a-zA-Z][a-zA-Z0-9+.-]*:.*")) {
                continue; // http:, https:, mailto:, file:
            }
            int hash = target.indexOf('#');
            String file = hash < 0 ? target : target.substring(0, hash);
            String fragment = hash < 0 ? null : target.substring(hash + 1);
            Path resolved = file.isEmpty() ? doc : doc.getParent().resolve(file).normalize();
            if (!Files.exists(resolved)) {
                broken.add(doc.getFileName() + ": " + target + " (no " + resolved + ")");
            } else if (fragment != null && resolved.toString().endsWith(".md")
                    && !anchors(resolved).contains(fragment)) {
                broken.add(doc.getFileName() + ": " + target + " (no heading #" + fragment + " in " + resolved + ")");
            }
        }
        return broken;
    }

    /** A pattern rather than a path: {@code etc/jmx.acl.io.romulus.*.cfg}, {@code scripts/bench-*}. */
    private static final Pattern GLOB_FOLLOWS = Pattern.compile("[._-]?[*{<].*", Pattern.DOTALL);

    /** Paths the text of {@code doc} names that exist neither in the repository nor in the node. */
    static List<String> missingPaths(Path doc, Path root, Path node) throws IOException {
        List<String> missing = new ArrayList<>();
        String text = prose(Files.readString(doc, StandardCharsets.UTF_8), false);
        Matcher m = PATH.matcher(text);
        while (m.find()) {
            String path = m.group(1);
            boolean glob = GLOB_FOLLOWS.matcher(text.substring(m.end(), Math.min(text.length(), m.end() + 2)))
                    .matches();
            if (glob || path.contains("/target/") || MADE_ON_THE_NODE.contains(path)) {
                continue;
            }
            boolean exists = Files.exists(root.resolve(path)) || (node != null && Files.exists(node.resolve(path)));
            String line = doc.getFileName() + ": " + path;
            if (!exists && !missing.contains(line)) {
                missing.add(line);
            }
        }
        return missing;
    }

    @Test
    void everyRelativeLinkInTheReadmeAndTheDocsResolves() throws IOException {
        List<String> broken = new ArrayList<>();
        for (Path doc : documents(Distribution.root())) {
            broken.addAll(brokenLinks(doc));
        }
        assertEquals(List.of(), broken, "broken links");
    }

    @Test
    void everyFilePathTheReadmeAndTheDocsNameExists() throws IOException {
        List<String> missing = new ArrayList<>();
        for (Path doc : documents(Distribution.root())) {
            missing.addAll(missingPaths(doc, Distribution.root(), Distribution.assembly()));
        }
        assertEquals(List.of(), missing, "paths named in the docs that exist nowhere");
    }

    @Test
    void theChecksCatchABrokenLinkAMissingHeadingAndAMissingPath(@TempDir Path dir) throws IOException {
        Files.createDirectories(dir.resolve("docs"));
        Files.writeString(dir.resolve("docs/b.md"), "# B\n\n## Ports to open\n", StandardCharsets.UTF_8);
        Path a = dir.resolve("docs/a.md");
        Files.writeString(a, "# A\n[ok](b.md) [ok](b.md#ports-to-open) [ok](#a) [web](https://example.org/x)\n"
                + "`[not a link](nowhere.md)`\n[gone](missing.md) [no heading](b.md#firewall) see docs/b.md and "
                + "scripts/nothing-here, but not scripts/bench-* or etc/jmx.acl.io.romulus.*.cfg\n", StandardCharsets.UTF_8);
        assertEquals(List.of("a.md: missing.md (no " + dir.resolve("docs/missing.md") + ")",
                "a.md: b.md#firewall (no heading #firewall in " + dir.resolve("docs/b.md") + ")"), brokenLinks(a));
        assertEquals(List.of("a.md: scripts/nothing-here"), missingPaths(a, dir, null));
        assertEquals("ports-to-open", anchor("Ports to open"));
        assertEquals("the-romulusstatus-command-and-io", anchor("The `romulus:status` command, and I/O"));
    }

    // ------------------------------------------------------------------------------------- configuration reference

    /** PID (file name without .cfg or .cfg.example) to its keys and default values, from etc/. */
    static Map<String, Map<String, String>> shipped(Path etc) throws IOException {
        Map<String, Map<String, String>> pids = new TreeMap<>();
        ConfigReference.etc(etc).forEach((pid, keys) -> {
            Map<String, String> values = new LinkedHashMap<>();
            keys.forEach(k -> values.put(k.key(), k.value()));
            pids.put(pid, values);
        });
        return pids;
    }

    /** PID to keys and defaults, from the tables of a configuration reference (a section per PID). */
    static Map<String, Map<String, String>> documented(String reference) {
        Map<String, Map<String, String>> pids = new TreeMap<>();
        Map<String, String> current = null;
        for (String line : prose(reference, false).split("\n")) {
            Matcher heading = PID_HEADING.matcher(line);
            if (heading.find()) {
                current = new LinkedHashMap<>();
                pids.put(heading.group(1), current);
                continue;
            }
            if (line.startsWith("## ")) {
                current = null;
                continue;
            }
            Matcher row = KEY_ROW.matcher(line);
            if (current != null && row.find()) {
                String value = row.group(2);
                // a | in a key (an argument pattern of a command ACL) is written \| in a Markdown table
                current.put(row.group(1).replace("\\|", "|"), value.equals("(empty)") ? ""
                        : value.substring(1, value.length() - 1));
            }
        }
        return pids;
    }

    /** Every difference between what etc/ ships and what the reference says, one line each. */
    static List<String> differences(Map<String, Map<String, String>> shipped,
            Map<String, Map<String, String>> documented) {
        List<String> diffs = new ArrayList<>();
        for (String pid : shipped.keySet()) {
            if (!documented.containsKey(pid)) {
                diffs.add(pid + ": in etc/, not in the reference");
            }
        }
        for (Map.Entry<String, Map<String, String>> doc : documented.entrySet()) {
            Map<String, String> etc = shipped.get(doc.getKey());
            if (etc == null) {
                diffs.add(doc.getKey() + ": in the reference, not in etc/");
                continue;
            }
            for (Map.Entry<String, String> key : etc.entrySet()) {
                String said = doc.getValue().get(key.getKey());
                if (said == null) {
                    diffs.add(doc.getKey() + " " + key.getKey() + ": in etc/, not in the reference");
                } else if (!said.equals(key.getValue())) {
                    diffs.add(doc.getKey() + " " + key.getKey() + ": etc/ says '" + key.getValue()
                            + "', the reference '" + said + "'");
                }
            }
            for (String key : doc.getValue().keySet()) {
                if (!etc.containsKey(key)) {
                    diffs.add(doc.getKey() + " " + key + ": in the reference, not in etc/");
                }
            }
        }
        return diffs;
    }

    @Test
    void theConfigurationReferenceDocumentsEveryKeyOfEtcWithItsDefaultAndNothingElse() throws IOException {
        Path root = Distribution.root();
        Map<String, Map<String, String>> documented = documented(
                Files.readString(root.resolve("docs/configuration.md"), StandardCharsets.UTF_8));
        assertFalse(documented.isEmpty(), "docs/configuration.md has no `PID` section");
        assertEquals(List.of(), differences(shipped(root.resolve("etc")), documented));
    }

    /**
     * PID to its keys and defaults as the components declare them: the metatype XML that bnd generates from each
     * {@code @ObjectClassDefinition} into the bundles the assembly ships. A key whose name says "(deprecated)" is
     * left out; a key without a default (a required one) maps to null.
     */
    static Map<String, Map<String, String>> declared(Map<String, List<ConfigReference.Attribute>> metatype) {
        Map<String, Map<String, String>> pids = new TreeMap<>();
        metatype.forEach((pid, keys) -> {
            Map<String, String> defaults = new TreeMap<>();
            keys.forEach(k -> defaults.put(k.id(), k.defaultValue()));
            pids.put(pid, defaults);
        });
        return pids;
    }

    /** Every difference between what the components declare and what the reference says, one line each. */
    static List<String> metatypeDifferences(Map<String, Map<String, String>> declared,
            Map<String, Map<String, String>> documented) {
        List<String> diffs = new ArrayList<>();
        for (Map.Entry<String, Map<String, String>> pid : declared.entrySet()) {
            Map<String, String> doc = documented.getOrDefault(pid.getKey(), Map.of());
            for (Map.Entry<String, String> key : pid.getValue().entrySet()) {
                String said = doc.get(key.getKey());
                if (said == null) {
                    diffs.add(pid.getKey() + " " + key.getKey() + ": declared by the component, not in the reference");
                } else if (key.getValue() != null && !key.getValue().equals(said)) {
                    diffs.add(pid.getKey() + " " + key.getKey() + ": the component's default is '" + key.getValue()
                            + "', the reference's '" + said + "'");
                }
            }
            for (String key : doc.keySet()) {
                if (!pid.getValue().containsKey(key)) {
                    diffs.add(pid.getKey() + " " + key + ": in the reference, not declared by the component");
                }
            }
        }
        return diffs;
    }

    @Test
    void theConfigurationReferenceMatchesWhatTheComponentsDeclare() throws Exception {
        Map<String, Map<String, String>> declared = declared(ConfigReference.metatype(Distribution.assembly()));
        Map<String, Map<String, String>> documented = documented(
                Files.readString(Distribution.root().resolve("docs/configuration.md"), StandardCharsets.UTF_8));
        assertEquals(List.of(), metatypeDifferences(declared, documented));
    }

    @Test
    void theMetatypeComparisonCatchesAnUndocumentedKeyAndADifferentDefault() {
        Map<String, String> keys = new TreeMap<>();
        keys.put("a", "1");
        keys.put("required", null);
        keys.put("new.key", "x");
        Map<String, Map<String, String>> declared = Map.of("io.romulus.x", keys);
        Map<String, Map<String, String>> doc = Map.of("io.romulus.x", Map.of("a", "2", "required", "zk:2181",
                "gone", "0"));
        assertEquals(Set.of("io.romulus.x a: the component's default is '1', the reference's '2'",
                "io.romulus.x new.key: declared by the component, not in the reference",
                "io.romulus.x gone: in the reference, not declared by the component"),
                new HashSet<>(metatypeDifferences(declared, doc)));
    }

    @Test
    void theComparisonCatchesAKeyAddedToEtcAndADefaultChanged() {
        Map<String, Map<String, String>> etc = Map.of("io.romulus.x", Map.of("a", "1", "b", "", "new.key", "3"));
        Map<String, Map<String, String>> doc = documented("""
                # Configuration

                ## `io.romulus.x`

                | key | default | meaning |
                | --- | --- | --- |
                | `a` | `2` | A |
                | `b` | (empty) | B |
                | `gone` | `0` | no more |

                ## `io.romulus.y`

                | `c` | `1` | C |

                ## Other

                | `d` | `1` | D |
                """);
        assertEquals(Map.of("io.romulus.x", Map.of("a", "2", "b", "", "gone", "0"), "io.romulus.y", Map.of("c", "1")),
                doc);
        assertEquals(Set.of("io.romulus.x a: etc/ says '1', the reference '2'",
                "io.romulus.x new.key: in etc/, not in the reference", "io.romulus.x gone: in the reference, not in etc/",
                "io.romulus.y: in the reference, not in etc/"), new HashSet<>(differences(etc, doc)));
    }
}
