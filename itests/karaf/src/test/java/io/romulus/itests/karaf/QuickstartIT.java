package io.romulus.itests.karaf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The quickstart's commands are the demo's, and CI runs them: every command of docs/quickstart.md's code blocks, in
 * the document's order, exactly as a user types it, from the repository's top directory, against the assembly the
 * reactor built ({@code ROMULUS_DEMO_SKIP_BUILD=1} makes {@code scripts/demo} skip its own {@code mvn install}).
 * Each command must end with exit code 0 and show what the quickstart says it shows; a command this test has no
 * check for fails it, so a command added to the quickstart is either exercised here or the build says why not.
 *
 * <p>Left out: {@code scripts/demo debian}, the same walk with the Debian guest (PostgreSQL under pgbench). It
 * builds a 2 GiB image and boots Debian under TCG, minutes more than the budget of this test; the image and the
 * failover of PostgreSQL under pgbench are DebianGuestFailoverTest's (itests/e2e).
 *
 * <p>Run alone (needs root, QEMU, the assembly): {@code mvn -o -B verify -pl itests/karaf -Dit.test=QuickstartIT}
 * after {@code mvn -o -B package -DskipTests} of the reactor.
 */
class QuickstartIT {

    static final Path ROOT = Path.of(System.getProperty("romulus.root", "../..")).toAbsolutePath().normalize();
    static final Path DEMO = ROOT.resolve("target/demo");
    static final Path LOG = Path.of("target/quickstart").toAbsolutePath();
    /** Commands of the quickstart this test does not run, and why. */
    static final Map<String, String> NOT_RUN = Map.of("scripts/demo debian", "the Debian guest takes minutes more "
            + "than this test's budget; DebianGuestFailoverTest covers it");
    /** What the quickstart has a user type into a node's shell after logging in ("Look around"). */
    static final String SHELL_INPUT = """
            romulus:status --alarms
            romulus:epochs qemu:demo -n 20
            romulus:detector
            romulus:netbuf
            romulus:interval qemu:demo 50
            romulus:status
            logout
            """;
    private static final Pattern VALUE = Pattern.compile("(?m)^value (\\d+) (\\d+) (\\d+)$");

    /**
     * The commands of a Markdown text's code blocks, in order: the lines of indented blocks (four spaces, after a
     * blank line) and of fenced ones.
     */
    static List<String> commands(String markdown) {
        List<String> commands = new ArrayList<>();
        boolean fenced = false;
        boolean indented = false;
        String previous = "";
        for (String line : markdown.split("\n", -1)) {
            if (line.strip().startsWith("```")) {
                fenced = !fenced;
            } else if (fenced) {
                if (!line.isBlank()) {
                    commands.add(line.strip());
                }
            } else if (line.startsWith("    ") && !line.isBlank() && (indented || previous.isBlank())) {
                commands.add(line.strip());
                indented = true;
            } else if (!line.isBlank()) {
                indented = false;
            }
            previous = line;
        }
        return commands;
    }

    /** The shell commands ({@code romulus:...} code spans) of the quickstart's section "Look around". */
    static List<String> shellCommands(String markdown) {
        Matcher section = Pattern.compile("(?ms)^## 2\\. Look around$(.*?)^## ").matcher(markdown);
        if (!section.find()) {
            return fail("docs/quickstart.md has no section \"## 2. Look around\"");
        }
        List<String> typed = new ArrayList<>();
        Matcher span = Pattern.compile("`(romulus:[^`]+)`").matcher(section.group(1));
        while (span.find()) {
            typed.add(span.group(1));
        }
        return typed;
    }

    /** The commands {@link #check} knows what to expect of. */
    static final List<String> CHECKED = List.of("scripts/demo", "scripts/demo status", "scripts/demo switchover",
            "scripts/demo failover", "scripts/demo rejoin", "scripts/demo stop");
    /** Switchovers run so far: each moves the VM to the other node. */
    private static int switchovers;
    static final String SHELL_LOGIN = "target/demo/node-a/bin/client ";

    /** Whether this test runs {@code command} and checks what it shows. */
    static boolean checks(String command) {
        return CHECKED.contains(command) || command.startsWith(SHELL_LOGIN);
    }

    /** Without root: each command of the quickstart is one this test checks, or NOT_RUN says why not. */
    @Test
    void everyCommandOfTheQuickstartIsOneThisTestRunsOrSaysWhyNot() throws IOException {
        String quickstart = Files.readString(ROOT.resolve("docs/quickstart.md"), StandardCharsets.UTF_8);
        List<String> commands = commands(quickstart);
        assertTrue(commands.containsAll(CHECKED), "docs/quickstart.md's code blocks: " + commands);
        for (String command : commands) {
            assertTrue(checks(command) || NOT_RUN.containsKey(command), "docs/quickstart.md tells a user to run `"
                    + command + "`, which QuickstartIT does not know: give it a check, or say in NOT_RUN why CI does "
                    + "not run it");
        }
        for (String typed : shellCommands(quickstart)) {
            assertTrue(SHELL_INPUT.contains(typed + "\n"), "docs/quickstart.md has a user try `" + typed + "` in a "
                    + "node's shell, which QuickstartIT does not type (SHELL_INPUT)");
        }
        assertEquals(List.of("scripts/demo", "a b", "scripts/demo status", "x"), commands("""
                # T

                1. A list item
                   continued, not code.

                    scripts/demo
                    a b

                text `scripts/demo nothing`

                ```
                scripts/demo status
                ```

                    x
                """), "the code blocks of a Markdown text");
    }

    @Test
    void theCommandsOfTheQuickstartDoWhatItSays() throws Exception {
        prerequisites();
        String quickstart = Files.readString(ROOT.resolve("docs/quickstart.md"), StandardCharsets.UTF_8);
        List<String> commands = commands(quickstart);
        assertTrue(commands.contains("scripts/demo"), "docs/quickstart.md has no scripts/demo: " + commands);
        Files.createDirectories(LOG);
        int step = 0;
        for (String command : commands) {
            step++;
            if (NOT_RUN.containsKey(command)) {
                continue;
            }
            assertTrue(checks(command), "QuickstartIT has no check for `" + command + "`");
            check(command, run(step, command));
        }
    }

    /** What the quickstart says each command shows. */
    private static void check(String command, String out) throws IOException, InterruptedException {
        switch (command) {
            case "scripts/demo" -> {
                expect(command, out, "Both nodes are up.");
                expectRoles(command, out, "a", "b");
                expect(command, out, "Binding qemu: available; dirty pages tracked with");
                assertTrue(!values().isEmpty(), "the client of the demo got no answer: " + clientLog());
            }
            case "scripts/demo status" -> {
                expectRoles(command, out, "a", "b");
                expect(command, out, "last answers");
            }
            case "scripts/demo switchover" -> {
                switchovers++;
                boolean toB = switchovers % 2 == 1;
                // the new primary protects the VM back towards the old one, which resumed its replica
                expectRoles(command, out, toB ? "b" : "a", toB ? "a" : "b");
                // the VM's memory and its replicated disk stay where they are: nothing is copied back
                expect(command, out, "without a full copy");
                clientCountsOn("switchover");
            }
            case "scripts/demo failover" -> {
                expect(command, out, "ALARM FAILOVER");
                expect(command, out, "it never reconnected");
                clientCountsOn("failover");
            }
            case "scripts/demo rejoin" -> expectRoles(command, out, "b", "a");
            case "scripts/demo stop" -> {
                expect(command, out, "Both demo nodes, their guests and the namespaces are gone.");
                String namespaces = exec(List.of("ip", "netns", "list"), 10);
                assertTrue(!namespaces.contains("rom-a") && !namespaces.contains("rom-c"),
                        "scripts/demo stop left namespaces: " + namespaces);
            }
            default -> {
                assertTrue(command.startsWith(SHELL_LOGIN), "QuickstartIT has no check for `" + command + "`");
                for (String shown : List.of("Domain", "qemu:demo", "Epoch interval of qemu:demo is now 50 ms")) {
                    expect(command, out, shown);
                }
            }
        }
    }

    /**
     * The client carries on after {@code what}: an answer received after the command ended (the client stamps answers
     * with CLOCK_MONOTONIC, System.nanoTime's clock), on the same connection, the counter without a gap or a repeat.
     */
    private static void clientCountsOn(String what) throws IOException, InterruptedException {
        long ended = System.nanoTime();
        long deadline = ended + TimeUnit.SECONDS.toNanos(60);
        while (lastReceivedNanos() < ended && System.nanoTime() < deadline) {
            Thread.sleep(500);
        }
        assertTrue(lastReceivedNanos() >= ended, "the client got no answer after the " + what + " within 60 s: "
                + clientLog());
        List<Long> values = values();
        for (int i = 1; i < values.size(); i++) {
            assertEquals(values.get(i - 1) + 1, values.get(i), "the counter jumped or repeated across the " + what
                    + " (answer " + i + "): " + clientLog());
        }
        assertTrue(!clientLog().contains("error"), "the client's connection broke: " + clientLog());
    }

    /** Runs one command of the quickstart as a user types it, from the top directory; its output, exit code 0. */
    private static String run(int step, String command) throws IOException, InterruptedException {
        Path out = LOG.resolve(String.format(Locale.ROOT, "%02d.log", step));
        ProcessBuilder pb = new ProcessBuilder("bash", "-c", command).directory(ROOT.toFile())
                .redirectErrorStream(true).redirectOutput(out.toFile());
        pb.environment().put("ROMULUS_DEMO_SKIP_BUILD", "1");
        boolean shell = command.startsWith("target/demo/");
        if (shell) {
            Path in = LOG.resolve(String.format(Locale.ROOT, "%02d.in", step));
            Files.writeString(in, SHELL_INPUT, StandardCharsets.UTF_8);
            pb.redirectInput(in.toFile());
        }
        long started = System.nanoTime();
        Process p = pb.start();
        if (!p.waitFor(shell ? 2 : 8, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            fail("`" + command + "` did not end in time; its output: " + Files.readString(out, StandardCharsets.UTF_8));
        }
        String text = Files.readString(out, StandardCharsets.UTF_8);
        System.out.printf(Locale.ROOT, "`%s`: exit %d after %d s%n", command, p.exitValue(),
                TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started));
        assertEquals(0, p.exitValue(), "`" + command + "` failed; its output:\n" + text);
        return text;
    }

    /**
     * The last status of node {@code primary} in {@code out} says PRIMARY and PROTECTED, that of {@code backup}
     * BACKUP.
     */
    private static void expectRoles(String command, String out, String primary, String backup) {
        assertTrue(lastStatus(out, primary).contains("qemu:demo | PRIMARY | PROTECTED"), "`" + command + "` does not "
                + "show node " + primary + " as the PROTECTED primary; its output:\n" + out);
        assertTrue(lastStatus(out, backup).contains("qemu:demo | BACKUP |"), "`" + command + "` does not show node "
                + backup + " as the backup; its output:\n" + out);
    }

    /** The last status of node {@code node} in a demo's output: from its last "--- node X ---" to the next "--- ". */
    static String lastStatus(String out, String node) {
        int start = out.lastIndexOf("--- node " + node + " ---");
        if (start < 0) {
            return "";
        }
        int end = out.indexOf("\n--- ", start + 1);
        return end < 0 ? out.substring(start) : out.substring(start, end);
    }

    private static void expect(String command, String out, String shown) {
        assertTrue(out.contains(shown), "`" + command + "` does not show \"" + shown + "\"; its output:\n" + out);
    }

    private static String clientLog() throws IOException {
        Path log = DEMO.resolve("client.log");
        return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "(no " + log + ")";
    }

    /** The counter values the demo's client got, in order. */
    private static List<Long> values() throws IOException {
        List<Long> values = new ArrayList<>();
        Matcher m = VALUE.matcher(clientLog());
        while (m.find()) {
            values.add(Long.parseLong(m.group(1)));
        }
        return values;
    }

    /** When the demo's client received its last answer, System.nanoTime's clock; Long.MIN_VALUE for none. */
    private static long lastReceivedNanos() throws IOException {
        long last = Long.MIN_VALUE;
        Matcher m = VALUE.matcher(clientLog());
        while (m.find()) {
            last = Long.parseLong(m.group(3));
        }
        return last;
    }

    private static String exec(List<String> command, long seconds) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail(String.join(" ", command) + " did not end in " + seconds + " s");
        }
        return out;
    }

    private static void prerequisites() throws IOException, InterruptedException {
        String uid = exec(List.of("id", "-u"), 10).strip();
        if (!uid.equals("0")) {
            fail("QuickstartIT needs root (scripts/demo makes network namespaces and QEMU guests with taps): uid is "
                    + uid + "; run scripts/test (mvn verify) as root");
        }
        Path target = ROOT.resolve("assembly/target");
        try (Stream<Path> s = Files.isDirectory(target) ? Files.list(target) : Stream.<Path>empty()) {
            if (s.noneMatch(p -> p.getFileName().toString().matches("io\\.romulus\\.assembly-.*\\.tar\\.gz"))) {
                fail("the Romulus assembly was not built: no assembly/target/io.romulus.assembly-*.tar.gz (run the "
                        + "itests through the reactor: mvn verify)");
            }
        }
    }

    @AfterAll
    static void stopTheDemo() throws IOException, InterruptedException {
        if (Files.isDirectory(DEMO)) {
            exec(List.of("bash", "-c", "cd " + ROOT + " && scripts/demo stop"), 120);
        }
    }
}
