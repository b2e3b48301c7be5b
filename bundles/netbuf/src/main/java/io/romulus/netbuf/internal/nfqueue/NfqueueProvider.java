package io.romulus.netbuf.internal.nfqueue;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntPredicate;
import java.util.regex.Pattern;

import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.netbuf.internal.BufferHandle;
import io.romulus.netbuf.internal.HostCommands;
import io.romulus.netbuf.internal.HostDevices;
import io.romulus.netbuf.internal.netlink.LinuxNetlink;
import io.romulus.netbuf.internal.netlink.Netlink;
import io.romulus.netbuf.internal.netlink.NetlinkException;
import io.romulus.netbuf.internal.netlink.NetlinkSocket;
import io.romulus.netbuf.internal.netlink.NetworkNamespace;
import io.romulus.netbuf.internal.netlink.Nfqueue;
import io.romulus.support.linux.Errno;
import io.romulus.support.linux.NativeCallException;
import io.romulus.support.process.CommandResult;

import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.metatype.annotations.Designate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code nfqueue} output buffer: for kernels without sch_plug. The guest's tap is a port of a Linux bridge;
 * with br_netfilter, what the guest sends crosses the iptables FORWARD chain, where a
 * {@code -m physdev --physdev-in TAP -j NFQUEUE} rule (IPv4 and IPv6) hands it to a queue this provider reads.
 * Forks ({@code ip}, {@code iptables}, {@code sysctl}) happen at attach and close only.
 *
 * <p>Hot upgrade. {@link OutputBuffer#detach() detach} keeps the interface's queue, rule and epoch ledger in this
 * provider, still holding; the next {@link #attach attach} of the interface returns a new handle over them, and the
 * first epoch it seals takes everything held. A second attach of an interface that is attached and not detached
 * fails.
 *
 * <p>{@link #deactivate() Deactivation} (this bundle is stopped or updated) {@linkplain NfqueueHandOver hands the
 * queues over}: each queue's socket stays open and bound, so the kernel keeps what the queue holds and queues what
 * the guest sends meanwhile; its descriptor and epoch ledger go to a file in the bundle's data area, and the next
 * provider of this process takes the sockets over when it is activated, detached, so that the engine's next attach
 * adopts them: nothing held is dropped, and the guest's TCP has nothing to retransmit. Where that cannot be done (no
 * hand-over file, a new process, a socket that cannot be let go), deactivation closes the sockets, so the kernel
 * drops what the queues hold, and leaves every rule in place: the rules have no {@code --queue-bypass}, so the kernel
 * drops what the guests send while no program is bound to the queue; nothing passes unheld (invariant I1). A new
 * provider then finds the rule that feeds an interface's queue with {@code iptables -S FORWARD} at attach, binds the
 * same queue and adopts the rule instead of adding a second one; it never picks for another interface a queue number
 * that a rule in the namespace already feeds. {@link OutputBuffer#close() close} removes the rules as ever. What
 * deactivation leaves on is left on: bridge netfilter stays on in the namespace (turning it off would let the
 * guest's output bypass the rule), and a provider that adopts cannot know it once was off.
 *
 * <p>Usable without OSGi: {@code new NfqueueProvider(settings, LinuxNetlink.load())} (no hand-over), or with a
 * hand-over file as a third argument.
 */
@Component(service = OutputBufferProvider.class, configurationPid = "io.romulus.netbuf.nfqueue",
        property = "romulus.netbuf.provider=" + NfqueueProvider.NAME)
@Designate(ocd = NfqueueConfig.class)
public final class NfqueueProvider implements OutputBufferProvider {

    public static final String NAME = "nfqueue";

    private static final Logger LOG = LoggerFactory.getLogger(NfqueueProvider.class);
    private static final Pattern IFNAME = Pattern.compile("[A-Za-z0-9_.:@-]{1,15}");
    private static final String BRIDGE_NF = "/proc/sys/net/bridge/bridge-nf-call-iptables";
    private static final String SYSCTL_V4 = "net.bridge.bridge-nf-call-iptables";
    private static final String SYSCTL_V6 = "net.bridge.bridge-nf-call-ip6tables";
    private static final int QUEUE_ATTEMPTS = 64;
    private static final long REQUEST_TIMEOUT_MS = 2000;
    /**
     * How long the receiving thread waits for a packet before it looks whether it should stop. A bundle update waits
     * for that (up to this long) before it can hand the queue over, while nothing is released; so it is short: 50
     * idle wake-ups a second per queue.
     */
    private static final long RECEIVE_TIMEOUT_MS = 20;
    static final String HANDOVER_FILE = "nfqueue-handover.json";

    /** Which namespaces this provider turned bridge netfilter on in, so the last close turns it back off. */
    private static final class NetnsUse {
        int users;
        final List<String> restore = new ArrayList<>();
    }

    private final LinuxNetlink lib;
    /** Where deactivation hands the queues to the next provider; null: it closes them (the kernel drops). */
    private final Path handOverFile;
    private volatile NfqueueSettings settings;
    private final AtomicInteger nextQueue = new AtomicInteger();
    private final Map<String, NetnsUse> namespaces = new HashMap<>();
    /** Interfaces held ({@code netns/dev}), attached or detached; the lock for attach, detach and deactivation. */
    private final Map<String, NfqueueOutputBuffer> holds = new HashMap<>();

    @Activate
    public NfqueueProvider(NfqueueConfig config, BundleContext context) throws NativeCallException {
        this(NfqueueSettings.of(config), loadNative(), dataFile(context));
    }

    /** Without hand-over: deactivation closes the queues (the kernel drops what they hold). */
    public NfqueueProvider(NfqueueSettings settings, LinuxNetlink lib) {
        this(settings, lib, null);
    }

    /**
     * With hand-over through {@code handOverFile}: takes over at once the queues an earlier provider of this process
     * handed over there, and hands its own over there at deactivation.
     */
    public NfqueueProvider(NfqueueSettings settings, LinuxNetlink lib, Path handOverFile) {
        this.settings = settings;
        this.lib = lib;
        this.handOverFile = handOverFile;
        LOG.info("NFQUEUE output buffer loaded ({}); the kernel's queue and bridge netfilter are checked when an"
                + " interface is attached", settings);
        for (NfqueueHandOver.Hold h : NfqueueHandOver.take(handOverFile)) {
            inherit(h);
        }
    }

    private static Path dataFile(BundleContext context) {
        File data = context.getDataFile(HANDOVER_FILE);
        return data != null ? data.toPath()
                : Path.of(System.getProperty("karaf.data", "."), "romulus", HANDOVER_FILE);
    }

    private static LinuxNetlink loadNative() throws NativeCallException {
        try {
            return LinuxNetlink.load();
        } catch (NativeCallException e) {
            LOG.error("NFQUEUE output buffer unavailable: {}", e.getMessage());
            throw e;
        }
    }

    @Modified
    void modified(NfqueueConfig config) {
        settings = NfqueueSettings.of(config);
        LOG.info("NFQUEUE output buffer reconfigured; interfaces attached from now on use {}", settings);
    }

    /**
     * Leaves every hold in the kernel for the next version of this bundle. With a hand-over file each queue's socket
     * stays open and bound for the next provider of this process (nothing held is dropped; what the guest sends
     * waits in the queue); without one, or when the file cannot be written, each socket closes (the kernel drops what
     * it held). Each rule stays either way (without a socket bound, the kernel drops what the guest sends until a new
     * provider binds the queue). Handles given out do nothing afterwards.
     */
    @Deactivate
    void deactivate() {
        synchronized (holds) {
            List<NfqueueHandOver.Hold> handed = new ArrayList<>();
            for (NfqueueOutputBuffer b : List.copyOf(holds.values())) {
                NfqueueHandOver.Hold h = handOverFile == null ? null : b.handOver();
                if (h != null) {
                    handed.add(h);
                } else {
                    b.abandon();
                }
            }
            holds.clear();
            if (handed.isEmpty()) {
                return;
            }
            try {
                NfqueueHandOver.write(handOverFile, handed);
                LOG.info("Handed {} NFQUEUE queue(s) over to the next provider through {}", handed.size(),
                        handOverFile);
            } catch (IOException | RuntimeException e) {
                LOG.error("Cannot write the NFQUEUE hand-over file {}: {}; the queues close and the kernel drops "
                        + "what they hold", handOverFile, e.toString());
                for (NfqueueHandOver.Hold h : handed) {
                    closeHandedOver(h);
                }
            }
        }
    }

    /** Closes a socket handed over that nobody will take over: the kernel drops what its queue holds. */
    private void closeHandedOver(NfqueueHandOver.Hold h) {
        try {
            NetlinkSocket.inherit(lib, h.socket().fd(), Netlink.NETLINK_NETFILTER, h.socket().netns()).close();
        } catch (NetlinkException e) {
            LOG.warn("NFQUEUE {} of {}: cannot close descriptor {}: {}", h.queue(), h.dev(), h.socket().fd(),
                    e.getMessage());
        }
    }

    /**
     * Takes over a queue an earlier provider of this process handed over: its socket, rules and ledger, detached, so
     * that the next attach of the interface adopts it. The queue gets this provider's settings.
     */
    private void inherit(NfqueueHandOver.Hold h) {
        String netns = h.socket().netns();
        String where = h.dev() + (netns == null ? "" : " in network namespace " + netns);
        NetlinkSocket socket;
        try {
            socket = NetlinkSocket.inherit(lib, h.socket().fd(), Netlink.NETLINK_NETFILTER, netns);
        } catch (NetlinkException e) {
            LOG.error("NFQUEUE {} of {}: cannot take descriptor {} over: {}", h.queue(), where, h.socket().fd(),
                    e.getMessage());
            return;
        }
        String key = h.key();
        Path ip = HostCommands.find("ip");
        NfqueueOutputBuffer[] self = new NfqueueOutputBuffer[1];
        NfqueueAttachment attachment = new NfqueueAttachment(socket, h.queue(), where, () -> {
            synchronized (holds) {
                holds.remove(key, self[0]);
            }
            releaseNamespace(ip, netns);
        });
        for (List<String> removal : h.socket().ruleRemovals()) {
            attachment.adoptRule(removal);
        }
        NfqueueOutputBuffer buffer = new NfqueueOutputBuffer(h.dev(), h.queue(), attachment, attachment);
        self[0] = buffer;
        buffer.inherit(h.ledger());
        NfqueueSettings s = settings;
        int copyMode = s.copyRange() == 0 ? Nfqueue.NFQNL_COPY_META : Nfqueue.NFQNL_COPY_PACKET;
        try {
            socket.setReceiveTimeout(RECEIVE_TIMEOUT_MS); // the receiving thread's; request() needs one
            // packets that arrive before the answer are counted, as the receiving thread would
            socket.request("NFQNL_MSG_CONFIG(params) of queue " + h.queue(),
                    (w, seq) -> Nfqueue.configParams(w, seq, h.queue(), copyMode, s.copyRange(), s.queueMaxlen(),
                            Nfqueue.NFQA_CFG_F_FAIL_OPEN | Nfqueue.NFQA_CFG_F_GSO, Nfqueue.NFQA_CFG_F_GSO),
                    REQUEST_TIMEOUT_MS, message -> attachment.deliver(message, buffer));
        } catch (NetlinkException | RuntimeException e) {
            LOG.warn("NFQUEUE {} of {}: the queue keeps the settings it had: {}", h.queue(), where, e.getMessage());
        }
        synchronized (namespaces) {
            namespaces.computeIfAbsent(netns == null ? "" : netns, k -> new NetnsUse()).users++;
        }
        synchronized (holds) {
            holds.put(key, buffer);
        }
        attachment.startReceiving(buffer);
        LOG.info("took over NFQUEUE {} of {} from the previous provider with {} packets held; nothing was dropped",
                h.queue(), where, h.ledger().heldPackets());
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public boolean supports(GuestInterface nic) {
        return HostDevices.holdable(nic) && nic.hostDevice() != null && IFNAME.matcher(nic.hostDevice()).matches();
    }

    /** Interfaces held (attached or detached) and not yet closed. */
    int attachedCount() {
        synchronized (holds) {
            return holds.size();
        }
    }

    /**
     * Holds {@code nic}'s output in a queue of its own, or adopts the hold already there: the one a handle
     * {@linkplain OutputBuffer#detach() detached}, or the rule an earlier provider left (see the class comment).
     */
    @Override
    public OutputBuffer attach(GuestInterface nic) throws OutputBufferException {
        if (!HostDevices.holdable(nic)) {
            throw new OutputBufferException("the nfqueue output buffer holds tap and vif interfaces, not " + nic.kind()
                    + " (" + nic.name() + ")");
        }
        String dev = nic.hostDevice();
        if (dev == null || !IFNAME.matcher(dev).matches()) {
            throw new OutputBufferException("not a network device name: " + dev + " (" + nic.name() + ")");
        }
        String netns = nic.netns() == null || nic.netns().isBlank() ? null : nic.netns();
        String where = dev + (netns == null ? "" : " in network namespace " + netns);
        String key = (netns == null ? "" : netns) + "/" + dev;
        synchronized (holds) {
            BufferHandle adopted = BufferHandle.adoptDetached(holds, key, where);
            if (adopted != null) {
                return adopted;
            }
            NfqueueOutputBuffer buffer = attachNew(dev, netns, where, key);
            holds.put(key, buffer);
            LOG.info("holding the output of {} ({}) in NFQUEUE {}", where, nic.name(), buffer.queue());
            return new BufferHandle(buffer);
        }
    }

    private NfqueueOutputBuffer attachNew(String dev, String netns, String where, String key)
            throws OutputBufferException {
        NfqueueSettings s = settings;

        Path ip = HostCommands.require("ip", "inspect " + where);
        Path iptables = HostCommands.require("iptables", "send the guest's IPv4 output to the queue");
        Path ip6tables = HostCommands.require("ip6tables", "send the guest's IPv6 output to the queue");
        if (netns != null && !Files.exists(Path.of(NetworkNamespace.NETNS_DIR, netns))) {
            throw new OutputBufferException("network namespace " + netns + " does not exist (no "
                    + NetworkNamespace.NETNS_DIR + netns + ")");
        }
        requireBridgeNetfilter();
        // the look-ups do not depend on each other: their forks run at once (the bridge netfilter settings are read
        // when no interface of the namespace is held yet)
        List<List<String>> queries = new ArrayList<>(List.of(bridgePortQuery(ip, netns, dev),
                HostCommands.inNetns(ip, netns, iptables, "-w", "-S", "FORWARD"),
                HostCommands.inNetns(ip, netns, ip6tables, "-w", "-S", "FORWARD")));
        Path sysctl = namespaceInUse(netns) ? null : HostCommands.require("sysctl", "turn on bridge netfilter");
        if (sysctl != null) {
            for (String name : List.of(SYSCTL_V4, SYSCTL_V6)) {
                queries.add(HostCommands.inNetns(ip, netns, sysctl, "-n", name));
            }
        }
        List<CommandResult> lookedUp = HostCommands.runAll(queries);
        requireBridgePort(lookedUp.get(0), where);
        NfqueueRules rules4 = rules(lookedUp.get(1), iptables);
        NfqueueRules rules6 = rules(lookedUp.get(2), ip6tables);
        List<CommandResult> bridgeSettings = lookedUp.subList(3, lookedUp.size());
        Integer left = queueLeftFor(dev, where, rules4, rules6);

        Deque<Runnable> undo = new ArrayDeque<>();
        NetlinkSocket socket;
        int queue;
        try {
            acquireNamespace(ip, netns, bridgeSettings);
            undo.push(() -> releaseNamespace(ip, netns));
            NetlinkSocket opened = NetlinkSocket.open(lib, Netlink.NETLINK_NETFILTER, netns);
            socket = opened;
            undo.push(opened::close); // closing the socket also unbinds its queue
            socket.setReceiveBufferSize(Math.max(4 << 20, Math.min(64 << 20, s.queueMaxlen() * 2048)));
            socket.setReceiveTimeout(RECEIVE_TIMEOUT_MS);
            try {
                socket.requestExtendedAcks();
            } catch (NetlinkException e) {
                LOG.debug("no extended netlink acks: {}", e.getMessage());
            }
            queue = left != null ? bindLeftQueue(socket, left, where)
                    : bindFreeQueue(socket, s, where, q -> rules4.uses(q) || rules6.uses(q));
            int q = queue;
            int copyMode = s.copyRange() == 0 ? Nfqueue.NFQNL_COPY_META : Nfqueue.NFQNL_COPY_PACKET;
            // no NFQA_CFG_F_FAIL_OPEN: when the queue is full the kernel drops, it never lets output through
            socket.request("NFQNL_MSG_CONFIG(params) of queue " + q,
                    (w, seq) -> Nfqueue.configParams(w, seq, q, copyMode, s.copyRange(), s.queueMaxlen(),
                            Nfqueue.NFQA_CFG_F_FAIL_OPEN | Nfqueue.NFQA_CFG_F_GSO, Nfqueue.NFQA_CFG_F_GSO),
                    REQUEST_TIMEOUT_MS, null);
        } catch (OutputBufferException | NetlinkException | RuntimeException e) {
            while (!undo.isEmpty()) {
                try {
                    undo.pop().run();
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            if (e instanceof OutputBufferException obe) {
                throw obe;
            }
            throw new OutputBufferException("cannot hold the output of " + where + " in an NFQUEUE: "
                    + e.getMessage(), e);
        }

        // from here on the buffer owns socket, queue and namespace: a failure closes it, which undoes everything
        NfqueueOutputBuffer[] self = new NfqueueOutputBuffer[1];
        NfqueueAttachment attachment = new NfqueueAttachment(socket, queue, where, () -> {
            synchronized (holds) {
                holds.remove(key, self[0]);
            }
            releaseNamespace(ip, netns);
        });
        NfqueueOutputBuffer buffer = new NfqueueOutputBuffer(dev, queue, attachment, attachment);
        self[0] = buffer;
        attachment.startReceiving(buffer);
        try {
            List<NfqueueAttachment.Rule> install = new ArrayList<>();
            for (Path tool : List.of(iptables, ip6tables)) {
                List<NfqueueRules.Rule> found = (tool == iptables ? rules4 : rules6).feeding(dev);
                if (!found.isEmpty()) {
                    for (NfqueueRules.Rule r : found) {
                        List<String> remove = new ArrayList<>(List.of(tool.toString(), "-w", "-D", "FORWARD"));
                        remove.addAll(r.spec());
                        attachment.adoptRule(HostCommands.inNetns(ip, netns, remove.toArray()));
                    }
                    continue;
                }
                List<String> rule = List.of("-m", "physdev", "--physdev-in", dev, "-j", "NFQUEUE", "--queue-num",
                        Integer.toString(queue));
                List<String> insert = new ArrayList<>(List.of(tool.toString(), "-w", "-I", "FORWARD", "1"));
                insert.addAll(rule);
                List<String> remove = new ArrayList<>(List.of(tool.toString(), "-w", "-D", "FORWARD"));
                remove.addAll(rule);
                install.add(new NfqueueAttachment.Rule(HostCommands.inNetns(ip, netns, insert.toArray()),
                        HostCommands.inNetns(ip, netns, remove.toArray()),
                        "send the output of " + where + " to NFQUEUE " + queue + " with " + tool.getFileName()
                                + " (needs the xt physdev match and the NFQUEUE target)"));
            }
            attachment.installRules(install); // IPv4 and IPv6 at once
        } catch (OutputBufferException | RuntimeException e) {
            if (left == null) {
                buffer.close();
            } else {
                buffer.abandon(); // the adopted rule stays: without it the guest's output would pass unheld
                releaseNamespace(ip, netns);
            }
            throw e;
        }
        if (left != null) {
            LOG.info("adopted the NFQUEUE {} rule an earlier provider left for {}", queue, where);
        }
        return buffer;
    }

    /** The FORWARD rules of {@code tool} in the namespace, from what {@code tool -w -S FORWARD} answered. */
    private static NfqueueRules rules(CommandResult listed, Path tool) throws OutputBufferException {
        if (!listed.ok()) {
            throw new OutputBufferException("cannot list the FORWARD chain with " + tool.getFileName() + ": "
                    + listed.describe());
        }
        String listing = listed.out();
        try {
            return NfqueueRules.parse(listing);
        } catch (RuntimeException e) {
            throw new OutputBufferException("cannot read the NFQUEUE rules " + tool.getFileName() + " -S FORWARD "
                    + "printed: " + e + "\n" + listing, e);
        }
    }

    /**
     * The queue of the rules an earlier provider left for {@code dev} (to adopt), or null when there are none.
     * Rules this provider would not have made are refused: {@code --queue-bypass} lets packets pass while no
     * program is bound, and the IPv4 and IPv6 rules must feed the same single queue.
     */
    static Integer queueLeftFor(String dev, String where, NfqueueRules rules4, NfqueueRules rules6)
            throws OutputBufferException {
        List<NfqueueRules.Rule> found = new ArrayList<>(rules4.feeding(dev));
        found.addAll(rules6.feeding(dev));
        Integer queue = null;
        for (NfqueueRules.Rule r : found) {
            if (r.bypass() || r.firstQueue() != r.lastQueue() || (queue != null && queue != r.firstQueue())) {
                throw new OutputBufferException("the FORWARD chain already sends the output of " + where + " to an "
                        + "NFQUEUE in a way Romulus does not (" + String.join(" ", r.spec()) + "; "
                        + (r.bypass() ? "--queue-bypass lets it pass while no program reads the queue"
                                : "not one queue for IPv4 and IPv6") + "): remove that rule first");
            }
            queue = r.firstQueue();
        }
        return queue;
    }

    /** Binds the queue an adopted rule feeds. */
    private int bindLeftQueue(NetlinkSocket socket, int queue, String where)
            throws NetlinkException, OutputBufferException {
        NetlinkException e = bind(socket, queue);
        if (e != null) {
            throw new OutputBufferException("the rule left for " + where + " feeds NFQUEUE " + queue + ", which "
                    + "another socket still has bound (an earlier version of this bundle still running, or another "
                    + "program), so it cannot be adopted: " + e.getMessage(), e);
        }
        return queue;
    }

    /** Binds {@code queue}; the error when another socket has it (EPERM) or this one has it already (EBUSY). */
    private static NetlinkException bind(NetlinkSocket socket, int queue) throws NetlinkException {
        try {
            // PF_BIND/PF_UNBIND are no-ops since Linux 3.8: a plain BIND is all this kernel needs
            socket.request("NFQNL_CFG_CMD_BIND of queue " + queue,
                    (w, seq) -> Nfqueue.configCommand(w, seq, queue, Nfqueue.NFQNL_CFG_CMD_BIND),
                    REQUEST_TIMEOUT_MS, null);
            return null;
        } catch (NetlinkException e) {
            if (e.errno() != Errno.EBUSY && e.errno() != Errno.EPERM) {
                throw e;
            }
            return e;
        }
    }

    private int bindFreeQueue(NetlinkSocket socket, NfqueueSettings s, String where, IntPredicate fed)
            throws NetlinkException, OutputBufferException {
        NetlinkException last = null;
        int tried = 0;
        for (int i = 0; i < 1024 && tried < QUEUE_ATTEMPTS; i++) {
            int queue = (s.queueBase() + Math.floorMod(nextQueue.getAndIncrement(), 1024)) & 0xffff;
            if (fed.test(queue)) {
                continue; // a rule feeds it: perhaps one left for another interface, to be adopted
            }
            tried++;
            NetlinkException e = bind(socket, queue);
            if (e == null) {
                return queue;
            }
            last = e;
        }
        throw new OutputBufferException("no free NFQUEUE for " + where + " among " + tried
                + " tried from queue.base " + s.queueBase() + " (taken by other processes or fed by other rules, or "
                + "this process lacks CAP_NET_ADMIN)" + (last == null ? "" : ": " + last.getMessage()), last);
    }

    private static void requireBridgeNetfilter() throws OutputBufferException {
        if (Files.exists(Path.of(BRIDGE_NF))) {
            return;
        }
        Path modprobe = HostCommands.find("modprobe");
        if (modprobe != null) {
            HostCommands.run(List.of(modprobe.toString(), "br_netfilter"));
            if (Files.exists(Path.of(BRIDGE_NF))) {
                return;
            }
        }
        throw new OutputBufferException("br_netfilter is not available (no " + BRIDGE_NF + "; modprobe "
                + "br_netfilter, or a kernel with CONFIG_BRIDGE_NETFILTER): without it bridged guest output never "
                + "reaches iptables and cannot be held");
    }

    /** {@code ip [-n NETNS] -d -o link show dev DEV}: whether the device is a bridge port. */
    private static List<String> bridgePortQuery(Path ip, String netns, String dev) {
        List<String> argv = new ArrayList<>(List.of(ip.toString()));
        if (netns != null) {
            argv.addAll(List.of("-n", netns));
        }
        argv.addAll(List.of("-d", "-o", "link", "show", "dev", dev));
        return argv;
    }

    private static void requireBridgePort(CommandResult r, String where) throws OutputBufferException {
        if (!r.ok()) {
            throw new OutputBufferException("device " + where + " does not exist: " + r.describe());
        }
        if (!r.out().contains("bridge_slave")) {
            throw new OutputBufferException(where + " is not a port of a Linux bridge, so its output cannot be held "
                    + "by the nfqueue output buffer (physdev-in matches bridge ports only)");
        }
    }

    private boolean namespaceInUse(String netns) {
        synchronized (namespaces) {
            return namespaces.containsKey(netns == null ? "" : netns);
        }
    }

    /**
     * Counts one more interface held in the namespace; the first turns bridge netfilter on there where it is off
     * ({@code read}: what {@code sysctl -n} answered for the IPv4 and the IPv6 setting just before, if it was asked).
     */
    private void acquireNamespace(Path ip, String netns, List<CommandResult> read) throws OutputBufferException {
        String key = netns == null ? "" : netns;
        synchronized (namespaces) {
            NetnsUse use = namespaces.get(key);
            if (use == null) {
                use = new NetnsUse();
                Path sysctl = HostCommands.require("sysctl", "turn on bridge netfilter");
                List<String> names = List.of(SYSCTL_V4, SYSCTL_V6);
                for (int i = 0; i < names.size(); i++) {
                    String name = names.get(i);
                    CommandResult r = read.size() == names.size() ? read.get(i)
                            : HostCommands.run(HostCommands.inNetns(ip, netns, sysctl, "-n", name));
                    if (!r.ok()) {
                        throw new OutputBufferException("cannot read " + name + ": " + r.describe());
                    }
                    String value = r.out().strip();
                    if (!"1".equals(value)) {
                        HostCommands.check(HostCommands.inNetns(ip, netns, sysctl, "-w", name + "=1"),
                                "turn on " + name + (netns == null ? "" : " in network namespace " + netns));
                        use.restore.add(name + "=" + value);
                    }
                }
                namespaces.put(key, use);
            }
            use.users++;
        }
    }

    private void releaseNamespace(Path ip, String netns) {
        String key = netns == null ? "" : netns;
        synchronized (namespaces) {
            NetnsUse use = namespaces.get(key);
            if (use == null || --use.users > 0) {
                return;
            }
            namespaces.remove(key);
            Path sysctl = HostCommands.find("sysctl");
            for (String setting : use.restore) {
                try {
                    HostCommands.check(HostCommands.inNetns(ip, netns, sysctl, "-w", setting), "restore " + setting);
                } catch (OutputBufferException | RuntimeException e) {
                    LOG.warn("{}", e.getMessage());
                }
            }
        }
    }
}
