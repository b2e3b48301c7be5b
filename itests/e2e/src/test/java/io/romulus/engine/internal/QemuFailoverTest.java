package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.netbuf.internal.netlink.LinuxNetlink;
import io.romulus.netbuf.internal.nfqueue.NfqueueProvider;
import io.romulus.netbuf.internal.nfqueue.NfqueueSettings;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.slf4j.LoggerFactory;

/**
 * The demo guest on three hosts made of network namespaces (scripts/netlab): protected on the primary host with its
 * output held in an NFQUEUE until the backup acknowledges, a client on the client host holding one TCP connection and
 * incrementing the guest's counter. The primary host dies in each phase of an epoch (its QEMU gets SIGKILL and its
 * link to the backup is reset), the backup resumes the guest from its last committed checkpoint, and the client's
 * connection carries on. I3: every value the client received before the failover is at most the counter's value
 * after it; on the one connection the values go up by one, with no gap and no repeat.
 */
class QemuFailoverTest {

    private static final DomainId GUEST = DomainId.parse("qemu:tcp");

    @TempDir
    Path dir;

    private NetLab lab;
    private QemuPair nodes;
    private OutputBufferProvider output;
    private CuttableLink link;
    private Process client;
    private final OutputCommitWitness i1 = new OutputCommitWitness();

    private void hosts(PrimaryCrash crash) throws Exception {
        lab = NetLab.up();
        output = new NfqueueProvider(NfqueueSettings.defaults(), LinuxNetlink.load());
        nodes = new QemuPair(dir, lab.primaryHost(), lab.backupHost(), h -> crash.binding(i1.binding(h)), h -> h,
                output, t -> crash.transport(i1.transport(t)));
        link = new CuttableLink(new InetSocketAddress("127.0.0.1", nodes.backupStream.listenAddress().getPort()));
    }

    @AfterEach
    void stop() throws Exception {
        if (client != null) {
            client.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        if (link != null) {
            link.close();
        }
        if (nodes != null) {
            nodes.close();
        }
        if (lab != null) {
            lab.close();
        }
    }

    private static String counterClient() {
        return Path.of(System.getProperty("romulus.scripts", "../../scripts")).resolve("counter-client.py")
                .toAbsolutePath().normalize().toString();
    }

    /** Reads the client's lines into {@code values} (answers) and {@code errors}. */
    private Thread reader(Process p, List<OutputCommitWitness.Reply> values, List<String> errors) {
        Thread t = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    if (line.startsWith("value ")) {
                        String[] f = line.split(" ");
                        values.add(new OutputCommitWitness.Reply(Long.parseLong(f[1]), Long.parseLong(f[2]),
                                Long.parseLong(f[3])));
                    } else if (line.startsWith("error")) {
                        errors.add(line);
                    }
                }
            } catch (IOException e) {
                errors.add("reading the client: " + e);
            }
        }, "counter-client");
        t.setDaemon(true);
        t.start();
        return t;
    }

    private long get() throws Exception {
        Process p = lab.inClient(List.of("python3", counterClient(), NetLab.GUEST_IP, "7000", "0", "1"));
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        for (String line : out.split("\n")) {
            if (line.startsWith("value ")) {
                return Long.parseLong(line.split(" ")[1]) - 1; // the probe's own increment
            }
        }
        throw new AssertionError("no answer from the guest: " + out);
    }

    @ParameterizedTest
    @EnumSource(value = PrimaryCrash.Phase.class, names = {"RUN", "PAUSE", "TRANSFER", "BEFORE_ACK"})
    void theClientsConnectionSurvivesTheLossOfThePrimaryHost(PrimaryCrash.Phase phase) throws Exception {
        PrimaryCrash crash = new PrimaryCrash(phase, this::primaryHostDies);
        hosts(crash);
        nodes.primary.protect(new ProtectRequest(GUEST, link.address(), 25,
                Map.of("memory", "128M", "nic", "tap", "dirty-rate", "500")));
        nodes.awaitProtected(GUEST);

        List<OutputCommitWitness.Reply> values = new CopyOnWriteArrayList<>();
        List<String> errors = new CopyOnWriteArrayList<>();
        client = lab.inClient(List.of("python3", "-u", counterClient(), NetLab.GUEST_IP, "7000", "0.05"));
        reader(client, values, errors);
        await().atMost(Duration.ofSeconds(60)).until(() -> values.size() >= 40 || !errors.isEmpty());
        assertEquals(List.of(), errors);

        // the primary host dies, in the chosen phase of an epoch
        crash.arm();
        if (phase == PrimaryCrash.Phase.RUN) {
            Thread.sleep(12); // about half an epoch after the test's last look, so most likely while the guest runs
            crash.fire(-1);
        }
        await().atMost(Duration.ofSeconds(10)).until(crash::fired);
        long killed = System.nanoTime();
        int before = values.size();
        long maxBefore = values.isEmpty() ? -1 : values.get(values.size() - 1).value();
        // I1 on the wire: every reply the client had before the primary died came after the ACK of a checkpoint
        // taken after its request (afterwards the activated guest runs unprotected, waiting for a new backup)
        List<OutputCommitWitness.Reply> protectedReplies = values.stream().filter(r -> r.receivedNanos() < killed)
                .toList();
        assertTrue(protectedReplies.size() >= 30, "replies checked: " + protectedReplies.size());
        assertEquals(List.of(), i1.violations(protectedReplies), "I1");
        await().atMost(Duration.ofSeconds(10)).until(() -> nodes.row(nodes.backup, Role.BACKUP).state()
                == ProtectionState.STANDBY);
        long detected = System.nanoTime();
        assertEquals(ProtectionState.ACTIVATED, nodes.backup.failover(GUEST).state());
        long restored = System.nanoTime();
        // the backup's standby QEMU (started when the replica committed its first checkpoint) took the failover
        String failover = nodes.backup.alarms(50).stream().filter(a -> a.kind() == Alarm.Kind.FAILOVER)
                .map(Alarm::message).findFirst().orElse("");
        assertTrue(failover.contains("standby QEMU; MAC announced in"), failover);

        await().atMost(Duration.ofSeconds(60)).until(() -> values.size() > before || !errors.isEmpty());
        long firstReply = System.nanoTime();
        await().atMost(Duration.ofSeconds(60)).until(() -> values.size() >= before + 20 || !errors.isEmpty());
        assertEquals(List.of(), errors, "the client's connection survived");
        for (int i = 1; i < values.size(); i++) {
            assertEquals(values.get(i - 1).value() + 1, values.get(i).value(), "one connection, one increment per "
                    + "answer: " + values.stream().map(OutputCommitWitness.Reply::value).toList());
        }

        long after = get();
        assertTrue(after >= maxBefore, "I3: the client saw " + maxBefore + " before the failover; the counter is "
                + after + " after it");
        LoggerFactory.getLogger(QemuFailoverTest.class).info("FAILOVER {} (epoch {}): detection {} ms, restore {} ms,"
                + " first reply {} ms after the restore; {} answers before, {} after", phase, crash.firedInEpoch,
                ms(detected - killed), ms(restored - detected), ms(firstReply - restored), before,
                values.size() - before);
    }

    /** The primary host dies: its QEMU gets SIGKILL, its link to the backup is reset. */
    private void primaryHostDies() {
        nodes.primaryQemu.destroyAll();
        link.cut();
    }

    private static long ms(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }
}
