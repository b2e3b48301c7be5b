package io.romulus.itests.karaf;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Enumeration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NavigableSet;
import java.util.Optional;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Collectors;

import com.fasterxml.jackson.databind.JsonNode;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 8 end to end: every implementation bundle is replaced with {@code bundle:update} by a rebuilt jar of another
 * version, and every optional feature is uninstalled and installed again, while the demo VM is protected at 40 Hz
 * between two real Karaf nodes, as {@code scripts/demo} sets them up (lab {@value #LAB}, ports of its own). A client
 * holds one TCP connection to the guest's counter for the whole test; at the end the primary host dies and the client
 * carries on with the backup's replica.
 *
 * <p>Each update must leave the bundle Active at its new version, its MBeans registered again, the domain PROTECTED
 * again within {@value #BOUND_SECONDS} s without a full copy, its configuration in force, the guest's QEMU the same
 * process, and the client's counter unbroken. Failures are collected and reported together with the figures
 * (target/hot-upgrade/figures.txt): per update the time to PROTECTED, the epochs without protection, the longest VM
 * pause and the longest client round trip, beside the same figures of a quiet period measured first; then per updated
 * bundle (and reinstalled feature) the client's longest wait around it beside the median of the same replies.
 *
 * <p>Run alone (needs root, QEMU, the assembly): {@code mvn -o -B verify -pl itests/karaf -Dit.test=HotUpgradeIT}
 * after {@code mvn -o -B package -DskipTests} of the reactor.
 */
class HotUpgradeIT {

    static final String LAB = "rhu";
    static final String DOMAIN = "qemu:demo";
    static final int INTERVAL_MS = 25;
    static final int BOUND_SECONDS = 30;
    static final String INITIAL_COPY = "Initial copy of " + DOMAIN + " sent";
    static final String RESUMED = "Resumed the stream of " + DOMAIN + " at checkpoint";
    static final String GUEST_IP = "10.77.0.10";
    static final int GUEST_PORT = 7000;

    /** The bundles in the order they are updated; the ones also updated on the backup. */
    static final List<String> BUNDLES = List.of("engine", "transport.mina", "netbuf", "detector", "qemu", "xen",
            "drbd", "scaleout", "shell");
    static final List<String> ALSO_ON_BACKUP = List.of("engine", "transport.mina", "qemu");
    /** Optional features of the assembly, each with a bundle that shows whether it is installed. */
    static final Map<String, String> OPTIONAL_FEATURES = new java.util.LinkedHashMap<>();

    static {
        OPTIONAL_FEATURES.put("romulus-xen", "io.romulus.xen");
        OPTIONAL_FEATURES.put("romulus-drbd", "io.romulus.drbd");
        OPTIONAL_FEATURES.put("romulus-nbd", "io.romulus.nbd");
        OPTIONAL_FEATURES.put("romulus-witness-zookeeper", "io.romulus.witness.zookeeper");
        OPTIONAL_FEATURES.put("romulus-sim", "io.romulus.sim");
        OPTIONAL_FEATURES.put("romulus-scaleout", "io.romulus.scaleout");
        OPTIONAL_FEATURES.put("romulus-hawtio", "hawtio-default");
    }

    static final Path ROOT = Path.of(System.getProperty("romulus.root", "../..")).toAbsolutePath().normalize();
    static final Path WORK = Path.of("target/hot-upgrade").toAbsolutePath();

    private static KarafNode a;
    private static KarafNode b;
    private static CounterClient client;
    private static EpochRecorder recorder;

    private final List<String> problems = new ArrayList<>();
    /** Why the remaining steps are not run (protection could not be restored), or null. */
    private String abandoned;
    private final List<Row> rows = new ArrayList<>();
    private final List<Wait> waits = new ArrayList<>();
    /** When the step's last shell command (bundle:update, feature:install) returned. */
    private Mark commandEnd;
    private int rebuilt;

    /** A moment on both clocks: the nodes' wall clock (epochs) and the client's monotonic clock (replies). */
    record Mark(long millis, long nanos) {
        static Mark now() {
            return new Mark(System.currentTimeMillis(), System.nanoTime());
        }
    }

    /**
     * How long the client waited for its answers around one step: every reply in flight at some moment of the step
     * (received after its start, sent before its end). A netbuf update that drops held output shows here as a
     * retransmission: a longest wait of hundreds of ms against a median of one epoch plus an ACK.
     */
    record Wait(String step, String node, int replies, long longestMicros, long medianMicros, long longestAfterMillis,
            long longestAtCommandMicros) {
    }

    /** How long after its shell command returned a step's command still counts as "around the update". */
    static final long AROUND_COMMAND_NANOS = 500_000_000L;

    /** The figures of one step of the test. */
    record Row(String step, String node, double toProtectedSeconds, long commitGapMillis, long epochs,
            long longestPauseMicros, long longestRoundTripMicros, long fullCopies, long resumes, String states,
            long earlyReplies, String verdict) {
    }

    @Test
    void everyBundleIsUpdatedWhileTheDomainStaysProtected() throws Exception {
        prerequisites();
        cleanUp();
        KarafNode.run(List.of("rm", "-rf", WORK.toString()), 60);
        Files.createDirectories(WORK);
        setUpNodes();
        protect();
        long qemuPid = a.qemuPid("demo").orElseThrow(() -> new AssertionError("node A has no qemu.pid for demo"));

        client = new CounterClient(WORK.resolve("client.log"));
        client.start(ROOT.resolve("scripts/counter-client.py"), LAB + "-c", GUEST_IP, GUEST_PORT, 0.02);
        await("the counter client's first answer", 30, () -> replies().size() > 3);
        recorder = new EpochRecorder(a, DOMAIN);

        for (String bundle : BUNDLES) {
            for (KarafNode node : ALSO_ON_BACKUP.contains(bundle) ? List.of(a, b) : List.of(a)) {
                configCheck(bundle, node).ifPresent(p -> problems.add("before any update: " + p));
            }
        }
        // a loaded machine can make the first stream restart before the domain is PROTECTED; from then on none may
        long initialCopies = a.countLog(INITIAL_COPY);
        if (initialCopies < 1) {
            problems.add("after protect: no '" + INITIAL_COPY + "' in node A's karaf.log: the log line changed?");
        }

        Mark quiet = Mark.now();
        Thread.sleep(10_000);
        Mark quietEnd = Mark.now();
        rows.add(figures("quiet (baseline)", "-", quiet, quietEnd, Double.NaN, 0, 0, "-"));
        waits.add(clientWait("quiet (baseline)", "-", quiet, quietEnd, quietEnd));

        List<String> steps = new ArrayList<>();
        for (String bundle : selected("hotupgrade.bundles", BUNDLES)) {
            steps.add("update " + bundle + " a");
            if (ALSO_ON_BACKUP.contains(bundle)) {
                steps.add("update " + bundle + " b");
            }
        }
        for (String feature : selected("hotupgrade.features", List.copyOf(OPTIONAL_FEATURES.keySet()))) {
            steps.add("feature " + feature);
        }
        steps.add("failover");
        for (String step : steps) {
            if (abandoned != null) {
                problems.add(step + ": not run: " + abandoned);
                continue;
            }
            String[] w = step.split(" ");
            if (w[0].equals("update")) {
                update(w[1], w[2].equals("a") ? a : b, qemuPid);
            } else if (w[0].equals("feature")) {
                reinstall(w[1], OPTIONAL_FEATURES.get(w[1]), qemuPid);
            } else {
                failover();
            }
        }
        List<String> breaks = CounterClient.breaks(replies());
        if (!breaks.isEmpty()) {
            problems.add("whole test: the counter client's counter broke over its one connection: " + breaks);
        }
        long copies = a.countLog(INITIAL_COPY) - initialCopies;
        if (copies != 0) {
            problems.add("whole test: " + copies + " full copies after the domain was first PROTECTED (initial "
                    + "protection took " + initialCopies + ")");
        }

        report();
        if (!problems.isEmpty()) {
            fail(problems.size() + " check(s) failed (figures in " + WORK.resolve("figures.txt") + "):\n  - "
                    + String.join("\n  - ", problems) + "\n" + table() + "\n" + waitTable());
        }
    }

    // ---------------------------------------------------------------------------------------------------- set-up

    private static void prerequisites() throws Exception {
        String uid = KarafNode.run(List.of("id", "-u"), 10).trim();
        if (!uid.equals("0")) {
            fail("HotUpgradeIT needs root (network namespaces, QEMU guests with taps, NFQUEUE): uid is " + uid
                    + "; run scripts/test (mvn verify) as root");
        }
        for (String tool : List.of("qemu-system-x86_64", "python3", "ip", "tar", "pgrep", "timeout", "iptables")) {
            String found = KarafNode.run(List.of("sh", "-c", "command -v " + tool + " || true"), 10).trim();
            if (found.isEmpty()) {
                fail("HotUpgradeIT needs " + tool + " on the PATH (scripts/prerequisites.sh installs it)");
            }
        }
        if (!Files.isRegularFile(assembly())) {
            fail("the Romulus assembly was not built: expected it at " + assembly()
                    + " (run the itests through the reactor: mvn verify)");
        }
    }

    /**
     * The steps to run: all by default; {@code -Dhotupgrade.bundles=netbuf,detector} (or {@code none}) runs a part,
     * for whoever works on one bundle. A partial run says so in its figures.
     */
    private static List<String> selected(String property, List<String> all) {
        String value = System.getProperty(property, "").trim();
        if (value.isEmpty()) {
            return all;
        }
        List<String> out = new ArrayList<>();
        for (String s : value.split(",")) {
            String name = s.trim();
            if (name.equals("none")) {
                continue;
            }
            if (!all.contains(name)) {
                fail(property + ": '" + name + "' is none of " + all);
            }
            out.add(name);
        }
        return out;
    }

    private static Path assembly() {
        return Path.of(System.getProperty("romulus.assembly",
                ROOT.resolve("assembly/target/io.romulus.assembly-0.1.0-SNAPSHOT.tar.gz").toString()));
    }

    private static void setUpNodes() throws Exception {
        KarafNode.run(List.of(ROOT.resolve("scripts/netlab").toString(), "up", LAB), 60);
        a = new KarafNode("a", WORK.resolve("node-a"), Path.of("/dev/shm/" + LAB + "-a"), 28100, LAB + "-a");
        b = new KarafNode("b", WORK.resolve("node-b"), Path.of("/dev/shm/" + LAB + "-b"), 28110, LAB + "-b");
        // both nodes prove the same stream secret, made here for this run
        byte[] secret = new byte[32];
        new SecureRandom().nextBytes(secret);
        for (KarafNode n : List.of(a, b)) {
            n.unpack(assembly(), Base64.getEncoder().encodeToString(secret));
            if (!Files.isReadable(n.home.resolve("guest/vmlinuz"))) {
                fail("the assembly has no guest/vmlinuz (the native/ module builds the demo guest)");
            }
            listOptionalFeaturesOneByOne(n);
            changeConfiguration(n);
        }
        a.start();
        b.start();
        for (KarafNode n : List.of(a, b)) {
            await(n + " answers on Jolokia with the Engine MBean", 240,
                    () -> n.mbeanPresent(EpochRecorder.ENGINE) && n.mbeanPresent("io.romulus:type=Hypervisor,name=qemu"));
        }
    }

    /**
     * The assembly boots the umbrella feature {@code romulus}, which holds every optional feature: Karaf refuses
     * {@code feature:uninstall romulus-xen} then ("not installed": it is no root requirement). The nodes here boot
     * the umbrella's features one by one instead: the same bundles, each optional feature removable.
     */
    private static void listOptionalFeaturesOneByOne(KarafNode n) throws IOException {
        Path cfg = n.home.resolve("etc/org.apache.karaf.features.cfg");
        String text = Files.readString(cfg);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)([=,\\s]|^)romulus/([^,\\s]+)").matcher(text);
        if (!m.find()) {
            fail("etc/org.apache.karaf.features.cfg of the assembly boots no romulus feature: " + text);
        }
        String v = m.group(2);
        String each = "management, romulus-core/" + v + ", romulus-qemu/" + v + ", romulus-netbuf/" + v + ", "
                + OPTIONAL_FEATURES.keySet().stream().map(f -> f + "/" + v).collect(Collectors.joining(", "));
        Files.writeString(cfg, m.replaceFirst(m.group(1) + each));
    }

    /**
     * One value of each updated component that has configuration is changed from its default before the nodes
     * start; {@link #configCheck} sees whether the running component uses it.
     */
    private static void changeConfiguration(KarafNode n) throws IOException {
        n.setConfig("io.romulus.engine.cfg", "interval.min.ms", "20");
        n.setConfig("io.romulus.transport.mina.cfg", "listen.host", "127.0.0.1");
        n.setConfig("io.romulus.netbuf.nfqueue.cfg", "copy.range", "0");
        n.setConfig("io.romulus.detector.cfg", "threshold", "9.5");
        // the default kernel goes away: only the configured one keeps the binding available
        Files.move(n.home.resolve("guest/vmlinuz"), n.home.resolve("guest/vmlinuz-" + LAB));
        n.setConfig("io.romulus.qemu.cfg", "guest.kernel", "guest/vmlinuz-" + LAB);
        n.setConfig("io.romulus.xen.cfg", "libvirt.uri", "xen+unix:///system");
        n.setConfig("io.romulus.drbd.cfg", "allow.protocol.c.without.barriers", "true");
    }

    private static void protect() throws Exception {
        String out = a.shell(protectCommand());
        if (out.contains("Error")) {
            fail("romulus:protect on node A failed: " + out);
        }
        await(DOMAIN + " PROTECTED on node A", 180, () -> stateOnA().equals("PROTECTED"));
        Path console = a.runDir.resolve("demo/console.log");
        await("ROMULUS-GUEST-READY in " + console, 120, () -> {
            try {
                return Files.exists(console) && Files.readString(console, StandardCharsets.ISO_8859_1)
                        .contains("ROMULUS-GUEST-READY");
            } catch (IOException e) {
                return false;
            }
        });
    }

    private static String protectCommand() {
        return "romulus:protect " + DOMAIN + " --peer 127.0.0.1:" + b.streamPort + " --heartbeat 127.0.0.1:"
                + b.heartbeatPort + " --interval " + INTERVAL_MS
                + " -o memory=128M -o nic=tap -o dirty-rate=500";
    }

    /** The domain's state on node A as the Engine MBean shows it, "absent" or "unreachable". */
    private static String stateOnA() {
        try {
            return KarafNode.state(a.jolokia(KarafNode.read(EpochRecorder.ENGINE, "Status")), DOMAIN, "PRIMARY")
                    .orElse("absent");
        } catch (IOException e) {
            return "unreachable";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "unreachable";
        }
    }

    // --------------------------------------------------------------------------------------------------- updates

    private void update(String bundle, KarafNode node, long qemuPid) throws Exception {
        String bsn = "io.romulus." + bundle;
        String step = "update " + bundle;
        KarafNode.BundleRow before = node.bundles().get(bsn);
        if (before == null) {
            problems.add(step + " on " + node + ": " + bsn + " is not installed");
            return;
        }
        Path jar = rebuild(node, bsn);
        String version = bundleVersion(jar);
        long copies = a.countLog(INITIAL_COPY);
        long resumes = a.countLog(RESUMED);
        int problemsBefore = problems.size();

        Mark t0 = Mark.now();
        String out = node.shell("bundle:update " + before.id() + " file:" + jar);
        Mark t1 = Mark.now();
        commandEnd = t1;
        if (out.contains("Error")) {
            problems.add(step + " on " + node + ": bundle:update failed: " + out.trim());
        }
        List<String> mbeans = mbeansOf(bundle);
        long deadline = t0.nanos() + BOUND_SECONDS * 1_000_000_000L;
        boolean active = false;
        boolean registered = false;
        boolean protectedAgain = false;
        double toProtected = Double.NaN;
        while (System.nanoTime() < deadline && !(active && registered && protectedAgain)) {
            active = active || version.equals(activeVersion(node, bsn));
            registered = registered || mbeans.stream().allMatch(node::mbeanPresent);
            if (!protectedAgain && "PROTECTED".equals(recorder.poll()) && recorder.committedSince(t1.millis())) {
                protectedAgain = true;
                toProtected = (System.nanoTime() - t0.nanos()) / 1e9;
            }
            Thread.sleep(250);
        }
        if (!active) {
            problems.add(step + " on " + node + ": " + bsn + " not Active at version " + version + " within "
                    + BOUND_SECONDS + " s (bundle:list: " + node.bundles().get(bsn) + ")");
        }
        if (!registered) {
            problems.add(step + " on " + node + ": MBeans not registered again within " + BOUND_SECONDS + " s: "
                    + mbeans.stream().filter(m -> !node.mbeanPresent(m)).collect(Collectors.toList()));
        }
        if (!protectedAgain) {
            problems.add(step + " on " + node + ": " + DOMAIN + " not PROTECTED again (with a checkpoint committed "
                    + "after the update) within " + BOUND_SECONDS + " s; states seen on node A: "
                    + recorder.statesBetween(t0.millis(), System.currentTimeMillis()));
            recover(step + " on " + node);
        }
        Thread.sleep(1000);
        configCheck(bundle, node).ifPresent(p -> problems.add(step + " on " + node + ": configuration lost: " + p));
        afterStep(step, node, t0, copies, resumes, qemuPid, toProtected, problemsBefore);
    }

    /** The checks and figures every step shares: full copies, QEMU, client, states, early replies. */
    private void afterStep(String step, KarafNode node, Mark t0, long copies, long resumes, long qemuPid,
            double toProtected, int problemsBefore) throws Exception {
        Mark end = Mark.now();
        long newCopies = a.countLog(INITIAL_COPY) - copies;
        if (newCopies > 0) {
            problems.add(step + " on " + node + ": a full resync: " + newCopies + " new '" + INITIAL_COPY
                    + "' in node A's karaf.log");
        }
        if (!ProcessHandle.of(qemuPid).map(ProcessHandle::isAlive).orElse(false)) {
            problems.add(step + " on " + node + ": the guest's QEMU on node A (pid " + qemuPid + ") died: the VM "
                    + "stopped");
        } else if (a.qemuPid("demo").orElse(-1L) != qemuPid) {
            problems.add(step + " on " + node + ": the guest's QEMU on node A (pid " + qemuPid + ") runs on, but "
                    + a.runDir.resolve("demo/qemu.pid") + " now says " + a.qemuPid("demo").map(String::valueOf)
                    .orElse("nothing (gone)"));
        }
        clientChecks(step + " on " + node, t0, end);
        NavigableSet<String> states = recorder.statesBetween(t0.millis(), end.millis());
        if (states.contains("UNPROTECTED")) {
            problems.add(step + " on " + node + ": the domain ran UNPROTECTED (output released without the "
                    + "backup's ACK); states seen: " + states);
        }
        long newResumes = a.countLog(RESUMED) - resumes;
        Row row = figures(step, node.name, t0, end, toProtected, newCopies, newResumes,
                problems.size() == problemsBefore ? "ok" : "FAILED");
        if (row.earlyReplies() > 0) {
            problems.add(step + " on " + node + ": " + row.earlyReplies() + " client replies came back faster than "
                    + "the fastest checkpoint commit (" + recorder.fastestCommitMicros() + " µs): output released "
                    + "before its checkpoint's ACK (I1)");
            row = figures(step, node.name, t0, end, toProtected, newCopies, newResumes, "FAILED");
        }
        rows.add(row);
        waits.add(clientWait(step, node.name, t0, end, commandEnd == null ? end : commandEnd));
        commandEnd = null;
    }

    /** When the domain is not protected in the end, protects it again (with a full copy) so the next steps count. */
    private void recover(String step) throws Exception {
        String state = stateOnA();
        if (state.equals("absent")) {
            String statusA = oneLine(a.shell("romulus:status"));
            String statusB = oneLine(b.shell("romulus:status"));
            String out = a.shell(protectCommand());
            problems.add(step + ": node A is no longer primary of " + DOMAIN + " (romulus:status on A: " + statusA
                    + "; on B: " + statusB + "); protected it again by hand to go on: " + oneLine(out));
        }
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < deadline && !stateOnA().equals("PROTECTED")) {
            Thread.sleep(500);
        }
        if (!stateOnA().equals("PROTECTED")) {
            abandoned = "after " + step + " " + DOMAIN + " could not be protected again (state " + stateOnA()
                    + " 60 s later)";
            problems.add(step + ": still not PROTECTED 60 s later (" + stateOnA() + "); the remaining steps are "
                    + "not run");
        }
    }

    private static String oneLine(String text) {
        return text.trim().replaceAll("\\s*\\n\\s*", " / ").replaceAll(" {2,}", " ");
    }

    /** Copies the node's jar of {@code bsn} with its Bundle-Version changed; everything else byte for byte. */
    private Path rebuild(KarafNode node, String bsn) throws IOException {
        Path jar;
        try (var files = Files.walk(node.home.resolve("system/io/romulus").resolve(bsn))) {
            jar = files.filter(p -> p.toString().endsWith(".jar")).findFirst()
                    .orElseThrow(() -> new IOException("no jar of " + bsn + " in " + node.home.resolve("system")));
        }
        rebuilt++;
        Path out = WORK.resolve("jars").resolve(bsn + "-" + node.name + "-hot" + rebuilt + ".jar");
        Files.createDirectories(out.getParent());
        try (JarFile in = new JarFile(jar.toFile())) {
            Manifest manifest = new Manifest(in.getManifest());
            Attributes main = manifest.getMainAttributes();
            String version = main.getValue("Bundle-Version");
            main.putValue("Bundle-Version", version.split("\\.").length == 4 ? version + "-hot" + rebuilt
                    : version + ".hot" + rebuilt);
            try (OutputStream file = Files.newOutputStream(out); JarOutputStream jos = new JarOutputStream(file, manifest)) {
                for (Enumeration<JarEntry> e = in.entries(); e.hasMoreElements();) {
                    JarEntry entry = e.nextElement();
                    if (entry.getName().equalsIgnoreCase(JarFile.MANIFEST_NAME)) {
                        continue;
                    }
                    JarEntry copy = new JarEntry(entry.getName());
                    copy.setTime(entry.getTime());
                    jos.putNextEntry(copy);
                    try (InputStream data = in.getInputStream(entry)) {
                        data.transferTo(jos);
                    }
                    jos.closeEntry();
                }
            }
        }
        return out;
    }

    private static String bundleVersion(Path jar) throws IOException {
        try (JarFile j = new JarFile(jar.toFile())) {
            return j.getManifest().getMainAttributes().getValue("Bundle-Version");
        }
    }

    /** The version of {@code bsn} if it is Active, through Karaf's bundle MBean (the data of bundle:list). */
    private static String activeVersion(KarafNode node, String bsn) {
        try {
            JsonNode all = node.jolokia(KarafNode.read("org.apache.karaf:type=bundle,name=root", "Bundles"));
            for (JsonNode row : KarafNode.rows(all, "Symbolic Name")) {
                if (bsn.equals(row.path("Symbolic Name").asText()) && "Active".equals(row.path("State").asText())) {
                    return row.path("Version").asText();
                }
            }
            return null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    private static List<String> mbeansOf(String bundle) {
        return switch (bundle) {
            case "engine" -> List.of(EpochRecorder.ENGINE, "io.romulus:type=NetBuffer,name=outputs",
                        "io.romulus:type=Hypervisor,name=qemu");
            case "transport.mina" -> List.of("io.romulus:type=Transport,name=mina");
            case "netbuf" -> List.of("io.romulus:type=NetBuffer,name=outputs");
            case "detector" -> List.of("io.romulus:type=Detector,name=detector");
            case "qemu" -> List.of("io.romulus:type=Hypervisor,name=qemu");
            case "xen" -> List.of("io.romulus:type=Hypervisor,name=xen");
            case "drbd" -> List.of("io.romulus:type=Drbd,name=drbd");
            case "scaleout" -> List.of("io.romulus:type=ScaleOut,name=scaleout");
            default -> List.of();
        };
    }

    /**
     * Whether the running component of {@code bundle} on {@code node} uses the value {@link #changeConfiguration}
     * set; a description of what was seen when it does not.
     */
    private static Optional<String> configCheck(String bundle, KarafNode node) throws Exception {
        switch (bundle) {
            case "engine" -> {
                if (node != a) {
                    return Optional.empty(); // the interval is the primary's
                }
                String out = node.shell("romulus:interval " + DOMAIN + " 19");
                if (out.contains("between 20 and")) {
                    return Optional.empty();
                }
                if (!out.contains("Error")) {
                    node.shell("romulus:interval " + DOMAIN + " " + INTERVAL_MS);
                }
                return Optional.of("engine interval.min.ms = 20 not in force: romulus:interval " + DOMAIN
                        + " 19 was not refused for being below 20 ms (" + out.trim() + ")");
            }
            case "transport.mina" -> {
                return expect(node, "io.romulus:type=Transport,name=mina", "ListenAddress",
                        v -> v.asText().contains("127.0.0.1:" + node.streamPort), "listen.host = 127.0.0.1");
            }
            case "netbuf" -> {
                if (node != a) {
                    return Optional.empty(); // only the primary holds output
                }
                // copy.range = 0: NFQUEUE copies no payload, so byte counters stay 0 while the packets released grow
                // (the client's replies); a buffer whose counters stand still holds nothing any more
                String mbean = "io.romulus:type=NetBuffer,name=outputs";
                // each: packets and bytes queued, packets and bytes released, packets dropped
                List<long[]> first = KarafNode.bufferCounters(node.jolokia(KarafNode.read(mbean, "Buffers")));
                Thread.sleep(2000);
                JsonNode buffers = node.jolokia(KarafNode.read(mbean, "Buffers"));
                List<long[]> then = KarafNode.bufferCounters(buffers);
                long before = first.stream().mapToLong(r -> r[2]).sum();
                long after = then.stream().mapToLong(r -> r[2]).sum();
                if (then.isEmpty() || after <= before) {
                    return Optional.of("netbuf: no live output buffer: packets released " + before + " then " + after
                            + " 2 s later, while the client talks (" + buffers + ")");
                }
                return then.stream().allMatch(r -> r[3] == 0 && r[1] == 0) ? Optional.empty()
                        : Optional.of("netbuf nfqueue copy.range = 0 not in force: bytes counted " + buffers);
            }
            case "detector" -> {
                return expect(node, "io.romulus:type=Detector,name=detector", "Threshold",
                        v -> v.asDouble() == 9.5, "threshold = 9.5");
            }
            case "qemu" -> {
                return expect(node, "io.romulus:type=Hypervisor,name=qemu", "Available", JsonNode::asBoolean,
                        "guest.kernel = guest/vmlinuz-" + LAB + " (guest/vmlinuz is gone)");
            }
            case "xen" -> {
                return expect(node, "io.romulus:type=Hypervisor,name=xen", "Availability",
                        v -> v.asText().contains("xen+unix:///system"),
                        "libvirt.uri = xen+unix:///system");
            }
            case "drbd" -> {
                return expect(node, "io.romulus:type=Drbd,name=drbd", "AllowProtocolCWithoutBarriers",
                        JsonNode::asBoolean, "allow.protocol.c.without.barriers = true");
            }
            case "shell" -> {
                String out = node.shell("romulus:status");
                return out.contains(DOMAIN) ? Optional.empty()
                        : Optional.of("romulus:status does not show " + DOMAIN + ": " + out.trim());
            }
            default -> {
                return Optional.empty();
            }
        }
    }

    private static Optional<String> expect(KarafNode node, String mbean, String attribute,
            java.util.function.Predicate<JsonNode> ok, String what) {
        try {
            JsonNode v = node.jolokia(KarafNode.read(mbean, attribute));
            return ok.test(v) ? Optional.empty()
                    : Optional.of(what + " not in force: " + mbean + " " + attribute + " = " + v);
        } catch (IOException e) {
            return Optional.of(what + ": " + mbean + " " + attribute + " unreadable: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.of("interrupted");
        }
    }

    // -------------------------------------------------------------------------------------------------- features

    private void reinstall(String feature, String marker, long qemuPid) throws Exception {
        String step = "feature " + feature.replace("romulus-", "");
        long copies = a.countLog(INITIAL_COPY);
        long resumes = a.countLog(RESUMED);
        int problemsBefore = problems.size();
        Mark t0 = Mark.now();
        String out = a.shell("feature:uninstall " + feature, "bundle:list -s --no-format");
        if (out.contains("Error")) {
            problems.add(step + ": feature:uninstall failed: " + out.trim());
        }
        String state = bundleState(out, marker);
        if (state != null) {
            problems.add(step + ": " + marker + " still installed after feature:uninstall (" + state + ")");
        }
        // the feature operation may also take bundles back to their feature's version (after the updates above):
        // protection resumes meanwhile, so PROTECTED is awaited within the bound, not read at once
        if (!(feature.equals("romulus-hawtio") ? protectedPerShellWithin(t0) : protectedWithin(t0))) {
            problems.add(step + ": without the feature, " + DOMAIN + " not PROTECTED (with a checkpoint committed "
                    + "after the uninstall) within " + BOUND_SECONDS + " s; states seen on node A: "
                    + recorder.statesBetween(t0.millis(), System.currentTimeMillis()));
        }
        Mark t1 = Mark.now();
        out = a.shell("feature:install " + feature, "bundle:list -s --no-format");
        commandEnd = Mark.now();
        if (out.contains("Error")) {
            problems.add(step + ": feature:install failed: " + out.trim());
        }
        state = bundleState(out, marker);
        if (!"Active".equals(state)) {
            problems.add(step + ": " + marker + " not Active after feature:install (" + state + ")");
        }
        long deadline = t1.nanos() + BOUND_SECONDS * 1_000_000_000L;
        double toProtected = Double.NaN;
        while (System.nanoTime() < deadline) {
            if ("PROTECTED".equals(recorder.poll()) && recorder.committedSince(t1.millis())) {
                toProtected = (System.nanoTime() - t0.nanos()) / 1e9;
                break;
            }
            Thread.sleep(250);
        }
        if (Double.isNaN(toProtected)) {
            problems.add(step + ": " + DOMAIN + " not PROTECTED (with a checkpoint committed after the install) "
                    + "within " + BOUND_SECONDS + " s; states seen on node A: "
                    + recorder.statesBetween(t0.millis(), System.currentTimeMillis()));
            recover(step);
        }
        String bundle = marker.startsWith("io.romulus.") ? marker.substring("io.romulus.".length()) : "";
        for (String mbean : mbeansOf(bundle)) {
            if (!a.mbeanPresent(mbean)) {
                problems.add(step + ": " + mbean + " not registered again after feature:install");
            }
        }
        Thread.sleep(1000);
        afterStep(step, a, t0, copies, resumes, qemuPid, toProtected, problemsBefore);
    }

    /** Whether node A shows the domain PROTECTED with a checkpoint committed after {@code since}, within the bound. */
    private boolean protectedWithin(Mark since) throws InterruptedException {
        long deadline = since.nanos() + BOUND_SECONDS * 1_000_000_000L;
        while (System.nanoTime() < deadline) {
            if ("PROTECTED".equals(recorder.poll()) && recorder.committedSince(since.millis())) {
                return true;
            }
            Thread.sleep(250);
        }
        return false;
    }

    /**
     * The same as {@link #protectedWithin} through the shell: without the hawtio feature there is no Jolokia to read
     * the Engine MBean through. PROTECTED, and the epoch grows between two looks.
     */
    private boolean protectedPerShellWithin(Mark since) throws IOException, InterruptedException {
        long deadline = since.nanos() + BOUND_SECONDS * 1_000_000_000L;
        long seen = -1;
        while (System.nanoTime() < deadline) {
            long epoch = protectedEpochPerShell(a.shell("romulus:status"));
            if (epoch >= 0 && seen >= 0 && epoch > seen) {
                return true;
            }
            seen = epoch;
            Thread.sleep(500);
        }
        return false;
    }

    /** The epoch of the domain's PRIMARY row when it is PROTECTED, in romulus:status output; -1 otherwise. */
    private static long protectedEpochPerShell(String status) {
        for (String line : status.split("\\R")) {
            String[] cells = line.split("\\|");
            if (cells.length > 3 && cells[0].trim().equals(DOMAIN) && cells[1].trim().equals("PRIMARY")
                    && cells[2].trim().equals("PROTECTED")) {
                try {
                    return Long.parseLong(cells[3].trim());
                } catch (NumberFormatException e) {
                    return -1;
                }
            }
        }
        return -1;
    }

    /** The state of the first bundle whose symbolic name contains {@code marker}, in bundle:list -s output. */
    private static String bundleState(String bundleList, String marker) {
        for (Map.Entry<String, KarafNode.BundleRow> e : KarafNode.parseBundles(bundleList).entrySet()) {
            if (e.getKey().contains(marker)) {
                return e.getValue().state();
            }
        }
        return null;
    }

    // -------------------------------------------------------------------------------------------------- failover

    /** The primary host dies (kill -9 of its Karaf and QEMU); the client carries on with the backup's replica. */
    private void failover() throws Exception {
        int problemsBefore = problems.size();
        long copies = a.countLog(INITIAL_COPY);
        long resumes = a.countLog(RESUMED);
        Mark kill = Mark.now();
        a.killHard();
        a.qemuPid("demo").ifPresent(p -> ProcessHandle.of(p).ifPresent(ProcessHandle::destroyForcibly));
        recorder.close();
        int before = (int) replies().stream().filter(r -> r.receivedNanos() < kill.nanos()).count();
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < deadline && replies().size() < before + 50 && client.alive()) {
            Thread.sleep(250);
        }
        List<CounterClient.Reply> after = replies().stream().filter(r -> r.receivedNanos() >= kill.nanos())
                .collect(Collectors.toList());
        if (after.size() < 50) {
            problems.add("failover: the client got " + after.size() + " answers in the 60 s after node A died"
                    + (client.alive() ? "" : " (it exited: " + client.errors() + ")"));
        }
        if (b.countLog("ALARM FAILOVER") == 0) {
            problems.add("failover: node B logged no ALARM FAILOVER");
        }
        clientChecks("failover", kill, Mark.now());
        long firstAfter = after.isEmpty() ? -1 : after.get(0).roundTripNanos() / 1000;
        rows.add(new Row("failover (kill -9 A)", "b", Double.NaN, -1, -1, -1, firstAfter,
                a.countLog(INITIAL_COPY) - copies, a.countLog(RESUMED) - resumes, "-", 0,
                problems.size() == problemsBefore ? "ok" : "FAILED"));
    }

    // --------------------------------------------------------------------------------------------- client, figures

    private static List<CounterClient.Reply> replies() {
        try {
            return client.replies();
        } catch (IOException e) {
            return List.of();
        }
    }

    /** The counter went up by one at every answer and the client saw no error, up to {@code to}. */
    private void clientChecks(String step, Mark from, Mark to) throws IOException {
        List<String> errors = client.errors();
        if (!errors.isEmpty() && !problems.stream().anyMatch(p -> p.contains("counter client"))) {
            problems.add(step + ": the counter client failed: " + errors);
        }
        List<CounterClient.Reply> window = replies().stream()
                .filter(r -> r.receivedNanos() >= from.nanos() - 1_000_000_000L && r.receivedNanos() <= to.nanos())
                .collect(Collectors.toList());
        List<String> breaks = CounterClient.breaks(window);
        if (!breaks.isEmpty()) {
            problems.add(step + ": the counter client's counter broke (lost or repeated state): " + breaks);
        }
        if (window.isEmpty()) {
            problems.add(step + ": the counter client got no answer at all during the step");
        }
    }

    private Row figures(String step, String node, Mark from, Mark to, double toProtected, long copies, long resumes,
            String verdict) {
        long gap = recorder.longestCommitGapMillis(from.millis(), to.millis());
        long fastest = recorder.fastestCommitMicros();
        List<CounterClient.Reply> window = replies().stream()
                .filter(r -> r.sentNanos() >= from.nanos() && r.sentNanos() <= to.nanos())
                .collect(Collectors.toList());
        long longestRtt = window.stream().mapToLong(CounterClient.Reply::roundTripNanos).max().orElse(-1000) / 1000;
        long early = fastest < 0 ? 0 : window.stream().filter(r -> r.roundTripNanos() / 1000 < fastest).count();
        return new Row(step, node, toProtected, gap, recorder.epochsIn(from.millis(), to.millis()),
                recorder.longestPauseMicros(from.millis(), to.millis()), longestRtt, copies, resumes,
                String.join(",", recorder.statesBetween(from.millis(), to.millis())), early, verdict);
    }

    /**
     * The client's waits for the replies in flight at some moment between {@code from} and {@code to}, and the
     * longest of those in flight from {@code from} to {@value #AROUND_COMMAND_NANOS} ns after {@code command} (the
     * step's shell command returned): the update itself, without the checks that follow it.
     */
    private static Wait clientWait(String step, String node, Mark from, Mark to, Mark command) {
        List<CounterClient.Reply> window = replies().stream()
                .filter(r -> r.receivedNanos() >= from.nanos() && r.sentNanos() <= to.nanos())
                .sorted(java.util.Comparator.comparingLong(CounterClient.Reply::roundTripNanos))
                .collect(Collectors.toList());
        if (window.isEmpty()) {
            return new Wait(step, node, 0, -1, -1, 0, -1);
        }
        CounterClient.Reply longest = window.get(window.size() - 1);
        long aroundCommand = window.stream().filter(r -> r.sentNanos() <= command.nanos() + AROUND_COMMAND_NANOS)
                .mapToLong(CounterClient.Reply::roundTripNanos).max().orElse(-1000) / 1000;
        return new Wait(step, node, window.size(), longest.roundTripNanos() / 1000,
                window.get(window.size() / 2).roundTripNanos() / 1000,
                (longest.sentNanos() - from.nanos()) / 1_000_000, aroundCommand);
    }

    /** The client's longest wait per updated bundle (and per other step), beside the median of the same replies. */
    private String waitTable() {
        StringBuilder s = new StringBuilder("client wait per step (replies in flight during the step):\n");
        s.append(String.format(Locale.ROOT, "%-24s %-4s %7s %11s %10s %9s %11s%n", "step", "node", "replies",
                "longest ms", "median ms", "at +ms", "command ms"));
        Wait worst = null;
        for (Wait w : waits) {
            s.append(String.format(Locale.ROOT, "%-24s %-4s %7d %11s %10s %9s %11s%n", w.step(), w.node(),
                    w.replies(), millis(w.longestMicros()), millis(w.medianMicros()),
                    w.replies() == 0 ? "-" : Long.toString(w.longestAfterMillis()),
                    millis(w.longestAtCommandMicros())));
            if (!w.step().startsWith("quiet") && (worst == null || w.longestMicros() > worst.longestMicros())) {
                worst = w;
            }
        }
        if (worst != null) {
            s.append(String.format(Locale.ROOT, "longest client wait of all steps: %.1f ms at %s on %s%n",
                    worst.longestMicros() / 1000.0, worst.step(), worst.node()));
        }
        s.append("columns: longest/median = the client's round trips of the replies in flight during the step; "
                + "at = when the longest-waiting request was sent, after the step's start (negative: before it); "
                + "command = the longest of those in flight from the step's start to 0.5 s after its bundle:update "
                + "or feature:install returned (the update itself, not the checks after it)\n");
        return s.toString();
    }

    /** Microseconds as milliseconds with one decimal, "-" when negative (nothing measured). */
    private static String millis(long micros) {
        return micros < 0 ? "-" : String.format(Locale.ROOT, "%.1f", micros / 1000.0);
    }

    private String table() {
        Row quiet = rows.isEmpty() ? null : rows.get(0);
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "%-24s %-4s %9s %8s %7s %7s %9s %6s %9s %6s %5s %5s %5s %-28s %s%n",
                "step", "node", "toProt s", "gap ms", "noProt", "epochs", "pause ms", "x", "rtt ms", "x", "copy",
                "resum", "early", "states", "verdict"));
        for (Row r : rows) {
            long noProtection = r.commitGapMillis() < 0 ? -1
                    : Math.max(0, Math.round((double) r.commitGapMillis() / INTERVAL_MS) - 1);
            s.append(String.format(Locale.ROOT, "%-24s %-4s %9s %8s %7s %7s %9s %6s %9.1f %6s %5s %5s %5d %-28s %s%n",
                    r.step(), r.node(), Double.isNaN(r.toProtectedSeconds()) ? "-"
                            : String.format(Locale.ROOT, "%.1f", r.toProtectedSeconds()),
                    orDash(r.commitGapMillis()), orDash(noProtection), orDash(r.epochs()),
                    r.longestPauseMicros() < 0 ? "-"
                            : String.format(Locale.ROOT, "%.2f", r.longestPauseMicros() / 1000.0),
                    ratio(r.longestPauseMicros(), quiet == null ? -1 : quiet.longestPauseMicros()),
                    r.longestRoundTripMicros() / 1000.0,
                    ratio(r.longestRoundTripMicros(), quiet == null ? -1 : quiet.longestRoundTripMicros()),
                    r.fullCopies() < 0 ? "-" : Long.toString(r.fullCopies()),
                    r.resumes() < 0 ? "-" : Long.toString(r.resumes()), r.earlyReplies(), r.states(), r.verdict()));
        }
        long longestPause = recorder == null ? -1
                : recorder.epochs().stream().mapToLong(EpochRecorder.Epoch::pauseMicros).max().orElse(-1);
        s.append(String.format(Locale.ROOT, "longest VM pause over the whole test: %.2f ms (%d checkpoints seen, %d "
                + "failed polls); fastest commit (pause + ACK): %d µs; interval %d ms; bound %d s%n",
                longestPause / 1000.0, recorder == null ? 0 : recorder.epochs().size(),
                recorder == null ? 0 : recorder.failedPolls(), recorder == null ? -1 : recorder.fastestCommitMicros(),
                INTERVAL_MS, BOUND_SECONDS));
        s.append("columns: toProt = from the start of the shell command (bin/client included) to PROTECTED with a checkpoint committed after it; gap = longest "
                + "time without a committed checkpoint; noProt = epochs without protection (gap / interval - 1); "
                + "pause = longest VM pause of the step's checkpoints; rtt = longest client round trip (how long "
                + "output was held); x = ratio to the quiet baseline; copy/resum = 'Initial copy ... sent' / "
                + "'Resumed the stream ...' lines; early = replies faster than the fastest commit (I1)\n");
        return s.toString();
    }

    private static String orDash(long value) {
        return value < 0 ? "-" : Long.toString(value);
    }

    private static String ratio(long value, long base) {
        return value < 0 || base <= 0 ? "-" : String.format(Locale.ROOT, "%.1f", (double) value / base);
    }

    private void report() throws IOException {
        String t = table() + "\n" + waitTable();
        Files.writeString(WORK.resolve("figures.txt"), t);
        System.out.println(t);
    }

    // --------------------------------------------------------------------------------------------------- clean-up

    @AfterAll
    static void tearDown() throws Exception {
        if (recorder != null) {
            recorder.close();
        }
        if (client != null) {
            client.stop();
        }
        cleanUp();
    }

    /** Karaf and QEMU processes of this test (also ones an aborted earlier run left), its namespaces and tmpfs. */
    private static void cleanUp() throws Exception {
        for (KarafNode n : new KarafNode[] {a, b}) {
            if (n != null) {
                n.stop();
            }
        }
        for (String node : List.of("a", "b")) {
            Path run = Path.of("/dev/shm/" + LAB + "-" + node);
            KarafNode leftover = new KarafNode(node, WORK.resolve("node-" + node), run, 0, "");
            leftover.killHard();
            leftover.stop();
        }
        KarafNode.run(List.of(ROOT.resolve("scripts/netlab").toString(), "down", LAB), 60);
        for (String dir : List.of("a", "b", "a-disks", "b-disks")) {
            KarafNode.run(List.of("rm", "-rf", "/dev/shm/" + LAB + "-" + dir), 60);
        }
    }

    private static void await(String what, long seconds, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("not within " + seconds + " s: " + what);
            }
            Thread.sleep(500);
        }
    }
}
