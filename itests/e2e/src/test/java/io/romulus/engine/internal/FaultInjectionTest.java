package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fault injection (issue 5): two Romulus nodes as processes in the primary and backup hosts' network namespaces
 * (scripts/netlab; host A 10.77.0.1, host B 10.77.0.2), the demo guest protected at 40 Hz on A with its output in
 * an NFQUEUE, a client holding one TCP connection and incrementing the guest's counter every 50 ms, and - where the
 * case says so - a real ZooKeeper server (in the client's namespace) as the witness. Each case injects one fault
 * and checks where the VM runs afterwards, how long the client waited, and the invariants:
 * <ul>
 * <li>I3 and I5 on the client's one connection: its values go up by exactly one, with no gap and no repeat (a
 * second running copy, or a lost acknowledged state, would break the sequence or the connection), and a fresh
 * {@code get} afterwards is at least the last value seen;</li>
 * <li>I5 on the hosts: exactly one node runs the domain afterwards, and a fenced node has no QEMU left;</li>
 * <li>I4: when the backup or the link fails, the primary goes on serving (UNPROTECTED) and re-protects with a full
 * copy when the backup returns;</li>
 * <li>I1 and I2 are checked on the wire and on memory by QemuFailoverTest and QemuReplicationTest; here they show
 * through the client (an early release followed by failover would make it see a value twice).</li>
 * </ul>
 * One line per case goes to {@code target/fault-injection.txt}.
 */
class FaultInjectionTest {

    private static final Logger LOG = LoggerFactory.getLogger(FaultInjectionTest.class);

    @TempDir
    Path dir;

    private final FaultRig rig = new FaultRig();
    private NodeProcess a;
    private NodeProcess b;

    @AfterEach
    void stop() throws Exception {
        rig.close();
    }

    private void start(boolean witness) throws Exception {
        rig.start(dir, witness, "dirty-rate=500");
        a = rig.a;
        b = rig.b;
    }

    // ------------------------------------------------------------------------------------------------ the cases

    /** B activates the replica and runs the domain as a primary waiting for a backup; returns when it does. */
    private long awaitTakeover() {
        await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100))
                .until(() -> List.of("UNPROTECTED", "SYNCING", "PROTECTED").contains(b.state("PRIMARY")));
        return System.nanoTime();
    }

    @Test
    void killThePrimaryWithAWitness() throws Exception {
        start(true);
        long fault = System.nanoTime();
        a.killHost();
        long activated = awaitTakeover();
        long reply = rig.awaitReplyAfter(activated);
        rig.checkClient();
        assertTrue(b.runsQemu(), "the VM runs on B");
        report("kill -9 primary (witness)", "B", activated - fault, rig.maxGapMs(fault, reply) * 1_000_000L,
                "suspected after " + ms(rig.firstAlarm(b) - fault) + " ms (" + b.alarms.get(0).kind()
                        + "); activated once A's ZooKeeper session expired");
    }

    @Test
    void killThePrimaryWithoutAWitness() throws Exception {
        start(false);
        long fault = System.nanoTime();
        a.killHost();
        long activated = awaitTakeover();
        long reply = rig.awaitReplyAfter(activated);
        assertEquals("UNPROTECTED", b.state("PRIMARY"), "B runs the domain and waits for node A as its backup");
        // node A's host comes back: B protects the domain back towards it, with a full copy
        long restarted = System.nanoTime();
        a = NodeProcess.start(rig.lab.primaryHost(), "node-a", FaultRig.A_IP, rig.run.resolve("a2"), rig.secret(),
                "", FaultRig.log("node-a2"));
        rig.a = a;
        long reprotected = rig.awaitState(b, "PRIMARY", "PROTECTED", 120);
        assertTrue(a.state("BACKUP").equals("PROTECTED") || a.state("BACKUP").equals("SYNCING"), a.state("BACKUP"));
        rig.checkClient();
        assertTrue(b.runsQemu(), "the VM runs on B");
        report("kill -9 primary (no witness)", "B", activated - fault, rig.maxGapMs(fault, reply) * 1_000_000L,
                ms(b.raisedAt("FAILOVER") - fault) + " ms to the FAILOVER alarm (raised at the guest's first "
                        + "packet); node A restarted: B PROTECTED again (full copy to A) " + ms(reprotected - restarted) + " ms later");
    }

    @Test
    void freezeThePrimaryThenThawIt() throws Exception {
        start(true);
        long fault = System.nanoTime();
        a.freezeHost(true);
        long activated = awaitTakeover();
        long reply = rig.awaitReplyAfter(activated);
        Thread.sleep(2000);
        a.freezeHost(false);
        long thawed = System.nanoTime();
        // FENCED, then (soon after) B's backup: the alarm stays when the state has moved on
        await().atMost(Duration.ofSeconds(60)).until(() -> a.raised("FENCED"));
        long fenced = a.raisedAt("FENCED");
        await().atMost(Duration.ofSeconds(30)).until(() -> !a.runsQemu());
        LOG.info("freeze: fault {} ms, activated {} ms, first reply {} ms, thawed {} ms, fenced {} ms (test clock)",
                fault / 1_000_000, activated / 1_000_000, reply / 1_000_000, thawed / 1_000_000, fenced / 1_000_000);
        Thread.sleep(2000); // anything the old copy could have sent would have reached the client by now
        rig.checkClient();
        assertTrue(b.runsQemu(), "the VM runs on B");
        assertTrue(a.raised("FENCED"));
        // the old copy's ARP frames (which output buffering does not hold) cannot keep the switch pointing at A
        assertTrue(Files.readString(b.log, StandardCharsets.UTF_8).contains("announced again from here"),
                "B announced the VM again when it told A it lost the domain; see " + b.log);
        // the fenced node is the new backup: B protects the domain back towards it
        long reprotected = rig.awaitState(b, "PRIMARY", "PROTECTED", 120);
        rig.checkClient();
        report("SIGSTOP primary, SIGCONT after the takeover (witness)", "B", activated - fault, rig.maxGapMs(fault, reply) * 1_000_000L,
                "old primary fenced " + ms(fenced - thawed) + " ms after it thawed (its QEMU is gone) and became "
                        + "B's backup: B PROTECTED " + ms(reprotected - fenced) + " ms after the fencing");
    }

    @Test
    void cutOnlyTheReplicationLink() throws Exception {
        start(true);
        List<List<String>> rules = List.of(
                List.of("OUTPUT", "-d", FaultRig.B_IP, "-p", "tcp", "--dport", "7480", "-j", "DROP"),
                List.of("INPUT", "-s", FaultRig.B_IP, "-p", "tcp", "--sport", "7480", "-j", "DROP"));
        long fault = System.nanoTime();
        rig.iptables(rig.lab.primaryHost(), "-I", rules);
        long unprotected = rig.awaitState(a, "PRIMARY", "UNPROTECTED", 30);
        int during = rig.values.size();
        await().atMost(Duration.ofSeconds(30)).until(() -> rig.values.size() > during + 20);
        assertFalse(b.raised("FAILOVER"), "heartbeats still flow: the backup must not take over");
        // the backup keeps its replica; whether it already says STANDBY depends on whether its side of the
        // silently cut TCP connection has ended yet
        assertTrue(List.of("STANDBY", "PROTECTED").contains(b.state("BACKUP")), b.state("BACKUP"));
        long healed = System.nanoTime();
        rig.iptables(rig.lab.primaryHost(), "-D", rules);
        long reprotected = rig.awaitState(a, "PRIMARY", "PROTECTED", 120);
        rig.checkClient();
        assertTrue(a.runsQemu() && !b.runsQemu(), "the VM stays on A");
        report("replication link cut", "A", unprotected - fault, rig.maxGapMs(fault, healed) * 1_000_000L,
                "primary UNPROTECTED after " + ms(unprotected - fault) + " ms, PROTECTED again (the backup kept "
                        + "its replica, so the stream resumes it) " + ms(reprotected - healed)
                        + " ms after the link healed; no failover");
    }

    @Test
    void cutEverythingBetweenTheHostsWithAWitness() throws Exception {
        start(true);
        List<List<String>> rules = List.of(List.of("OUTPUT", "-d", FaultRig.B_IP, "-j", "DROP"),
                List.of("INPUT", "-s", FaultRig.B_IP, "-j", "DROP"));
        long fault = System.nanoTime();
        rig.iptables(rig.lab.primaryHost(), "-I", rules);
        long unprotected = rig.awaitState(a, "PRIMARY", "UNPROTECTED", 30);
        await().atMost(Duration.ofSeconds(30)).until(() -> b.raised("WITNESS"));
        // longer than A's ZooKeeper session: A is alive and keeps its lease, and all the while the backup neither
        // activates nor starts a copy of the VM
        await().during(Duration.ofSeconds(5)).atMost(Duration.ofSeconds(8)).untilAsserted(() -> {
            assertFalse(b.raised("FAILOVER"), "the witness keeps the cut-off backup from activating");
            assertFalse(b.runsQemu(), "no second copy of the VM on the cut-off backup");
        });
        // the backup keeps its replica; whether it already says STANDBY depends on whether its side of the
        // silently cut TCP connection has ended yet
        assertTrue(List.of("STANDBY", "PROTECTED").contains(b.state("BACKUP")), b.state("BACKUP"));
        long healed = System.nanoTime();
        rig.iptables(rig.lab.primaryHost(), "-D", rules);
        long reprotected = rig.awaitState(a, "PRIMARY", "PROTECTED", 120);
        rig.checkClient();
        assertTrue(a.runsQemu() && !b.runsQemu(), "the VM stays on A");
        report("all traffic between the hosts cut (witness)", "A", unprotected - fault,
                rig.maxGapMs(fault, healed) * 1_000_000L, "backup suspected A and was refused the lease: "
                        + FaultRig.alarmText(b, "WITNESS") + "; PROTECTED again " + ms(reprotected - healed)
                        + " ms after the link healed");
    }

    @Test
    void killTheBackup() throws Exception {
        start(true);
        long fault = System.nanoTime();
        b.killHost();
        long unprotected = rig.awaitState(a, "PRIMARY", "UNPROTECTED", 30);
        int during = rig.values.size();
        await().atMost(Duration.ofSeconds(30)).until(() -> rig.values.size() > during + 20);
        long restarted = System.nanoTime();
        b = NodeProcess.start(rig.lab.backupHost(), "node-b", FaultRig.B_IP, rig.run.resolve("b2"), rig.secret(), FaultRig.ZOOKEEPER,
                FaultRig.log("node-b2"));
        rig.b = b;
        long reprotected = rig.awaitState(a, "PRIMARY", "PROTECTED", 120);
        rig.checkClient();
        assertTrue(a.raised("UNPROTECTED") && a.raised("PROTECTED"), "alarm raised and cleared: " + a.alarms);
        report("backup killed, then restarted", "A", unprotected - fault, rig.maxGapMs(fault, restarted) * 1_000_000L,
                "UNPROTECTED after " + ms(unprotected - fault) + " ms; PROTECTED again (full copy) "
                        + ms(reprotected - restarted) + " ms after the new backup started");
    }

    @Test
    @SuppressWarnings("try") // the delay line is only closed
    void fiftyMillisecondsOfDelayAndFivePercentLossOnTheLinks() throws Exception {
        start(true);
        long fault = System.nanoTime();
        long slowEpochsBefore = rig.committed();
        long end;
        try (DelayLine slow = new DelayLine(rig.lab, 50, 0.05, "a", "b")) {
            // 20 s of a slow, lossy link, looked at all along: no suspicion, no failover, no fencing, and the
            // protection never dropped (the stream rides out TCP's stalls: output is never released unprotected)
            await().during(Duration.ofSeconds(20)).atMost(Duration.ofSeconds(25)).untilAsserted(() -> {
                assertFalse(b.raised("FAILOVER") || b.raised("PRIMARY_SUSPECTED"), "no false failover: " + b.alarms);
                assertFalse(a.raised("FENCED"), a.alarms.toString());
                assertFalse(a.raised("UNPROTECTED"), "protection never dropped: " + a.alarms);
            });
            end = System.nanoTime();
        }
        long committedDuring = rig.committed() - slowEpochsBefore;
        assertFalse(b.raised("FAILOVER") || b.raised("PRIMARY_SUSPECTED"), "no false failover: " + b.alarms);
        assertFalse(a.raised("FENCED"), a.alarms.toString());
        rig.awaitState(a, "PRIMARY", "PROTECTED", 60);
        rig.checkClient();
        report("50 ms delay + 5% loss on both hosts' links, 20 s", "A", 0, rig.maxGapMs(fault, end) * 1_000_000L,
                committedDuring + " checkpoints committed in 20 s; alarms on A: " + a.alarms.stream()
                        .map(NodeProcess.AlarmLine::kind).toList());
    }

    private void report(String fault, String vmOn, long switchNanos, long clientNanos, String notes)
            throws IOException {
        String line = String.format("FAULT %s | VM on %s | state change after %d ms | client waited %d ms | %s",
                fault, vmOn, ms(switchNanos), ms(clientNanos), notes);
        LOG.info(line);
        Files.writeString(Path.of("target", "fault-injection.txt"), line + System.lineSeparator(),
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    private static long ms(long nanos) {
        return FaultRig.ms(nanos);
    }
}
