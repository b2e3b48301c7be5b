package io.romulus.netbuf.internal.plug;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.netbuf.internal.HostCommands;
import io.romulus.netbuf.internal.netlink.LinuxNetlink;
import io.romulus.netbuf.internal.netlink.NetworkNamespace;
import io.romulus.support.process.CommandResult;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The plug output buffer against the real kernel, in network namespaces this test creates: namespace A holds a
 * veth that stands for the guest's tap, its peer is the guest's eth0 in namespace G.
 *
 * <p>Whether the kernel has sch_plug is found out first, independently of the code under test: {@code tc} adds a
 * plug qdisc to the loopback device of a throwaway namespace ({@link #kernelAcceptsAPlugQdisc()}). Where it has,
 * the plug tests run: output from the guest is held while the buffer is plugged, still held after a seal, and
 * delivered when that epoch is released; close leaves A as it found it. Where it has not (CONFIG_NET_SCH_PLUG
 * unset, as on the machines this project is developed on, so the plug branch has not run here yet), only its absence
 * is asserted: attach sets up the IFB and the redirect, then fails naming CONFIG_NET_SCH_PLUG and leaves A as it
 * found it. Either way the provider's own probe must agree with what the kernel did. Each test runs the branch this kernel
 * takes; nothing is skipped. Needs root, ip and tc, IFB, the ingress qdisc, u32 and mirred; a
 * missing one fails the test with its name.
 */
class PlugIntegrationTest {

    private static final Logger LOG = LoggerFactory.getLogger(PlugIntegrationTest.class);
    private static final long PID = ProcessHandle.current().pid();
    private static final String A = "rnp-" + PID + "-a";
    private static final String G = "rnp-" + PID + "-g";
    private static final String TAP = "rnptap0";
    /** Where a receiver in namespace A gets what the guest sends, once the plug lets it out. */
    private static final int PORT = 9999;
    private static final Pattern RX_PACKETS = Pattern.compile("\"rx\":\\{\"bytes\":\\d+,\"packets\":(\\d+)");
    private static final Pattern TX_PACKETS = Pattern.compile("\"tx\":\\{\"bytes\":\\d+,\"packets\":(\\d+)");

    private static LinuxNetlink lib;
    private static Path ip;
    private static Path tc;
    /** Whether this kernel accepted a plug qdisc from tc (sch_plug built in or loadable). */
    private static boolean schPlug;

    private DatagramChannel sender;

    @BeforeAll
    static void prerequisites() throws Exception {
        ip = HostCommands.find("ip");
        tc = HostCommands.find("tc");
        assertNotNull(ip, "ip (iproute2) is not installed (scripts/prerequisites.sh installs it)");
        assertNotNull(tc, "tc (iproute2) is not installed (scripts/prerequisites.sh installs it)");
        assertEquals("0", HostCommands.run(List.of("id", "-u")).out().strip(),
                "this test needs root (network namespaces, IFB, tc)");
        lib = LinuxNetlink.load();
        schPlug = kernelAcceptsAPlugQdisc();
        LOG.info("this kernel {} a plug qdisc", schPlug ? "accepts" : "refuses");
    }

    /** {@code tc qdisc add dev lo root plug} in a throwaway namespace: the kernel says whether it has sch_plug. */
    private static boolean kernelAcceptsAPlugQdisc() throws OutputBufferException {
        String scratch = "rnp-" + PID + "-probe";
        sh(ip, "netns", "add", scratch);
        try {
            sh(ip, "-n", scratch, "link", "set", "lo", "up");
            CommandResult r = HostCommands.run(List.of(tc.toString(), "-n", scratch, "qdisc", "add", "dev", "lo",
                    "root", "plug", "limit", "10000"));
            LOG.info("tc qdisc add ... plug: {}", r.describe());
            if (!r.ok() && !r.describe().contains("qdisc kind is unknown")) {
                fail("cannot tell whether this kernel has sch_plug: " + r.describe());
            }
            return r.ok();
        } finally {
            sh(ip, "netns", "del", scratch);
        }
    }

    private static String sh(Object... argv) throws OutputBufferException {
        List<String> cmd = new ArrayList<>();
        for (Object a : argv) {
            cmd.add(a.toString());
        }
        return HostCommands.check(cmd, "run " + String.join(" ", cmd)).out();
    }

    @BeforeEach
    void network() throws Exception {
        sh(ip, "netns", "add", A);
        sh(ip, "netns", "add", G);
        sh(ip, "-n", A, "link", "add", TAP, "type", "veth", "peer", "name", "eth0", "netns", G);
        sh(ip, "-n", A, "addr", "add", "10.97.0.1/24", "dev", TAP);
        sh(ip, "-n", A, "link", "set", TAP, "up");
        sh(ip, "-n", G, "addr", "add", "10.97.0.10/24", "dev", "eth0");
        sh(ip, "-n", G, "link", "set", "eth0", "up");
        sender = NetworkNamespace.call(lib, G, () -> {
            DatagramChannel c = DatagramChannel.open(StandardProtocolFamily.INET);
            c.bind(new InetSocketAddress("10.97.0.10", 0));
            return c; // not connected: the ICMP port unreachable from A must not fail the next send
        });
    }

    @AfterEach
    void teardown() throws Exception {
        if (sender != null) {
            sender.close();
        }
        for (String ns : List.of(G, A)) {
            CommandResult r = HostCommands.run(List.of(ip.toString(), "netns", "del", ns));
            if (!r.ok()) {
                LOG.warn("deleting {}: {}", ns, r.describe());
            }
        }
    }

    private static GuestInterface nic() {
        return new GuestInterface("net0", "52:54:00:12:34:56", "tap", TAP, A);
    }

    private static long counter(Pattern p, String dev) throws OutputBufferException {
        String json = sh(ip, "-n", A, "-j", "-s", "link", "show", "dev", dev);
        Matcher m = p.matcher(json);
        assertTrue(m.find(), "no packet counter in " + json);
        return Long.parseLong(m.group(1));
    }

    /** Datagrams from the guest to A's address, at {@code port}. */
    private void sendFromGuest(int n, int port) throws Exception {
        for (int i = 0; i < n; i++) {
            sender.send(ByteBuffer.wrap(new byte[64]), new InetSocketAddress("10.97.0.1", port));
        }
    }

    /** What the namespace looks like: devices (without counters), qdiscs, ingress filters of the tap. */
    private static String snapshot() throws OutputBufferException {
        return sh(ip, "-n", A, "-br", "link", "show") + sh(tc, "-n", A, "qdisc", "show")
                + sh(tc, "-n", A, "filter", "show", "dev", TAP, "ingress");
    }

    /**
     * Where the kernel has sch_plug, output is held until its epoch is released; where it has not, attach fails
     * naming CONFIG_NET_SCH_PLUG and undoes everything. One test, not two skippable ones: the branch this kernel
     * takes always runs, and a kernel that changes its answer changes what is checked, never whether.
     */
    @Test
    void outputIsHeldUntilReleasedOrAttachFailsNamingTheMissingQdisc() throws Exception {
        if (schPlug) {
            outputIsHeldUntilItsEpochIsReleased();
        } else {
            attachRedirectsToAnIfbThenFailsNamingConfigNetSchPlugAndUndoesItAll();
        }
    }

    /** The provider's own probe agrees with what the kernel did with tc's plug qdisc. */
    @Test
    void theProbeAgreesWithTheKernel() throws Exception {
        if (schPlug) {
            probeSaysPlug();
        } else {
            probeSaysNoPlugAndLeavesNothingBehind();
        }
    }

    private void outputIsHeldUntilItsEpochIsReleased() throws Exception {
        String before = snapshot();
        PlugProvider provider = new PlugProvider(PlugSettings.defaults(), lib);
        assertTrue(provider.supports(nic()), "auto: this kernel has sch_plug");
        try (DatagramChannel receiver = NetworkNamespace.call(lib, A, () -> {
            DatagramChannel c = DatagramChannel.open(StandardProtocolFamily.INET);
            c.bind(new InetSocketAddress("10.97.0.1", PORT));
            c.configureBlocking(false);
            return c;
        })) {
            int[] received = new int[1];
            ByteBuffer in = ByteBuffer.allocate(2048);
            Callable<Integer> drain = () -> {
                while (receiver.receive(in.clear()) != null) {
                    received[0]++;
                }
                return received[0];
            };
            // before the attach: output flows, and the guest has A's address (its ARP would otherwise be held too)
            sendFromGuest(1, PORT);
            await().atMost(Duration.ofSeconds(5)).until(drain, n -> n == 1);
            received[0] = 0;
            OutputBuffer buffer = provider.attach(nic());
            try {
                assertTrue(sh(tc, "-n", A, "qdisc", "show", "dev", PlugProvider.ifbName(TAP)).contains("plug"),
                        "a plug qdisc at the root of the IFB");
                sendFromGuest(20, PORT);
                // plugged: nothing arrives, looked at all along
                await("held while plugged").during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(2))
                        .pollInterval(Duration.ofMillis(10)).until(drain, n -> n == 0);
                buffer.seal(1);
                await("held after the seal").during(Duration.ofMillis(200)).atMost(Duration.ofSeconds(2))
                        .pollInterval(Duration.ofMillis(10)).until(drain, n -> n == 0);
                buffer.release(1);
                await("delivered when epoch 1 is released").atMost(Duration.ofSeconds(5)).until(drain, n -> n == 20);
            } finally {
                buffer.close();
            }
        }
        assertEquals(0, provider.attachedCount());
        assertEquals(before, snapshot(), "nothing Romulus made is left in namespace " + A);
    }

    private void probeSaysPlug() throws Exception {
        String namespaces = sh(ip, "netns", "list");
        assertTrue(PlugProbe.live(lib), "the kernel accepted a plug qdisc from tc, the probe must too");
        assertEquals(namespaces, sh(ip, "netns", "list"), "the probe's scratch namespace is gone");
        assertTrue(PlugProbe.kernelHasPlug(lib));
    }

    private void attachRedirectsToAnIfbThenFailsNamingConfigNetSchPlugAndUndoesItAll() throws Exception {
        String before = snapshot();
        String ifb = PlugProvider.ifbName(TAP);
        PlugProvider provider = new PlugProvider(PlugSettings.defaults().withMode(PlugSettings.Mode.ON), lib);
        String[] seen = new String[4];
        long[] counted = new long[4];
        Exception[] failed = new Exception[1];

        OutputBufferException e = assertThrows(OutputBufferException.class, () -> provider.attach(nic(), () -> {
            try {
                seen[0] = sh(ip, "-n", A, "-d", "link", "show", "dev", ifb);
                seen[1] = sh(tc, "-n", A, "qdisc", "show", "dev", TAP);
                seen[2] = sh(tc, "-n", A, "filter", "show", "dev", TAP, "ingress");
                counted[0] = counter(RX_PACKETS, ifb);
                counted[1] = counter(TX_PACKETS, ifb);
                sendFromGuest(20, 9);
                await().atMost(Duration.ofSeconds(5)).until(() -> counter(RX_PACKETS, ifb) >= counted[0] + 20
                        && counter(TX_PACKETS, ifb) >= counted[1] + 20);
                counted[2] = counter(RX_PACKETS, ifb);
                counted[3] = counter(TX_PACKETS, ifb);
            } catch (Exception | AssertionError x) {
                failed[0] = x instanceof Exception ex ? ex : new IllegalStateException(x);
            }
        }));
        LOG.info("attach failed as expected: {}", e.getMessage());
        assertNull(failed[0], () -> "while the redirect was in place: " + failed[0]);

        assertTrue(seen[0].contains("ifb"), "IFB " + ifb + " created (CONFIG_IFB): " + seen[0]);
        assertTrue(seen[0].contains("UP"), "IFB " + ifb + " up: " + seen[0]);
        assertTrue(seen[1].contains("qdisc ingress ffff:"), "ingress qdisc on the tap (CONFIG_NET_SCH_INGRESS): "
                + seen[1]);
        assertTrue(seen[2].contains("u32") && seen[2].contains("match 00000000/00000000 at 0"),
                "u32 match-all filter on the tap's ingress (CONFIG_NET_CLS_U32): " + seen[2]);
        assertTrue(seen[2].contains("mirred (Egress Redirect to device " + ifb + ")"),
                "mirred redirect to the IFB (CONFIG_NET_ACT_MIRRED): " + seen[2]);
        assertTrue(counted[2] >= counted[0] + 20 && counted[3] >= counted[1] + 20,
                "what the guest sent passed through the IFB: rx " + counted[0] + "->" + counted[2] + ", tx "
                        + counted[1] + "->" + counted[3]);

        assertTrue(e.getMessage().contains("CONFIG_NET_SCH_PLUG"), e.getMessage());
        assertTrue(e.getMessage().contains("nfqueue") && e.getMessage().contains("NFQUEUE"), e.getMessage());
        assertTrue(e.getMessage().contains("ENOENT"), "the kernel's answer to an unknown qdisc kind: "
                + e.getMessage());
        assertEquals(before, snapshot(), "nothing Romulus made is left in namespace " + A);
        assertEquals(0, provider.attachedCount());
        assertFalse(provider.kernelHasPlug(), "the failed attach taught the provider that sch_plug is missing");
    }

    private void probeSaysNoPlugAndLeavesNothingBehind() throws Exception {
        Boolean configured = PlugProbe.fromKernelConfig(PlugProbe.KERNEL_CONFIG);
        LOG.info("{} says sch_plug: {}", PlugProbe.KERNEL_CONFIG, configured);
        assertTrue(configured == null || !configured, "kernel config claims sch_plug");
        String namespaces = sh(ip, "netns", "list");
        assertFalse(PlugProbe.live(lib), "a plug qdisc was accepted on this kernel");
        assertEquals(namespaces, sh(ip, "netns", "list"), "the probe's scratch namespace is gone");
        assertFalse(PlugProbe.kernelHasPlug(lib));
    }

    @Test
    void modeDecidesWhetherPlugIsOffered() throws Exception {
        PlugSettings defaults = PlugSettings.defaults();
        assertEquals(PlugSettings.Mode.AUTO, defaults.mode());
        assertEquals(schPlug, new PlugProvider(defaults, lib).supports(nic()), "auto: as the kernel has sch_plug");
        assertTrue(new PlugProvider(defaults.withMode(PlugSettings.Mode.ON), lib).supports(nic()), "on");
        assertFalse(new PlugProvider(defaults.withMode(PlugSettings.Mode.OFF), lib).supports(nic()), "off");
        assertTrue(new PlugProvider(defaults.withMode(PlugSettings.Mode.ON), lib)
                .supports(new GuestInterface("net0", null, "vif", "vif1.0", null)), "a Xen vif, like a tap");
        assertFalse(new PlugProvider(defaults.withMode(PlugSettings.Mode.ON), lib)
                .supports(new GuestInterface("net0", null, "sim", "sim-nic", null)), "only host devices");
    }

    @Test
    void autoProbesOnceAndDefersToTheProbe() {
        int[] probes = new int[1];
        PlugProvider p = new PlugProvider(PlugSettings.defaults(), lib, () -> {
            probes[0]++;
            return true;
        });
        assertTrue(p.supports(nic()));
        assertTrue(p.supports(nic()));
        assertEquals(1, probes[0], "probed once, then cached");
        PlugProvider failing = new PlugProvider(PlugSettings.defaults(), lib, () -> {
            throw new OutputBufferException("no ip");
        });
        assertFalse(failing.supports(nic()), "a probe that fails offers nothing");
    }

    @Test
    void ifbNamesFitIfnamsiz() {
        assertEquals("ifb-rnptap0", PlugProvider.ifbName("rnptap0"));
        String longName = PlugProvider.ifbName("vnet-guest-1234");
        assertTrue(longName.length() <= 15, longName);
        assertFalse(longName.equals(PlugProvider.ifbName("vnet-guest-1235")), "distinct taps, distinct IFBs");
    }
}
