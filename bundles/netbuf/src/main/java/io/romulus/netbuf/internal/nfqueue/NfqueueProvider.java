package io.romulus.netbuf.internal.nfqueue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.netbuf.internal.HostCommands;
import io.romulus.netbuf.internal.HostDevices;
import io.romulus.netbuf.internal.netlink.Errno;
import io.romulus.netbuf.internal.netlink.LinuxNetlink;
import io.romulus.netbuf.internal.netlink.Netlink;
import io.romulus.netbuf.internal.netlink.NetlinkException;
import io.romulus.netbuf.internal.netlink.NetlinkSocket;
import io.romulus.netbuf.internal.netlink.NetworkNamespace;
import io.romulus.netbuf.internal.netlink.Nfqueue;

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
 * <p>Usable without OSGi: {@code new NfqueueProvider(settings, LinuxNetlink.load())}.
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

    /** Which namespaces this provider turned bridge netfilter on in, so the last close turns it back off. */
    private static final class NetnsUse {
        int users;
        final List<String> restore = new ArrayList<>();
    }

    private final LinuxNetlink lib;
    private volatile NfqueueSettings settings;
    private final AtomicInteger nextQueue = new AtomicInteger();
    private final Map<String, NetnsUse> namespaces = new HashMap<>();
    private final Set<NfqueueOutputBuffer> attached = ConcurrentHashMap.newKeySet();

    @Activate
    public NfqueueProvider(NfqueueConfig config) throws NetlinkException {
        this(NfqueueSettings.of(config), loadNative());
    }

    public NfqueueProvider(NfqueueSettings settings, LinuxNetlink lib) {
        this.settings = settings;
        this.lib = lib;
        LOG.info("NFQUEUE output buffer ready ({})", settings);
    }

    private static LinuxNetlink loadNative() throws NetlinkException {
        try {
            return LinuxNetlink.load();
        } catch (NetlinkException e) {
            LOG.error("NFQUEUE output buffer unavailable: {}", e.getMessage());
            throw e;
        }
    }

    @Modified
    void modified(NfqueueConfig config) {
        settings = NfqueueSettings.of(config);
        LOG.info("NFQUEUE output buffer reconfigured; interfaces attached from now on use {}", settings);
    }

    @Deactivate
    void deactivate() {
        for (NfqueueOutputBuffer b : List.copyOf(attached)) {
            LOG.info("closing {} (held output is dropped, never released)", b);
            b.close();
        }
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public boolean supports(GuestInterface nic) {
        return HostDevices.holdable(nic) && nic.hostDevice() != null && IFNAME.matcher(nic.hostDevice()).matches();
    }

    /** Interfaces attached and not yet closed. */
    int attachedCount() {
        return attached.size();
    }

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
        NfqueueSettings s = settings;

        Path ip = HostCommands.require("ip", "inspect " + where);
        Path iptables = HostCommands.require("iptables", "send the guest's IPv4 output to the queue");
        Path ip6tables = HostCommands.require("ip6tables", "send the guest's IPv6 output to the queue");
        if (netns != null && !Files.exists(Path.of(NetworkNamespace.NETNS_DIR, netns))) {
            throw new OutputBufferException("network namespace " + netns + " does not exist (no "
                    + NetworkNamespace.NETNS_DIR + netns + ")");
        }
        requireBridgeNetfilter();
        requireBridgePort(ip, netns, dev, where);

        Deque<Runnable> undo = new ArrayDeque<>();
        NetlinkSocket socket;
        int queue;
        try {
            acquireNamespace(ip, netns);
            undo.push(() -> releaseNamespace(ip, netns));
            NetlinkSocket opened = NetlinkSocket.open(lib, Netlink.NETLINK_NETFILTER, netns);
            socket = opened;
            undo.push(opened::close); // closing the socket also unbinds its queue
            socket.setReceiveBufferSize(Math.max(4 << 20, Math.min(64 << 20, s.queueMaxlen() * 2048)));
            socket.setReceiveTimeout(100);
            try {
                socket.requestExtendedAcks();
            } catch (NetlinkException e) {
                LOG.debug("no extended netlink acks: {}", e.getMessage());
            }
            queue = bindFreeQueue(socket, s, where);
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
            attached.remove(self[0]);
            releaseNamespace(ip, netns);
        });
        NfqueueOutputBuffer buffer = new NfqueueOutputBuffer(dev, queue, attachment, attachment);
        self[0] = buffer;
        attachment.startReceiving(buffer);
        try {
            for (Path tool : List.of(iptables, ip6tables)) {
                List<String> rule = List.of("-m", "physdev", "--physdev-in", dev, "-j", "NFQUEUE", "--queue-num",
                        Integer.toString(queue));
                List<String> insert = new ArrayList<>(List.of(tool.toString(), "-w", "-I", "FORWARD", "1"));
                insert.addAll(rule);
                List<String> remove = new ArrayList<>(List.of(tool.toString(), "-w", "-D", "FORWARD"));
                remove.addAll(rule);
                attachment.installRule(HostCommands.inNetns(ip, netns, insert.toArray()),
                        HostCommands.inNetns(ip, netns, remove.toArray()),
                        "send the output of " + where + " to NFQUEUE " + queue + " with " + tool.getFileName()
                                + " (needs the xt physdev match and the NFQUEUE target)");
            }
        } catch (OutputBufferException | RuntimeException e) {
            buffer.close();
            throw e;
        }
        attached.add(buffer);
        LOG.info("holding the output of {} ({}) in NFQUEUE {}", where, nic.name(), queue);
        return buffer;
    }

    private int bindFreeQueue(NetlinkSocket socket, NfqueueSettings s, String where)
            throws NetlinkException, OutputBufferException {
        NetlinkException last = null;
        for (int i = 0; i < QUEUE_ATTEMPTS; i++) {
            int queue = (s.queueBase() + Math.floorMod(nextQueue.getAndIncrement(), 1024)) & 0xffff;
            try {
                // PF_BIND/PF_UNBIND are no-ops since Linux 3.8: a plain BIND is all this kernel needs
                socket.request("NFQNL_CFG_CMD_BIND of queue " + queue,
                        (w, seq) -> Nfqueue.configCommand(w, seq, queue, Nfqueue.NFQNL_CFG_CMD_BIND),
                        REQUEST_TIMEOUT_MS, null);
                return queue;
            } catch (NetlinkException e) {
                if (e.errno() != Errno.EBUSY && e.errno() != Errno.EPERM) {
                    throw e;
                }
                last = e; // held by another socket (EPERM) or already bound (EBUSY)
            }
        }
        throw new OutputBufferException("no free NFQUEUE for " + where + " among " + QUEUE_ATTEMPTS
                + " tried from queue.base " + s.queueBase() + " (taken by other processes, or this process lacks "
                + "CAP_NET_ADMIN): " + last.getMessage(), last);
    }

    private void unbind(NetlinkSocket socket, int queue) {
        try {
            socket.request("NFQNL_CFG_CMD_UNBIND of queue " + queue,
                    (w, seq) -> Nfqueue.configCommand(w, seq, queue, Nfqueue.NFQNL_CFG_CMD_UNBIND),
                    REQUEST_TIMEOUT_MS, null);
        } catch (NetlinkException e) {
            LOG.debug("unbinding queue {}: {}", queue, e.getMessage());
        }
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

    private static void requireBridgePort(Path ip, String netns, String dev, String where)
            throws OutputBufferException {
        List<String> argv = new ArrayList<>(List.of(ip.toString()));
        if (netns != null) {
            argv.addAll(List.of("-n", netns));
        }
        argv.addAll(List.of("-d", "-o", "link", "show", "dev", dev));
        HostCommands.Result r = HostCommands.run(argv);
        if (!r.ok()) {
            throw new OutputBufferException("device " + where + " does not exist: " + r.describe());
        }
        if (!r.out().contains("bridge_slave")) {
            throw new OutputBufferException(where + " is not a port of a Linux bridge, so its output cannot be held "
                    + "by the nfqueue output buffer (physdev-in matches bridge ports only)");
        }
    }

    private void acquireNamespace(Path ip, String netns) throws OutputBufferException {
        String key = netns == null ? "" : netns;
        synchronized (namespaces) {
            NetnsUse use = namespaces.get(key);
            if (use == null) {
                use = new NetnsUse();
                Path sysctl = HostCommands.require("sysctl", "turn on bridge netfilter");
                for (String name : List.of(SYSCTL_V4, SYSCTL_V6)) {
                    String value = HostCommands.check(HostCommands.inNetns(ip, netns, sysctl, "-n", name),
                            "read " + name).out().strip();
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
