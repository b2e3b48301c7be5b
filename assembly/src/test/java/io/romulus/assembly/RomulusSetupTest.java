package io.romulus.assembly;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Properties;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/romulus-setup: two nodes get their names and one stream secret, generated once, before either starts; a node
 * that already made a secret of its own is not silently given another.
 */
class RomulusSetupTest {

    /** A node directory as the tarball unpacks it: bin/romulus-setup and the etc/ files the script edits. */
    private static Path node(Path parent, String name) throws IOException {
        Path home = parent.resolve(name);
        Files.createDirectories(home.resolve("bin"));
        Files.createDirectories(home.resolve("etc"));
        Path assembly = Distribution.assembly();
        Path script = assembly.resolve("bin/romulus-setup");
        assertTrue(Files.isExecutable(script), script + " is missing or not executable in the assembly");
        Files.copy(script, home.resolve("bin/romulus-setup"));
        for (String cfg : List.of("io.romulus.node.cfg", "io.romulus.transport.mina.cfg")) {
            Files.copy(assembly.resolve("etc").resolve(cfg), home.resolve("etc").resolve(cfg));
        }
        return home;
    }

    private static Distribution.Result setup(Path home, String input, String... args)
            throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(home.resolve("bin/romulus-setup").toString()));
        command.addAll(List.of(args));
        return Distribution.run(command, input);
    }

    private static String nodeId(Path home) throws IOException {
        Properties p = new Properties();
        try (var in = Files.newInputStream(home.resolve("etc/io.romulus.node.cfg"))) {
            p.load(in);
        }
        return p.getProperty("node.id");
    }

    private static Path secret(Path home) {
        return home.resolve("etc/romulus-stream.secret");
    }

    private static String secretText(Path home) throws IOException {
        return Files.readString(secret(home), StandardCharsets.US_ASCII).strip();
    }

    @Test
    void twoNodesGetTheirNamesAndOneSecretGeneratedOnce(@TempDir Path dir) throws Exception {
        Path a = node(dir, "a");
        Path b = node(dir, "b");
        Distribution.Result first = setup(a, "", "node-a");
        assertEquals(0, first.exit(), first.toString());
        assertTrue(first.out().contains("generated a new secret"), first.toString());
        assertEquals("node-a", nodeId(a));
        // what the transport reads: base64 of 32 random bytes, readable by root alone
        assertEquals(32, Base64.getDecoder().decode(secretText(a)).length);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(secret(a))));

        // the second node takes the first one's secret on its standard input (ssh node-a cat ... | romulus-setup)
        Distribution.Result second = setup(b, Files.readString(secret(a), StandardCharsets.US_ASCII), "node-b",
                "--secret", "-");
        assertEquals(0, second.exit(), second.toString());
        assertEquals("node-b", nodeId(b));
        assertEquals(secretText(a), secretText(b));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(secret(b))));
        assertEquals(1, Files.readString(b.resolve("etc/io.romulus.node.cfg"), StandardCharsets.UTF_8)
                .lines().filter(l -> l.startsWith("node.id")).count(), "node.id set once, in place");

        // running it again on the first node keeps its secret (the second node has it already)
        String before = secretText(a);
        Distribution.Result again = setup(a, "", "node-a");
        assertEquals(0, again.exit(), again.toString());
        assertEquals(before, secretText(a));
        // and from a file instead of standard input
        Path c = node(dir, "c");
        Distribution.Result fromFile = setup(c, "", "node-c", "--secret", secret(a).toString());
        assertEquals(0, fromFile.exit(), fromFile.toString());
        assertEquals(before, secretText(c));
    }

    @Test
    void aNodeThatMadeASecretOfItsOwnKeepsItUnlessForced(@TempDir Path dir) throws Exception {
        Path a = node(dir, "a");
        Path b = node(dir, "b");
        assertEquals(0, setup(a, "", "node-a").exit());
        // node b was started before it was set up: the transport generated a secret of its own
        String own = Base64.getEncoder().encodeToString(new byte[32]);
        Files.writeString(secret(b), own + "\n", StandardCharsets.US_ASCII);
        String shared = Files.readString(secret(a), StandardCharsets.US_ASCII);
        Distribution.Result refused = setup(b, shared, "node-b", "--secret", "-");
        assertEquals(1, refused.exit(), refused.toString());
        assertTrue(refused.err().contains("already holds another secret") && refused.err().contains("--force"),
                refused.toString());
        assertEquals(own, secretText(b));
        assertNotEquals("node-b", nodeId(b), "a refused setup changes nothing");

        Distribution.Result forced = setup(b, shared, "node-b", "--secret", "-", "--force");
        assertEquals(0, forced.exit(), forced.toString());
        assertEquals(secretText(a), secretText(b));
        assertEquals("node-b", nodeId(b));
    }

    @Test
    void refusesWhatTheNodeCouldNotUse(@TempDir Path dir) throws Exception {
        Path a = node(dir, "a");
        Distribution.Result shortSecret = setup(a, Base64.getEncoder().encodeToString(new byte[8]), "node-a",
                "--secret", "-");
        assertEquals(1, shortSecret.exit(), shortSecret.toString());
        assertTrue(shortSecret.err().contains("at least 16 bytes"), shortSecret.toString());
        Distribution.Result notBase64 = setup(a, "not a secret!", "node-a", "--secret", "-");
        assertEquals(1, notBase64.exit(), notBase64.toString());
        Distribution.Result badName = setup(a, "", "node a");
        assertEquals(1, badName.exit(), badName.toString());
        assertTrue(badName.err().contains("node id 'node a'"), badName.toString());
        assertEquals(2, setup(a, "").exit(), "no node id: usage");
        assertTrue(Files.notExists(secret(a)), "nothing written by a refused setup");
        assertEquals("", nodeId(a));
    }
}
