package io.romulus.assembly;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import io.romulus.assembly.ConfigReference.Attribute;
import io.romulus.assembly.ConfigReference.Result;
import io.romulus.assembly.ConfigReference.Shipped;

import org.junit.jupiter.api.Test;

/**
 * docs/configuration.md's key tables are the ones the bundles' metatype and etc/ make: the build regenerates the
 * reference into target/generated-docs/configuration.md and fails when the committed one differs, with the diff and
 * the command that rewrites it ({@value ConfigReference#COMMAND}, which runs this test with
 * {@code -Dromulus.docs.write=true}).
 */
class ConfigReferenceTest {

    @Test
    void theCommittedReferenceIsTheOneTheMetatypeAndEtcMake() throws IOException, InterruptedException {
        Path root = Distribution.root();
        Path committed = root.resolve("docs/configuration.md");
        String before = Files.readString(committed, StandardCharsets.UTF_8);
        Result r = ConfigReference.regenerate(before, ConfigReference.etc(root.resolve("etc")),
                ConfigReference.metatype(Distribution.assembly()));
        Path generated = Distribution.assembly().resolveSibling("generated-docs/configuration.md");
        Files.createDirectories(generated.getParent());
        Files.writeString(generated, r.document(), StandardCharsets.UTF_8);
        boolean rewrite = Boolean.parseBoolean(System.getProperty("romulus.docs.write", "false"));
        if (rewrite && !before.equals(r.document())) {
            Files.writeString(committed, r.document(), StandardCharsets.UTF_8);
        }
        assertEquals(List.of(), r.problems(), "what the components and etc/ say needs fixing before the reference can "
                + "be generated");
        if (!rewrite && !before.equals(r.document())) {
            Distribution.Result diff = Distribution.run(List.of("diff", "-u", committed.toString(),
                    generated.toString()), "");
            fail("docs/configuration.md is not what the bundles' metatype and etc/ make; the difference:\n" + diff.out()
                    + "\nRewrite it with: " + ConfigReference.COMMAND);
        }
    }

    @Test
    void aKeyOnlyAFileHasIsDescribedByTheCommentAboveItOrAboveItsGroup() {
        List<Shipped> keys = ConfigReference.cfg("x.cfg", List.of("#", "# The header of the file.", "#", "",
                "# Bounds, in ms.", "min = 1", "max = 9", "", "alone = a", "", "# Read it.", "# Twice.", "get = v",
                "# the rest", "* = admin"));
        assertEquals(List.of(new Shipped("min", "1", "Bounds, in ms."), new Shipped("max", "9", "Bounds, in ms."),
                new Shipped("alone", "a", ""), new Shipped("get", "v", "Read it. Twice."),
                new Shipped("*", "admin", "the rest")), keys);
        assertEquals(List.of(new Shipped("first", "1", "")), ConfigReference.cfg("y.cfg",
                List.of("#", "# A header right above the first key.", "#", "first = 1")));
    }

    @Test
    void theTableSaysTypeBoundsOptionsAndTheShippedDefaultAndReportsWhatIsMissingOrContradictory() {
        List<Attribute> declared = List.of(
                new Attribute("interval.ms", "Integer", "25", "Default epoch interval, ms", List.of(), "1", ""),
                new Attribute("mode", "String", "auto", "Which one.", List.of("auto", "on", "off"), "", ""),
                new Attribute("port", "Integer", "7", "The port | the socket", List.of(), "0", "65535"),
                new Attribute("tls", "Boolean", "false", "", List.of(), "", ""),
                new Attribute("connect", "String", null, "Where <namespace> lives", List.of(), "", ""),
                new Attribute("only.declared", "Long", "3", "Not shipped", List.of(), "", "9"));
        List<Shipped> shipped = List.of(new Shipped("interval.ms", "40", "comment"),
                new Shipped("mode", "auto", ""), new Shipped("port", "7", ""), new Shipped("tls", "false", ""),
                new Shipped("connect", "127.0.0.1:2181", ""), new Shipped("only.shipped", "", ""));
        List<String> problems = new ArrayList<>();
        assertEquals("""
                | key | default | type | meaning |
                | --- | --- | --- | --- |
                | `interval.ms` | `40` | integer, at least 1 | Default epoch interval, ms. |
                | `mode` | `auto` | `auto`, `on` or `off` | Which one. |
                | `port` | `7` | integer, 0 to 65535 | The port \\| the socket. |
                | `tls` | `false` | `true` or `false` |  |
                | `connect` | `127.0.0.1:2181` | text, required | Where &lt;namespace> lives. |
                | `only.shipped` | (empty) |  |  |
                | `only.declared` | `3` | integer, at most 9 | Not shipped. |
                """, ConfigReference.table("io.romulus.x", shipped, declared, problems));
        assertEquals(List.of("io.romulus.x interval.ms: etc/io.romulus.x.cfg ships '40', the component's default is "
                + "'25'", "io.romulus.x tls: no description (the description of its @AttributeDefinition)",
                "io.romulus.x only.shipped: no description (a comment above it in etc/io.romulus.x.cfg)"), problems);

        problems.clear();
        assertEquals("""
                | key | default | meaning |
                | --- | --- | --- |
                | `scale[/(--pairs\\|-n)/]` | `admin` | Scale a domain. |
                """, ConfigReference.table("acl", List.of(new Shipped("scale[/(--pairs|-n)/]", "admin",
                "Scale a domain")), List.of(), problems));
        assertEquals(List.of(), problems);
    }

    @Test
    void regeneratingKeepsTheProseRewritesTheTablesAddsNewPidsAndReportsVanishedOnes() throws IOException {
        String document = """
                # Reference

                ## `io.romulus.a`

                Prose about a, written by hand.

                <!-- generated: io.romulus.a -->
                | key | default | meaning |
                | `old.key` | `1` | Gone. |
                <!-- end of generated: io.romulus.a -->

                More prose.

                ## `io.romulus.gone`

                <!-- generated: io.romulus.gone -->
                | `k` | `v` | Stays until someone removes it. |
                <!-- end of generated: io.romulus.gone -->
                """;
        Map<String, List<Shipped>> etc = new TreeMap<>();
        etc.put("io.romulus.a", List.of(new Shipped("new.key", "2", "A new key")));
        etc.put("io.romulus.b", List.of(new Shipped("b", "3", "Key b")));
        Map<String, List<Attribute>> metatype = new TreeMap<>();
        metatype.put("io.romulus.c", List.of(new Attribute("c", "String", "x", "Key c", List.of(), "", "")));
        Result r = ConfigReference.regenerate(document, etc, metatype);
        String table = """
                | key | default | meaning |
                | `old.key` | `1` | Gone. |
                """;
        assertEquals(document.replace(table, """
                | key | default | meaning |
                | --- | --- | --- |
                | `new.key` | `2` | A new key. |
                """) + """

                ## `io.romulus.b`

                File: `etc/io.romulus.b.cfg`.

                <!-- generated: io.romulus.b -->
                | key | default | meaning |
                | --- | --- | --- |
                | `b` | `3` | Key b. |
                <!-- end of generated: io.romulus.b -->

                ## `io.romulus.c`

                No file in etc/.

                <!-- generated: io.romulus.c -->
                | key | default | type | meaning |
                | --- | --- | --- | --- |
                | `c` | `x` | text | Key c. |
                <!-- end of generated: io.romulus.c -->
                """, r.document());
        assertEquals(List.of("io.romulus.gone: a generated table in the reference, but neither etc/ nor a component "
                + "has it"), r.problems());
        assertEquals(r.document(), ConfigReference.regenerate(r.document(), etc, metatype).document(),
                "a second run changes nothing");
    }

    @Test
    void theMetatypeReaderTakesTypesDefaultsOptionsAndBoundsAndLeavesDeprecatedKeysOut() throws IOException {
        String xml = """
                <?xml version="1.0" encoding="UTF-8"?>
                <metatype:MetaData xmlns:metatype="http://www.osgi.org/xmlns/metatype/v1.2.0">
                  <OCD id="io.romulus.x.internal.XConfig" name="X" description="X">
                    <AD id="node.id" type="String" name="Node id (deprecated)" description="old" default=""/>
                    <AD id="mode" type="String" name="Mode" description="Which" default="auto">
                      <Option label="auto" value="auto"/>
                      <Option label="off" value="off"/>
                    </AD>
                    <AD id="port" type="Integer" name="Port" description="Port" default="7" min="1" max="9"/>
                    <AD id="connect" type="String" name="Connect" description="Where"/>
                  </OCD>
                  <Designate pid="io.romulus.x">
                    <Object ocdref="io.romulus.x.internal.XConfig"/>
                  </Designate>
                </metatype:MetaData>
                """;
        Map<String, List<Attribute>> pids = new TreeMap<>();
        ConfigReference.metatype(new ByteArrayInputStream(xml.getBytes(StandardCharsets.UTF_8)), pids);
        assertEquals(Map.of("io.romulus.x", List.of(
                new Attribute("mode", "String", "auto", "Which", List.of("auto", "off"), "", ""),
                new Attribute("port", "Integer", "7", "Port", List.of(), "1", "9"),
                new Attribute("connect", "String", null, "Where", List.of(), "", ""))), pids);
    }
}
