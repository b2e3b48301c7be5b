package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.netbuf.internal.netlink.LinuxNetlink;
import io.romulus.netbuf.internal.nfqueue.NfqueueProvider;
import io.romulus.netbuf.internal.nfqueue.NfqueueSettings;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Planned switchover of the demo guest (TCG) between two hosts made of network namespaces (scripts/netlab), each
 * holding output in an NFQUEUE: a client on the client host holds one TCP connection and increments the guest's
 * counter every 20 ms while the guest moves to the backup host and back, several times. The old primary's QEMU stops
 * and its RAM file becomes the replica the new primary resumes (no full copy: neither binding builds a new replica);
 * the new primary runs the guest in the backup's standby QEMU. On the one connection the values go up by one across
 * every move: no gap and no repeat. When the old primary sends "go", its copy's taps are cut off the host's bridge
 * and its QEMU is stopped (SIGSTOP), to be killed after the switchover; the hosts' bridges keep their MAC addresses
 * (netlab gives them their own). The blackout (the longest wait for a reply around each switchover) is logged, not
 * asserted. Needs QEMU, root and native/'s guest and preload library; without them it fails.
 */
class QemuSwitchoverTest {

    private static final DomainId GUEST = DomainId.parse("qemu:move");
    private static final int SWITCHOVERS = 4;

    @TempDir
    Path dir;

    private NetLab lab;
    private QemuPair nodes;
    private Process client;
    /** Replicas each node's binding built from scratch, i.e. full copies it received. */
    private final AtomicInteger newReplicasA = new AtomicInteger();
    private final AtomicInteger newReplicasB = new AtomicInteger();

    @AfterEach
    void stop() throws Exception {
        if (client != null) {
            client.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        if (nodes != null) {
            nodes.close();
        }
        if (lab != null) {
            lab.close();
        }
    }

    /** {@code h}, counting the replicas it builds for a new stream's full copy. */
    private static Hypervisor counting(Hypervisor h, AtomicInteger built) {
        return new ForwardingHypervisor(h) {
            @Override
            public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
                built.incrementAndGet();
                return h.createReplica(spec);
            }
        };
    }

    private static String counterClient() {
        return Path.of(System.getProperty("romulus.scripts", "../../scripts")).resolve("counter-client.py")
                .toAbsolutePath().normalize().toString();
    }

    private void reader(Process p, List<OutputCommitWitness.Reply> values, List<String> errors) {
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
    }

    /** Both ends PROTECTED, {@code primary} the primary. */
    static boolean protectedPair(QemuPair nodes, Engine primary, Engine backup) {
        ProtectionStatus p = nodes.row(primary, Role.PRIMARY);
        ProtectionStatus b = nodes.row(backup, Role.BACKUP);
        return p != null && p.state() == ProtectionState.PROTECTED && b != null
                && b.state() == ProtectionState.PROTECTED;
    }

    @Test
    void theGuestMovesBackAndForthWithoutAFullCopyAndTheHeldConnectionSeesNoGapAndNoRepeat() throws Exception {
        lab = NetLab.up();
        for (String host : List.of(lab.primaryHost(), lab.backupHost())) {
            // 3, NET_ADDR_SET: its own address, which guests' taps joining and leaving it do not change
            assertEquals("3", lab.run(List.of("ip", "netns", "exec", host, "cat",
                    "/sys/class/net/br0/addr_assign_type")).trim(), "br0 of " + host + " has a MAC address of its own");
        }
        OutputBufferProvider output = new NfqueueProvider(NfqueueSettings.defaults(), LinuxNetlink.load());
        nodes = new QemuPair(dir, lab.primaryHost(), lab.backupHost(), h -> counting(h, newReplicasA),
                h -> counting(h, newReplicasB), output, this::watchingGo);
        nodes.backup.addOutputBufferProvider(output, 0); // the backup holds output once it runs the guest
        nodes.primary.protect(new ProtectRequest(GUEST, nodes.backupAddress(), 25,
                Map.of("memory", "128M", "nic", "tap", "dirty-rate", "500")));
        nodes.awaitProtected(GUEST);
        // the first protection copies the guest whole (again, should a slow copy's stream break)
        int copiesToB = newReplicasB.get();
        assertTrue(copiesToB >= 1);

        List<OutputCommitWitness.Reply> values = new CopyOnWriteArrayList<>();
        List<String> errors = new CopyOnWriteArrayList<>();
        client = lab.inClient(List.of("python3", "-u", counterClient(), NetLab.GUEST_IP, "7000", "0.02"));
        reader(client, values, errors);
        await().atMost(Duration.ofSeconds(60)).until(() -> values.size() >= 40 || !errors.isEmpty());
        assertEquals(List.of(), errors);

        Engine from = nodes.primary;
        Engine to = nodes.backup;
        List<Long> blackoutsMs = new ArrayList<>();
        List<Long> commandMs = new ArrayList<>();
        for (int i = 0; i < SWITCHOVERS; i++) {
            Engine primary = from;
            Engine backup = to;
            await().atMost(Duration.ofSeconds(60)).until(() -> protectedPair(nodes, primary, backup));
            int before = values.size();
            if (primary == nodes.primary) {
                oldCopy = OldCopy.onA(nodes);
            }
            long asked = System.nanoTime();
            String done = primary.switchover(GUEST);
            long returned = System.nanoTime();
            assertTrue(done.contains("without a full copy"), done);
            Matcher at = Pattern.compile("at checkpoint (\\d+)").matcher(done);
            assertTrue(at.find(), done);
            String switched = "switched over to this node at checkpoint " + at.group(1);
            // the new primary ran the prepared standby, whose dirty log started at "prepare", not after "go" (its alarm
            // comes once it runs the domain: the command returns on the old primary once "go" is sent)
            await().atMost(Duration.ofSeconds(10)).until(() -> backup.alarms(100).stream().anyMatch(a -> a.kind()
                    == Alarm.Kind.SWITCHOVER && a.message().contains(switched)));
            assertTrue(backup.alarms(100).stream().anyMatch(a -> a.kind() == Alarm.Kind.SWITCHOVER
                    && a.message().contains(switched) && a.message().contains("dirty log started at \"prepare\"")),
                    backup.alarms(100).toString());
            await().atMost(Duration.ofSeconds(60)).until(() -> values.size() >= before + 20 || !errors.isEmpty());
            assertEquals(List.of(), errors, "the client's connection survived switchover " + (i + 1));
            assertNull(nodes.row(primary, Role.PRIMARY), "the old primary runs the guest no more");
            await().atMost(Duration.ofSeconds(60)).until(() -> protectedPair(nodes, backup, primary));
            blackoutsMs.add(blackoutMs(values, asked));
            commandMs.add(TimeUnit.NANOSECONDS.toMillis(returned - asked));
            from = backup;
            to = primary;
        }

        // on A's switchovers (its stream is the one watched): at "go" the old copy's taps were cut off the bridge, and
        // its QEMU was stopped (SIGSTOP: state T), not yet killed: its exit comes after the switchover; then it ends
        assertEquals(List.of(), atGoFailures);
        assertEquals(Collections.nCopies(SWITCHOVERS / 2, "T"), atGo, "the old QEMU's state at each \"go\" of A");
        for (long pid : oldPids) {
            await().atMost(Duration.ofSeconds(10)).until(() -> ProcessHandle.of(pid).isEmpty());
        }
        assertEquals(copiesToB, newReplicasB.get(), "no full copy to B after the first protection");
        assertEquals(0, newReplicasA.get(), "no full copy to A: it resumed the replica its stopped guest left");
        for (int i = 1; i < values.size(); i++) {
            assertEquals(values.get(i - 1).value() + 1, values.get(i).value(), "one connection, one increment per "
                    + "answer, across every switchover: no gap, no repeat");
        }
        LoggerFactory.getLogger(QemuSwitchoverTest.class).info("SWITCHOVER x{}: blackout on the held connection "
                + "(longest wait between two replies around the switchover) {} ms; the command returned after {} ms; "
                + "{} answers", SWITCHOVERS, blackoutsMs, commandMs, values.size());
    }

    /** The guest's QEMU on host A before a switchover away from A, and its taps; null when A is not the primary. */
    private volatile OldCopy oldCopy;
    /** The state of the old copy's QEMU at each "go" A sent (/proc/PID/stat: T stopped, R running, ...; gone). */
    private final List<String> atGo = new CopyOnWriteArrayList<>();
    private final List<String> atGoFailures = new CopyOnWriteArrayList<>();
    private final List<Long> oldPids = new CopyOnWriteArrayList<>();

    /** The QEMU process that runs the guest on host A, and its taps, found by its command line. */
    private record OldCopy(long pid, List<String> taps) {

        static OldCopy onA(QemuPair nodes) {
            String ram = "mem-path=" + nodes.run.resolve("a");
            List<OldCopy> found = new ArrayList<>();
            ProcessHandle.allProcesses().forEach(p -> {
                List<String> args = commandLine(p.pid());
                if (args.stream().anyMatch(a -> a.split(",", 2)[0].equals("romulus-" + GUEST.name())) && args.stream().anyMatch(a -> a.contains(ram))) {
                    List<String> taps = new ArrayList<>();
                    Matcher m = Pattern.compile("ifname=([^,]+),").matcher(String.join(" ", args));
                    while (m.find()) {
                        taps.add(m.group(1));
                    }
                    found.add(new OldCopy(p.pid(), taps));
                }
            });
            assertEquals(1, found.size(), "one QEMU runs the guest on A: " + found);
            assertFalse(found.get(0).taps().isEmpty(), "the guest has a tap");
            return found.get(0);
        }

        private static List<String> commandLine(long pid) {
            try {
                return List.of(new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid),
                        "cmdline")), StandardCharsets.UTF_8).split("\0"));
            } catch (IOException e) {
                return List.of(); // gone meanwhile
            }
        }
    }

    /** The state letter of process {@code pid} (/proc/PID/stat), or "gone". */
    private static String state(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"), StandardCharsets.US_ASCII);
            return stat.substring(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        } catch (IOException e) {
            return "gone";
        }
    }

    /**
     * A's checkpoint stream, watching the moment its switchover sends "go": the state of the old copy's QEMU, and its
     * taps, which must be no working port of a bridge of host A any more.
     */
    private CheckpointTransport watchingGo(CheckpointTransport t) {
        return new ForwardingTransport(t) {
            @Override
            CheckpointChannel channel(CheckpointChannel c) {
                return new Channel(c) {
                    @Override
                    public void handOver(long epoch) throws CheckpointException {
                        OldCopy old = oldCopy;
                        if (old != null) {
                            atGo.add(state(old.pid()));
                            oldPids.add(old.pid());
                            try {
                                // netlab's br0 has its own MAC address: the taps stay ports, disabled (gone with QEMU)
                                String ports = lab.run(List.of("bridge", "-netns", lab.primaryHost(), "link", "show"));
                                old.taps().stream().filter(tap -> ports.lines().anyMatch(l -> l.contains(" " + tap
                                        + ":") && !l.contains("state disabled")))
                                        .forEach(tap -> atGoFailures.add("tap " + tap + " of the stopped copy is "
                                                + "still a working port of br0 at \"go\": " + ports));
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                                atGoFailures.add("listing br0's ports: interrupted");
                            } catch (IOException | AssertionError e) {
                                atGoFailures.add("listing br0's ports: " + e);
                            }
                        }
                        super.handOver(epoch);
                    }
                };
            }
        };
    }

    /** The longest time between two consecutive replies received from 1 s before {@code asked} to 10 s after it. */
    private static long blackoutMs(List<OutputCommitWitness.Reply> values, long asked) {
        long from = asked - TimeUnit.SECONDS.toNanos(1);
        long to = asked + TimeUnit.SECONDS.toNanos(10);
        long longest = 0;
        for (int i = 1; i < values.size(); i++) {
            long prev = values.get(i - 1).receivedNanos();
            long next = values.get(i).receivedNanos();
            if (next >= from && prev <= to) {
                longest = Math.max(longest, next - prev);
            }
        }
        return TimeUnit.NANOSECONDS.toMillis(longest);
    }
}
