package io.romulus.shell.command;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import javax.management.openmbean.CompositeDataSupport;
import javax.management.openmbean.CompositeType;
import javax.management.openmbean.OpenDataException;
import javax.management.openmbean.OpenType;
import javax.management.openmbean.SimpleType;
import javax.management.openmbean.TabularData;
import javax.management.openmbean.TabularDataSupport;
import javax.management.openmbean.TabularType;

import io.romulus.api.engine.EngineCpu;
import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.PauseBreakdown;
import io.romulus.api.engine.OutputStatus;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.ReplicationEngine;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.scaleout.ScalePair;
import io.romulus.api.scaleout.ScaleOut;
import io.romulus.api.management.DetectorMBean;
import io.romulus.api.management.DrbdMBean;
import io.romulus.api.management.HypervisorMBean;
import io.romulus.api.netbuf.OutputBufferStats;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class CommandsTest {

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private PrintStream oldOut;
    private PrintStream oldErr;
    private final FakeEngine engine = new FakeEngine();

    @BeforeEach
    void capture() {
        oldOut = System.out;
        oldErr = System.err;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    @AfterEach
    void restore() {
        System.setOut(oldOut);
        System.setErr(oldErr);
    }

    private String out() {
        return out.toString(StandardCharsets.UTF_8);
    }

    private ProtectCommand protect(String domain, String peer) {
        ProtectCommand c = new ProtectCommand();
        c.engine = engine;
        c.words = List.of(domain);
        c.peer = peer;
        return c;
    }

    private static String refusal(org.junit.jupiter.api.function.Executable e) {
        return org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, e).getMessage();
    }

    @Test
    void netbufShowsEveryHeldInterface() throws Exception {
        NetbufCommand c = new NetbufCommand();
        c.engine = engine;
        c.execute();
        assertTrue(out().contains("No guest output is held"), out());
        engine.outputs.add(new OutputStatus("qemu:web", "rt1a2b3c4d", new OutputBufferStats("nfqueue", 1200,
                3 << 20, 1100, 2 << 20, 7, 2)));
        c.execute();
        String table = out();
        assertTrue(table.contains("Held by"), table);
        assertTrue(table.matches("(?s).*qemu:web\\s+\\|\\s+rt1a2b3c4d\\s+\\|\\s+nfqueue\\s+\\|\\s+1200\\s+\\|\\s+3072\\s+"
                + "\\|\\s+1100\\s+\\|\\s+2048\\s+\\|\\s+7\\s+\\|\\s+2.*"), table);
    }

    @Test
    void protectTurnsEveryOptionIntoTheRequest() throws Exception {
        ProtectCommand c = protect("sim:demo", "127.0.0.1:7481");
        c.memory = "256M";
        c.dirtyRate = "5000";
        c.locality = "0.9";
        c.interval = 40;
        c.verify = true;
        c.options = List.of("seed=3", "hot-set = 0.1");
        assertNull(c.execute());
        ProtectRequest r = engine.requests.get(0);
        assertEquals(DomainId.parse("sim:demo"), r.domain());
        assertEquals("127.0.0.1", r.peer().getHostString());
        assertEquals(7481, r.peer().getPort());
        assertEquals(40, r.intervalMs());
        assertTrue(r.verify());
        assertEquals(Map.of("memory", "256M", "dirty-rate", "5000", "locality", "0.9", "seed", "3", "hot-set", "0.1"),
                r.options());
        assertTrue(out().contains("Protecting sim:demo with backup 127.0.0.1:7481 every 40 ms"), out());
    }

    @Test
    void optionsMayFollowTheDomainAsTheyDoInTheDocs() throws Exception {
        ProtectCommand c = new ProtectCommand();
        c.engine = engine;
        c.words = List.of("sim:demo", "--memory", "256M", "--dirty-rate", "5000", "--peer", "127.0.0.1:7481",
                "--interval", "30", "--verify", "-o", "seed=9");
        c.execute();
        ProtectRequest r = engine.requests.get(0);
        assertEquals(Map.of("memory", "256M", "dirty-rate", "5000", "seed", "9"), r.options());
        assertEquals(7481, r.peer().getPort());
        assertEquals(30, r.intervalMs());
        assertTrue(r.verify());
    }

    @Test
    void aVmOfTheUsersOwnIsNamedByItsDomainXmlOrItsLibvirtName() throws Exception {
        ProtectCommand c = new ProtectCommand();
        c.engine = engine;
        c.words = List.of("qemu:pg", "--xml", "/etc/romulus/pg.xml", "--peer", "10.0.0.2:7480", "-o", "memory=2G");
        c.execute();
        assertEquals(Map.of("xml", "/etc/romulus/pg.xml", "memory", "2G"), engine.requests.get(0).options());
        ProtectCommand byName = protect("qemu:pg", "10.0.0.2:7480");
        byName.libvirt = "legacy-db";
        byName.execute();
        assertEquals(Map.of("libvirt", "legacy-db"), engine.requests.get(1).options());
    }

    @Test
    void wrongInputIsRefusedWithItsReasonAndNeverReachesTheEngine() {
        assertTrue(refusal(() -> protect("demo", "127.0.0.1:7481").execute()).contains("'demo' is not binding:name"));
        assertTrue(refusal(() -> protect("sim:demo", "nowhere").execute()).contains("'nowhere' is not host:port"));
        assertTrue(refusal(() -> protect("sim:demo", "127.0.0.1:99999").execute()).contains("port 99999"));
        assertTrue(refusal(() -> protect("sim:demo", null).execute()).contains("--peer host:port is required"));
        ProtectCommand c = protect("sim:demo", "127.0.0.1:7481");
        c.options = List.of("novalue");
        assertTrue(refusal(c::execute).contains("'novalue' is not key=value"));
        ProtectCommand negative = protect("sim:demo", "127.0.0.1:7481");
        negative.interval = -5;
        assertTrue(refusal(negative::execute).contains("--interval"));
        ProtectCommand unknown = protect("sim:demo", "127.0.0.1:7481");
        unknown.words = List.of("sim:demo", "--colour", "red");
        assertTrue(refusal(unknown::execute).contains("unknown option --colour"));
        ProtectCommand two = protect("sim:demo", "127.0.0.1:7481");
        two.words = List.of("sim:demo", "sim:other", "x");
        assertTrue(refusal(two::execute).contains("only one domain"));
        assertEquals(List.of(), engine.requests);
    }

    @Test
    void engineRefusalsReachTheShellWithTheirMessage() {
        engine.refusal = new IllegalStateException("sim:demo is already protected (PROTECTED)");
        var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                () -> protect("sim:demo", "127.0.0.1:7481").execute());
        assertEquals("sim:demo is already protected (PROTECTED)", e.getMessage());
    }

    @Test
    void statusPrintsATableOfBothRoles() throws Exception {
        StatusCommand c = new StatusCommand();
        c.engine = engine;
        c.execute();
        assertEquals("No domain is protected on this node.", out().strip());
        out.reset();
        engine.rows.add(new ProtectionStatus("sim:demo", Role.PRIMARY, ProtectionState.PROTECTED, 1234, 25, 812_000,
                117, 1, "127.0.0.1:7481", ""));
        engine.rows.add(new ProtectionStatus("sim:demo", Role.BACKUP, ProtectionState.PROTECTED, 1233, 0, 0, 117, 0,
                "node-a", "verified 12 checkpoints"));
        c.execute();
        String[] lines = out().split("\n");
        for (String column : new String[] {"Domain", "Role", "State", "Epoch", "Interval", "Last pause", "Dirty",
            "Lag", "Peer", "Detail"}) {
            assertTrue(lines[0].contains(column), column);
        }
        assertTrue(lines[2].contains("PRIMARY") && lines[2].contains("1234") && lines[2].contains("25 ms")
                && lines[2].contains("812 µs"), lines[2]);
        assertTrue(lines[3].contains("BACKUP") && lines[3].contains("verified 12"), lines[3]);
    }

    @Test
    void statusShowsTheEnginesCpuTimePerCheckpointAndPerSecondOnBothNodes() throws Exception {
        StatusCommand c = new StatusCommand();
        c.engine = engine;
        engine.rows.add(new ProtectionStatus("sim:demo", Role.PRIMARY, ProtectionState.PROTECTED, 1234, 25, 812_000,
                117, 1, "127.0.0.1:7481", "", 25, "fixed", new EngineCpu(1_250_000, 48_800_000, 200)));
        engine.rows.add(new ProtectionStatus("sim:demo", Role.BACKUP, ProtectionState.PROTECTED, 1233, 0, 0, 117, 0,
                "node-a", "", 0, "", new EngineCpu(420_000, 16_840_000, 199)));
        engine.rows.add(new ProtectionStatus("sim:other", Role.BACKUP, ProtectionState.SYNCING, 0, 0, 0, 0, 0,
                "node-a", "receiving the initial copy"));
        c.execute();
        String[] lines = out().split("\n");
        assertTrue(lines[0].contains("Engine CPU"), lines[0]);
        assertTrue(lines[2].contains("1250 µs/ckpt, 48.8 ms/s"), lines[2]);
        assertTrue(lines[3].contains("BACKUP") && lines[3].contains("420 µs/ckpt, 16.8 ms/s"), lines[3]);
        assertTrue(lines[4].contains("sim:other") && lines[4].contains(" - "), lines[4]);
        out.reset();
        c.json = true;
        c.execute();
        assertTrue(out().contains("\"role\":\"BACKUP\",\"state\":\"PROTECTED\",\"epoch\":1233,")
                && out().contains("\"engineCpuMicrosPerCheckpoint\":420,\"engineCpuMicrosPerSecond\":16840}"),
                out());
    }

    @Test
    void statusShowsTheAdaptiveIntervalBesideTheSetOne() throws Exception {
        StatusCommand c = new StatusCommand();
        c.engine = engine;
        engine.rows.add(new ProtectionStatus("sim:demo", Role.PRIMARY, ProtectionState.PROTECTED, 1234, 25, 812_000,
                117, 3, "127.0.0.1:7481", "interval 38 ms, lengthened: the backup or the link is behind", 38,
                "lengthened: the backup or the link is behind"));
        c.execute();
        String[] lines = out().split("\n");
        assertTrue(lines[2].contains("38 ms (set 25)") && lines[2].contains("the link is behind"), lines[2]);
        out.reset();
        c.json = true;
        c.execute();
        assertTrue(out().contains("\"intervalMs\":25,\"currentIntervalMs\":38,\"intervalReason\":\"lengthened: the "
                + "backup or the link is behind\""), out());
    }

    @Test
    void statusSaysHowEachBindingRunsHereIncludingTheDirtyTrackerAutoChose() throws Exception {
        StatusCommand c = new StatusCommand();
        c.engine = engine;
        c.hypervisors = List.of(new FakeHypervisor("xen", false, "no Xen here (/proc/xen/capabilities is missing)"),
                new FakeHypervisor("qemu", true, "available; dirty pages tracked with compare (dirty.tracker = auto: "
                        + "this kernel has no PAGEMAP_SCAN ioctl (Linux 6.7+; this is 6.1.0-28-amd64))"));
        c.execute();
        String[] lines = out().strip().split("\n");
        assertEquals("No domain is protected on this node.", lines[0]);
        assertEquals("Binding qemu: available; dirty pages tracked with compare (dirty.tracker = auto: this kernel "
                + "has no PAGEMAP_SCAN ioctl (Linux 6.7+; this is 6.1.0-28-amd64))", lines[1]);
        assertEquals("Binding xen: no Xen here (/proc/xen/capabilities is missing)", lines[2]);
    }

    @Test
    void statusListsAlarmsWhenAsked() throws Exception {
        StatusCommand c = new StatusCommand();
        c.engine = engine;
        c.alarms = true;
        c.execute();
        assertTrue(out().contains("No alarm was raised on this node."), out());
        out.reset();
        engine.alarms.add(new io.romulus.api.engine.Alarm(0, io.romulus.api.engine.Alarm.Kind.UNPROTECTED, "qemu:demo",
                "no backup at 10.0.0.2:7480 for 3000 ms"));
        c.execute();
        assertTrue(out().contains("UNPROTECTED") && out().contains("qemu:demo") && out().contains("no backup at"),
                out());
    }

    @Test
    void statusPrintsJsonForScripts() throws Exception {
        StatusCommand c = new StatusCommand();
        c.engine = engine;
        c.json = true;
        c.alarms = true;
        c.hypervisors = List.of(new FakeHypervisor("sim", true, "available"));
        engine.rows.add(new ProtectionStatus("sim:demo", Role.PRIMARY, ProtectionState.PROTECTED, 1234, 25, 812_000,
                117, 1, "127.0.0.1:7481", "a \"quoted\"\ndetail"));
        engine.alarms.add(new io.romulus.api.engine.Alarm(7, io.romulus.api.engine.Alarm.Kind.UNPROTECTED, "sim:demo",
                "no backup"));
        c.execute();
        assertEquals("{\"domains\":[{\"domain\":\"sim:demo\",\"role\":\"PRIMARY\",\"state\":\"PROTECTED\","
                + "\"epoch\":1234,\"intervalMs\":25,\"currentIntervalMs\":25,\"intervalReason\":\"\","
                + "\"lastPauseMicros\":812,\"dirtyPages\":117,\"lagEpochs\":1,"
                + "\"peer\":\"127.0.0.1:7481\",\"detail\":\"a \\\"quoted\\\"\\ndetail\","
                + "\"engineCpuMicrosPerCheckpoint\":-1,\"engineCpuMicrosPerSecond\":-1}],"
                + "\"bindings\":[{\"binding\":\"sim\",\"availability\":\"available\"}],"
                + "\"alarms\":[{\"timeMillis\":7,\"kind\":\"UNPROTECTED\",\"domain\":\"sim:demo\","
                + "\"message\":\"no backup\"}]}", out().strip());
    }

    @Test
    void protectPassesTheBackupsHeartbeatAddress() throws Exception {
        ProtectCommand c = protect("sim:demo", "10.0.0.2:7480");
        c.words = List.of("sim:demo", "--heartbeat", "10.0.0.2:7491");
        c.execute();
        assertEquals("10.0.0.2", engine.requests.get(0).heartbeat().getHostString());
        assertEquals(7491, engine.requests.get(0).heartbeat().getPort());
        assertEquals(null, protectedWithoutHeartbeat().heartbeat());
    }

    private ProtectRequest protectedWithoutHeartbeat() throws Exception {
        protect("sim:other", "10.0.0.2:7480").execute();
        return engine.requests.get(engine.requests.size() - 1);
    }

    @Test
    void epochsOnTheBackupShowsTheEnginesCpuTimeThere() throws Exception {
        engine.rows.add(new ProtectionStatus("sim:demo", Role.BACKUP, ProtectionState.PROTECTED, 1233, 0, 0, 117, 0,
                "node-a", "", 0, "", new EngineCpu(420_000, 16_840_000, 199)));
        EpochsCommand c = new EpochsCommand();
        c.engine = engine;
        c.words = List.of("sim:demo");
        c.execute();
        assertEquals("sim:demo is replicated here; the statistics of its checkpoints are on its primary node-a.\n"
                + "Backup engine CPU: 420 µs per checkpoint, 16.8 ms per second (1.7% of a core) over the last 199 "
                + "checkpoints", out().strip());
        // a node that is its own backup: the primary's checkpoints, then what receiving them costs
        engine.rows.add(new ProtectionStatus("sim:demo", Role.PRIMARY, ProtectionState.PROTECTED, 1234, 25, 812_000,
                117, 1, "127.0.0.1:7481", ""));
        engine.epochs.add(new EpochStats(41, 0, 25_000_000, 120, 640_000, 300_000, 491_520, 40_960, 3_200_000));
        out.reset();
        c.execute();
        String[] lines = out().strip().split("\n");
        assertTrue(lines[2].contains("41"), lines[2]);
        assertTrue(lines[lines.length - 1].startsWith("Backup engine CPU: 420 µs per checkpoint"), out());
    }

    @Test
    void epochsPrintsRecentCheckpoints() throws Exception {
        engine.epochs.add(new EpochStats(41, 0, 25_000_000, 120, 640_000, 300_000, 491_520, 40_960, 3_200_000,
                new PauseBreakdown(111_000, 22_000, 300_000, 133_000, 4_000, 55_000, 6_000), 1_250_000, 118));
        engine.epochs.add(new EpochStats(42, 0, 25_000_000, 130, 650_000, 310_000, 0, 0, -1));
        EpochsCommand c = new EpochsCommand();
        c.engine = engine;
        c.words = List.of("sim:demo", "-n", "5");
        c.execute();
        String[] lines = out().split("\n");
        assertTrue(lines[0].contains("Pause (µs)") && lines[0].contains("ACK (ms)"));
        assertTrue(lines[0].matches(".*Stop.*Harvest.*Copy.*Device.*Disk.*Cont.*Hand-off.*Other.*"), lines[0]);
        assertTrue(lines[2].contains("41") && lines[2].contains("640") && lines[2].contains("12.0")
                && lines[2].contains("3.2"), lines[2]);
        // the breakdown, in the header's order: stop, harvest, copy, device state, disk, cont, hand-offs, other
        assertTrue(lines[2].replaceAll("[ |]+", " ").contains(" 640 111 22 300 133 4 55 6 9 480 "), lines[2]);
        assertTrue(lines[2].replaceAll("[ |]+", " ").trim().endsWith(" 3.2 1250 118"), "CPU, faults: " + lines[2]);
        assertTrue(lines[3].replaceAll("[ |]+", " ").trim().endsWith("- - -"), "not acknowledged yet, CPU time and "
                + "faults not known: " + lines[3]);
        // the CPU time per checkpoint and per second, of the epochs where it is known: 1250 µs in 25.64 ms
        assertEquals("Engine CPU: 1250 µs per checkpoint, 48.8 ms per second (4.9% of a core) over 1 checkpoints",
                lines[4].strip());
        assertEquals(5, engine.lastLimit);

        out.reset();
        c.words = List.of("sim:demo", "--json", "-n", "2"); // --json wherever it stands, like -n
        c.execute();
        assertEquals("[{\"epoch\":41,\"startedMillis\":0,\"runMicros\":25000,\"dirtyPages\":120,"
                + "\"pauseMicros\":640,\"copyMicros\":300,\"rawBytes\":491520,\"wireBytes\":40960,"
                + "\"compressionRatio\":12.0,\"ackMicros\":3200,\"stopMicros\":111,\"harvestMicros\":22,"
                + "\"deviceStateMicros\":133,\"diskBarrierMicros\":4,\"contMicros\":55,\"handOffMicros\":6,"
                + "\"otherMicros\":9,\"cpuMicros\":1250,\"writeFaults\":118},"
                + "{\"epoch\":42,\"startedMillis\":0,\"runMicros\":25000,\"dirtyPages\":130,"
                + "\"pauseMicros\":650,\"copyMicros\":310,\"rawBytes\":0,\"wireBytes\":0,"
                + "\"compressionRatio\":1.0,\"ackMicros\":-1,\"stopMicros\":0,\"harvestMicros\":0,"
                + "\"deviceStateMicros\":0,\"diskBarrierMicros\":0,\"contMicros\":0,\"handOffMicros\":0,"
                + "\"otherMicros\":650,\"cpuMicros\":-1,\"writeFaults\":-1}]", out().strip());
        assertEquals(2, engine.lastLimit);
    }

    @Test
    void otherCommandsCallTheEngine() throws Exception {
        IntervalCommand i = new IntervalCommand();
        i.engine = engine;
        i.domain = "sim:demo";
        i.ms = 40;
        i.execute();
        UnprotectCommand u = new UnprotectCommand();
        u.engine = engine;
        u.domain = "sim:demo";
        u.execute();
        FailoverCommand f = new FailoverCommand();
        f.engine = engine;
        f.domain = "sim:demo";
        f.execute();
        SwitchoverCommand s = new SwitchoverCommand();
        s.engine = engine;
        s.domain = "sim:demo";
        s.execute();
        assertEquals(List.of("interval sim:demo 40", "unprotect sim:demo", "failover sim:demo",
                "switchover sim:demo"), engine.calls);
    }

    @Test
    void detectorShowsTheNodeAndEveryMonitoredPeer() throws Exception {
        FakeDetector fake = new FakeDetector();
        DetectorCommand c = new DetectorCommand();
        c.detector = fake;
        c.execute();
        assertTrue(out().contains("No peer is monitored by this node."), out());
        out.reset();
        fake.row(2, "node-c", "", true, 8.61, true, 0, 912.4, 100, 0, 1);
        fake.row(1, "node-b", "10.0.0.2:7490", false, 0.04, false, 1234, 41.7, 100.2, 3.26, 2);
        c.execute();
        String[] lines = out().split("\n");
        assertEquals("Node id         node-a", lines[0]);
        assertEquals("Listen address  UDP 0.0.0.0:7490", lines[1]);
        assertEquals("Threshold       phi 8.0", lines[2]);
        assertEquals("Interval        100 ms", lines[3]);
        assertEquals("Heartbeats      authenticated, 3 refused (not authenticated, stale or replayed)", lines[4]);
        for (String column : new String[] {"Peer", "Address", "Phi", "Suspected", "Heartbeats", "Silence ms",
            "Mean ms", "StdDev ms", "Suspicions"}) {
            assertTrue(lines[6].contains(column), column);
        }
        assertTrue(lines[8].matches("node-b\\s+\\|\\s+10\\.0\\.0\\.2:7490\\s+\\|\\s+0\\.0\\s+\\|\\s+no\\s+\\|\\s+1234"
                + "\\s+\\|\\s+42\\s+\\|\\s+100\\.2\\s+\\|\\s+3\\.3\\s+\\|\\s+2\\s*"), lines[8]);
        assertTrue(lines[9].matches("node-c\\s+\\|\\s+\\(not heard from yet\\)\\s+\\|\\s+8\\.6\\s+\\|\\s+yes\\s+\\|"
                + "\\s+0\\s+\\|\\s+912\\s+\\|.*\\|\\s+1\\s*"), lines[9]);
    }

    @Test
    void detectorSaysSoWhenNoDetectorRuns() {
        DetectorCommand c = new DetectorCommand();
        var e = assertThrows(IllegalStateException.class, c::execute);
        assertEquals("no failure detector is running on this node (install feature romulus-core?)", e.getMessage());
    }

    @Test
    void drbdShowsAvailabilityAndEveryResource() throws Exception {
        FakeDrbd fake = new FakeDrbd(true, "available");
        DrbdCommand c = new DrbdCommand();
        c.drbd = fake;
        c.execute();
        assertTrue(out().contains("No DRBD resource is known on this host."), out());
        out.reset();
        fake.row("r1", "Secondary", "a: Connected/Primary", "0: Inconsistent", "a/0: 42.50%");
        fake.row("r0", "Primary", "b: Connected/Secondary, c: Connecting/Unknown", "0: UpToDate", "");
        c.execute();
        String[] lines = out().split("\n");
        assertEquals("Available       yes", lines[0]);
        assertEquals("Protocol C      refused (no checkpoint barriers)", lines[1]);
        for (String column : new String[] {"Resource", "Role", "Connections", "Disks", "Resync"}) {
            assertTrue(lines[3].contains(column), column);
        }
        assertTrue(lines[5].matches("r0\\s+\\|\\s+Primary\\s+\\|\\s+b: Connected/Secondary, c: Connecting/Unknown"
                + "\\s+\\|\\s+0: UpToDate\\s+\\|\\s+-\\s*"), lines[5]);
        assertTrue(lines[6].matches("r1\\s+\\|\\s+Secondary\\s+\\|\\s+a: Connected/Primary\\s+\\|"
                + "\\s+0: Inconsistent\\s+\\|\\s+a/0: 42\\.50%\\s*"), lines[6]);
    }

    @Test
    void drbdSaysWhyItIsUnavailable() throws Exception {
        FakeDrbd fake = new FakeDrbd(false, "DRBD kernel module not loaded (/proc/drbd missing): modprobe: FATAL");
        fake.allowC = true;
        DrbdCommand c = new DrbdCommand();
        c.drbd = fake;
        c.execute();
        String[] lines = out().split("\n");
        assertEquals("Available       no: DRBD kernel module not loaded (/proc/drbd missing): modprobe: FATAL",
                lines[0]);
        assertEquals("Protocol C      accepted without checkpoint barriers (unsafe)", lines[1]);
        assertEquals("DRBD is unavailable on this host: no resource can be listed or protected.", lines[3]);
    }

    @Test
    void drbdSaysSoWhenTheCoordinatorIsNotInstalled() {
        var e = assertThrows(IllegalStateException.class, new DrbdCommand()::execute);
        assertEquals("the DRBD coordinator is not installed (feature romulus-drbd)", e.getMessage());
    }

    @Test
    void scaleSetsThePairsAndShowsThem() throws Exception {
        List<String> calls = new ArrayList<>();
        ScalePair p1 = new ScalePair("qemu:demo", 1, "qemu:demo", "demo/p1", "10.78.1.1:7000", "UP", "-");
        ScalePair p2 = new ScalePair("qemu:demo", 2, "qemu:demo-p2", "demo/p2", "10.78.2.1:7000", "UP",
                "PRIMARY PROTECTED");
        ScaleCommand c = new ScaleCommand();
        c.scaleOut = new ScaleOut() {
            @Override
            public List<ScalePair> scale(DomainId domain, int pairs) {
                calls.add("scale " + domain + " " + pairs);
                return List.of(p1, p2);
            }

            @Override
            public List<ScalePair> pairs() {
                calls.add("pairs");
                return List.of(p1, p2);
            }

            @Override
            public boolean isReadOnly(DomainId domain) {
                return true;
            }
        };
        c.words = List.of("qemu:demo", "--pairs", "2");
        c.execute();
        String[] lines = out().split("\n");
        assertTrue(lines[0].matches("Domain\\s+\\|\\s+Pair\\s+\\|\\s+Pair domain\\s+\\|\\s+Server.*"), lines[0]);
        assertTrue(lines[3].matches("qemu:demo\\s+\\|\\s+2\\s+\\|\\s+qemu:demo-p2\\s+\\|\\s+demo/p2\\s+\\|"
                + "\\s+10.78.2.1:7000\\s+\\|\\s+UP\\s+\\|\\s+PRIMARY PROTECTED\\s*"), lines[3]);
        c.pairs = 0;
        c.words = List.of("qemu:other");
        out.reset();
        c.execute();
        assertEquals("No pairs: no read-only domain is in the balancer as qemu:other", out().trim());
        assertEquals(List.of("scale qemu:demo 2", "pairs"), calls);
        c.words = List.of("qemu:demo", "--pairs", "x");
        assertEquals("--pairs 'x' is not a whole number", assertThrows(IllegalArgumentException.class, c::execute)
                .getMessage());
        c.words = List.of("qemu:demo", "qemu:other");
        assertTrue(assertThrows(IllegalArgumentException.class, c::execute).getMessage()
                .startsWith("unexpected argument 'qemu:other'"));
    }

    @Test
    void scaleSaysSoWhenScaleOutIsNotInstalled() {
        var e = assertThrows(IllegalStateException.class, new ScaleCommand()::execute);
        assertEquals("scale-out is not installed (feature romulus-scaleout)", e.getMessage());
    }

    @Test
    void theCompleterOffersTheEnginesDomains() {
        DomainCompleter completer = new DomainCompleter();
        completer.engine = engine;
        List<String> candidates = new ArrayList<>();
        completer.complete(null, new Typed("romulus:status sim:d"), candidates);
        assertEquals(List.of("sim:demo "), candidates);
    }

    /** A command line whose cursor is at the end of the last word. */
    private record Typed(String buffer) implements org.apache.karaf.shell.api.console.CommandLine {

        @Override
        public int getCursorArgumentIndex() {
            return getArguments().length - 1;
        }

        @Override
        public String getCursorArgument() {
            return getArguments()[getCursorArgumentIndex()];
        }

        @Override
        public int getArgumentPosition() {
            return getCursorArgument().length();
        }

        @Override
        public String[] getArguments() {
            return buffer.split(" ");
        }

        @Override
        public int getBufferPosition() {
            return buffer.length();
        }

        @Override
        public String getBuffer() {
            return buffer;
        }
    }

    /** The detector's MBean as the detector bundle fills it. */
    private record FakeHypervisor(String binding, boolean available, String availability)
            implements HypervisorMBean {

        @Override
        public String getBinding() {
            return binding;
        }

        @Override
        public boolean isAvailable() {
            return available;
        }

        @Override
        public String getAvailability() {
            return availability;
        }

        @Override
        public String[] getDomains() {
            return new String[0];
        }

        @Override
        public boolean isDegraded() {
            return !available;
        }
    }

    private static final class FakeDetector implements DetectorMBean {

        private static final String[] ITEMS = {"monitor", "peer", "address", "learned", "phi", "suspected",
            "heartbeats", "silenceMs", "meanIntervalMs", "stdDevMs", "suspicions", "lastHeartbeatMillis"};
        private static final OpenType<?>[] TYPES = {SimpleType.LONG, SimpleType.STRING, SimpleType.STRING,
            SimpleType.BOOLEAN, SimpleType.DOUBLE, SimpleType.BOOLEAN, SimpleType.LONG, SimpleType.DOUBLE,
            SimpleType.DOUBLE, SimpleType.DOUBLE, SimpleType.LONG, SimpleType.LONG};

        private final TabularDataSupport peers;

        FakeDetector() throws OpenDataException {
            CompositeType row = new CompositeType("MonitoredPeer", "peer", ITEMS, ITEMS, TYPES);
            peers = new TabularDataSupport(new TabularType("MonitoredPeers", "peers", row,
                    new String[] {"peer", "monitor"}));
        }

        void row(long monitor, String peer, String address, boolean learned, double phi, boolean suspected,
                long heartbeats, double silenceMs, double meanMs, double stdDevMs, long suspicions)
                throws OpenDataException {
            peers.put(new CompositeDataSupport(peers.getTabularType().getRowType(), ITEMS, new Object[] {monitor, peer,
                address, learned, phi, suspected, heartbeats, silenceMs, meanMs, stdDevMs, suspicions, 0L}));
        }

        @Override
        public String getNodeId() {
            return "node-a";
        }

        @Override
        public String getListenAddress() {
            return "0.0.0.0:7490";
        }

        @Override
        public double getThreshold() {
            return 8.0;
        }

        @Override
        public long getIntervalMs() {
            return 100;
        }

        @Override
        public boolean isAuthenticated() {
            return true;
        }

        @Override
        public long getRejectedHeartbeats() {
            return 3;
        }

        @Override
        public TabularData getPeers() {
            throw new AssertionError("romulus:detector reads the typed rows of peers(), not the console's lines");
        }

        @Override
        public TabularData peers() {
            return peers;
        }
    }

    /** The DRBD coordinator's MBean as the drbd bundle fills it. */
    private static final class FakeDrbd implements DrbdMBean {

        private static final String[] ITEMS = {"name", "role", "connections", "disks", "resync"};

        private final boolean available;
        private final String reason;
        private final TabularDataSupport resources;
        boolean allowC;

        FakeDrbd(boolean available, String reason) throws OpenDataException {
            this.available = available;
            this.reason = reason;
            OpenType<?>[] types = {SimpleType.STRING, SimpleType.STRING, SimpleType.STRING, SimpleType.STRING,
                SimpleType.STRING};
            CompositeType row = new CompositeType("DrbdResource", "resource", ITEMS, ITEMS, types);
            resources = new TabularDataSupport(new TabularType("DrbdResources", "resources", row,
                    new String[] {"name"}));
        }

        void row(String name, String role, String connections, String disks, String resync)
                throws OpenDataException {
            resources.put(new CompositeDataSupport(resources.getTabularType().getRowType(), ITEMS,
                    new Object[] {name, role, connections, disks, resync}));
        }

        @Override
        public boolean isAvailable() {
            return available;
        }

        @Override
        public String getReason() {
            return reason;
        }

        @Override
        public TabularData getResources() {
            throw new AssertionError("romulus:drbd reads the typed rows of resources(), not the console's lines");
        }

        @Override
        public TabularData resources() {
            return resources;
        }

        @Override
        public boolean isAllowProtocolCWithoutBarriers() {
            return allowC;
        }
    }

    private static final class FakeEngine implements ReplicationEngine {

        final List<ProtectRequest> requests = new ArrayList<>();
        final List<ProtectionStatus> rows = new ArrayList<>();
        final List<EpochStats> epochs = new ArrayList<>();
        final List<OutputStatus> outputs = new ArrayList<>();
        final List<String> calls = new ArrayList<>();
        final List<io.romulus.api.engine.Alarm> alarms = new ArrayList<>();
        RuntimeException refusal;
        int lastLimit;

        @Override
        public ProtectionStatus protect(ProtectRequest request) {
            if (refusal != null) {
                throw refusal;
            }
            requests.add(request);
            return new ProtectionStatus(request.domain().toString(), Role.PRIMARY, ProtectionState.CONNECTING, 0,
                    request.intervalMs(), 0, 0, 0, request.peer().getHostString() + ":" + request.peer().getPort(),
                    "");
        }

        @Override
        public void unprotect(DomainId domain) {
            calls.add("unprotect " + domain);
        }

        @Override
        public ProtectionStatus fork(DomainId domain, DomainId clone, Map<String, String> overrides,
                InetSocketAddress backup) {
            calls.add("fork " + domain + " " + clone + " " + overrides + " " + backup);
            return null;
        }

        @Override
        public void retire(DomainId domain) {
            calls.add("retire " + domain);
        }

        @Override
        public String switchover(DomainId domain) {
            calls.add("switchover " + domain);
            return domain + " handed over to node-b at checkpoint 7";
        }

        @Override
        public ProtectionStatus failover(DomainId domain) {
            calls.add("failover " + domain);
            return new ProtectionStatus(domain.toString(), Role.BACKUP, ProtectionState.ACTIVATED, 7, 0, 0, 0, 0,
                    "node-a", "activated from checkpoint 7");
        }

        @Override
        public void setInterval(DomainId domain, int intervalMs) {
            calls.add("interval " + domain + " " + intervalMs);
        }

        @Override
        public List<ProtectionStatus> status() {
            return rows;
        }

        @Override
        public List<EpochStats> epochs(DomainId domain, int limit) {
            lastLimit = limit;
            return epochs;
        }

        @Override
        public List<OutputStatus> outputs() {
            return outputs;
        }

        @Override
        public List<String> domainNames() {
            return List.of("sim:demo", "sim:other");
        }

        @Override
        public List<io.romulus.api.engine.Alarm> alarms(int limit) {
            return alarms;
        }

        @Override
        public void addAlarmListener(java.util.function.Consumer<io.romulus.api.engine.Alarm> listener) {
        }

        @Override
        public void removeAlarmListener(java.util.function.Consumer<io.romulus.api.engine.Alarm> listener) {
        }
    }
}
