package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;

import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.netbuf.internal.netlink.LinuxNetlink;
import io.romulus.netbuf.internal.nfqueue.NfqueueProvider;
import io.romulus.netbuf.internal.nfqueue.NfqueueSettings;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Scale-out from a replica: the demo guest, a real Linux VM under QEMU (TCG) with a tap NIC, protected by a primary
 * engine and replicated to a backup engine; on the backup its replica is forked into a clone that runs on the backup
 * host with its tap in a bridge of its own (the guest option {@code bridge}), resuming the guest from the committed
 * epoch (its console ticks on from the primary's count; it does not boot), while the replica goes on applying epochs.
 * The hosts are scripts/netlab's namespaces; the clone's bridge on the backup host has a client of its own, which
 * reaches the clone at the same address as the original's client reaches the original. Destroying the clone removes
 * its directory. Needs root, iproute2, QEMU and native/'s guest image and preload library (scripts/test builds them);
 * without them it fails.
 */
class QemuForkTest {

    private static final DomainId GUEST = DomainId.parse("qemu:orig");
    private static final DomainId CLONE = DomainId.parse("qemu:orig-2");

    @TempDir
    Path dir;

    /** The clone's own L2 segment on the backup host, and the client that reaches it there. */
    private static final String BRIDGE = "br-clone";

    private final AtomicReference<Replica> replica = new AtomicReference<>();
    private NetLab lab;
    private String cloneClient;
    private QemuPair nodes;

    @BeforeEach
    void nodes() throws Exception {
        lab = NetLab.up();
        // the backup host gets a second bridge with a client of its own: the clone's segment, where the clone has
        // the same address as the original on the primary's segment
        cloneClient = lab.prefix + "-f";
        ip("netns", "add", cloneClient);
        ip("-n", lab.backupHost(), "link", "add", BRIDGE, "type", "bridge", "forward_delay", "0");
        ip("-n", lab.backupHost(), "link", "set", BRIDGE, "up");
        ip("-n", lab.backupHost(), "link", "add", "f-port", "type", "veth", "peer", "name", "eth0", "netns",
                cloneClient);
        ip("-n", lab.backupHost(), "link", "set", "f-port", "master", BRIDGE, "up");
        ip("-n", cloneClient, "addr", "add", "10.77.0.100/24", "dev", "eth0");
        ip("-n", cloneClient, "link", "set", "eth0", "up");
        ip("-n", cloneClient, "link", "set", "lo", "up");
        OutputBufferProvider output = new NfqueueProvider(NfqueueSettings.defaults(), LinuxNetlink.load());
        nodes = new QemuPair(dir, lab.primaryHost(), lab.backupHost(), h -> h, h -> new ForwardingHypervisor(h) {
            @Override
            public Replica createReplica(ReplicaSpec spec) throws HypervisorException {
                Replica r = h.createReplica(spec);
                replica.set(r);
                return r;
            }
        }, output, t -> t);
    }

    @AfterEach
    void stop() throws Exception {
        if (nodes != null) {
            nodes.close();
        }
        if (cloneClient != null) {
            new ProcessBuilder("ip", "netns", "del", cloneClient).redirectErrorStream(true).start().waitFor(10,
                    TimeUnit.SECONDS);
        }
        if (lab != null) {
            lab.close();
        }
    }

    private static String ip(String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("ip"));
        cmd.addAll(List.of(args));
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new AssertionError("this test needs iproute2's ip (and root): " + e.getMessage(), e);
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new AssertionError(String.join(" ", cmd) + " failed (this test needs root): " + out);
        }
        return out;
    }

    /** The interfaces in the clone's bridge on the backup host, but the client's. */
    private List<String> bridgePorts() throws Exception {
        return ip("-n", lab.backupHost(), "-o", "link", "show", "master", BRIDGE).lines().filter(l -> !l.isBlank())
                .map(l -> l.split(":\\s*")[1].split("@")[0]).filter(n -> !n.equals("f-port")).toList();
    }

    /** The counter of the guest at 10.77.0.10 as seen from namespace {@code netns} (one increment, not counted). */
    private static long counter(String netns) throws Exception {
        String script = Path.of(System.getProperty("romulus.scripts", "../../scripts")).resolve("counter-client.py")
                .toAbsolutePath().normalize().toString();
        Process p = new ProcessBuilder("ip", "netns", "exec", netns, "python3", script, NetLab.GUEST_IP, "7000",
                "0", "1").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        for (String line : out.split("\n")) {
            if (line.startsWith("value ")) {
                return Long.parseLong(line.split(" ")[1]) - 1;
            }
        }
        throw new AssertionError("no answer from the guest in " + netns + ": " + out);
    }

    @Test
    void aCloneResumesTheCommittedGuestInItsOwnBridgeWhileTheReplicaGoesOn() throws Exception {
        nodes.primary.protect(new ProtectRequest(GUEST, nodes.backupAddress(), 25,
                Map.of("memory", "128M", "nic", "tap", "dirty-rate", "200")));
        Path primaryConsole = nodes.awaitProtected(GUEST);
        assertEquals(List.of(), bridgePorts());
        await().atMost(Duration.ofSeconds(60)).until(() -> QemuPair.lastTick(primaryConsole) >= 12
                && nodes.committed() >= 50);
        Replica r = replica.get();
        assertNotNull(r, "the backup made a replica");
        long counted = counter(lab.client()) + 1; // answered after the ACK: the replica has the increment

        long ticksBefore = QemuPair.lastTick(primaryConsole);
        long epochBefore = r.committedEpoch();
        long started = System.nanoTime();
        ProtectedDomain clone = r.fork(CLONE, Map.of("bridge", BRIDGE));
        long forkMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);

        Path cloneDir = nodes.run.resolve("b").resolve(CLONE.name());
        assertEquals(CLONE, clone.info().id());
        assertTrue(clone.info().running(), clone.info().toString());
        long pid = Long.parseLong(Files.readString(cloneDir.resolve("qemu.pid")).trim());
        assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "the clone's QEMU runs");
        assertEquals("running", nodes.backupQemu.runState(CLONE.name()), "QMP query-status");
        assertEquals(1, bridgePorts().size(), "the clone's tap, alone in the bridge the clone names: "
                + bridgePorts());
        assertTrue(nodes.backupQemu.domains().stream().anyMatch(d -> d.id().equals(CLONE)),
                "the clone is a guest of the backup node: " + nodes.backupQemu.domains());

        // it resumed the guest as committed: the console ticks on from about the primary's count, no boot
        Path cloneConsole = cloneDir.resolve("console.log");
        await().atMost(Duration.ofSeconds(30)).until(() -> QemuPair.lastTick(cloneConsole) > 0);
        String resumed = Files.readString(cloneConsole, StandardCharsets.ISO_8859_1);
        assertFalse(resumed.contains("ROMULUS-GUEST-READY"), "the clone resumed; it did not boot:\n" + resumed);
        long first = QemuPair.lastTick(cloneConsole);
        assertTrue(first >= ticksBefore - 5 && first <= ticksBefore + 30, "the clone's ticks go on from where the "
                + "primary was (" + ticksBefore + "), not from the start: " + first);
        await().atMost(Duration.ofSeconds(30)).until(() -> QemuPair.lastTick(cloneConsole) > first + 2);

        // scale-out: the same address answers on both segments, each guest with its own counter from the fork on
        long cloneCount = counter(cloneClient);
        assertTrue(cloneCount >= counted && cloneCount < counted + 100, "the clone's counter starts from the "
                + "committed one (" + counted + "): " + cloneCount);
        assertEquals(cloneCount + 1, counter(cloneClient), "the clone answers on its own segment");
        long original = counter(lab.client());
        assertTrue(original >= counted && original < cloneCount + 2, "the original's counter did not see the "
                + "clone's increments: " + original + " (clone " + (cloneCount + 2) + ")");

        // the replica is unchanged by the fork and goes on applying epochs; the original stays protected
        await().atMost(Duration.ofSeconds(60)).until(() -> r.committedEpoch() >= epochBefore + 50);
        assertEquals(ProtectionState.PROTECTED, nodes.row(nodes.primary, Role.PRIMARY).state());

        // a second clone of the same name is refused: it runs here already
        String m = assertThrows(HypervisorException.class, () -> r.fork(CLONE, Map.of())).getMessage();
        assertTrue(m.contains("qemu:orig-2 already runs on this node"), m);
        m = assertThrows(HypervisorException.class, () -> r.fork(DomainId.parse("qemu:orig-3"),
                Map.of("colour", "red"))).getMessage();
        assertTrue(m.contains("with other colour") && m.contains("may override bridge only"), m);

        nodes.backupQemu.destroy(CLONE.name());
        assertFalse(Files.exists(cloneDir), "destroying the clone removes its directory");
        await().atMost(Duration.ofSeconds(10)).until(() -> ProcessHandle.of(pid).isEmpty()
                || !ProcessHandle.of(pid).get().isAlive());
        assertEquals(List.of(), bridgePorts());
        long afterDestroy = r.committedEpoch();
        await().atMost(Duration.ofSeconds(60)).until(() -> r.committedEpoch() >= afterDestroy + 20);
        LoggerFactory.getLogger(QemuForkTest.class).info("FORK of {} at epoch {}: clone running after {} ms, first "
                + "tick {} (primary at {}), counter {} (committed {})", GUEST, epochBefore, forkMs, first, ticksBefore,
                cloneCount, counted);
    }
}
