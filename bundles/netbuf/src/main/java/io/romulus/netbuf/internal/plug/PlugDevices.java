package io.romulus.netbuf.internal.plug;

import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.OptionalInt;

import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.netbuf.internal.HostCommands;
import io.romulus.netbuf.internal.netlink.LinuxNetlink;
import io.romulus.netbuf.internal.netlink.Netlink;
import io.romulus.netbuf.internal.netlink.NetlinkException;
import io.romulus.netbuf.internal.netlink.NetlinkMessageWriter;
import io.romulus.netbuf.internal.netlink.NetlinkSocket;
import io.romulus.netbuf.internal.netlink.Rtnetlink;
import io.romulus.support.process.CommandResult;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What one attached tap holds in the kernel: an IFB, an ingress qdisc on the tap with a u32 match-all filter whose
 * mirred action redirects everything the guest sends to the IFB, and the plug qdisc at the root of the IFB, driven
 * over a NETLINK_ROUTE socket opened in the tap's namespace. The redirect is set up with {@code ip}/{@code tc} (at
 * attach only); the plug qdisc is created, changed and replaced with rtnetlink requests.
 *
 * <p>{@link #leave()} (the provider's bundle stops) closes only the socket: IFB, redirect and the plug qdisc stay,
 * plugged, and hold what the guest sends. {@link #adoptLeft(LinuxNetlink)} (a new provider's attach) finds them
 * again with {@code ip} and {@code tc} and takes them over.
 */
final class PlugDevices implements PlugOutputBuffer.Kernel {

    /** Handles the plug qdisc alternates between, so that a replace creates a new qdisc instead of a change. */
    static final int HANDLE_A = 0x00010000;
    static final int HANDLE_B = 0x00020000;

    private static final Logger LOG = LoggerFactory.getLogger(PlugDevices.class);
    private static final long REQUEST_TIMEOUT_MS = 2000;

    private final Path ip;
    private final Path tc;
    private final String netns;
    private final String tap;
    private final String ifb;
    private final String where;
    private final int limit;
    /** Undo actions for what has been installed, newest first. */
    private final Deque<Runnable> undo = new ArrayDeque<>();
    private NetlinkSocket socket;
    private int ifbIndex;
    private int handle = HANDLE_A;

    PlugDevices(Path ip, Path tc, String netns, String tap, String ifb, int limit) {
        this.ip = ip;
        this.tc = tc;
        this.netns = netns;
        this.tap = tap;
        this.ifb = ifb;
        this.limit = limit;
        this.where = tap + (netns == null ? "" : " in network namespace " + netns);
    }

    String ifb() {
        return ifb;
    }

    /** Creates the IFB and brings it up. */
    void createIfb() throws OutputBufferException {
        CommandResult r = HostCommands.run(HostCommands.argv(ip, netns, "link", "add", ifb, "type", "ifb"));
        if (!r.ok()) {
            String why = r.err().contains("exists") ? " (a device of that name exists: left over from an earlier run? "
                    + "remove it with ip link del " + ifb + ")" : " (needs CONFIG_IFB)";
            throw new OutputBufferException("cannot create IFB " + ifb + " for " + where + why + ": " + r.describe());
        }
        undo.push(() -> quietly(HostCommands.argv(ip, netns, "link", "del", ifb), "delete IFB " + ifb));
        HostCommands.check(HostCommands.argv(ip, netns, "link", "set", ifb, "up"), "bring IFB " + ifb + " up");
        ifbIndex = ifindex(HostCommands.check(HostCommands.argv(ip, netns, "-o", "link", "show", "dev", ifb),
                "read the index of IFB " + ifb).out());
    }

    /** The index {@code ip -o link show dev X} prints first ({@code "4: ifb-t0: <...> ..."}). */
    static int ifindex(String ipLinkShow) throws OutputBufferException {
        String line = ipLinkShow.strip();
        try {
            return Integer.parseInt(line.substring(0, line.indexOf(':')));
        } catch (RuntimeException e) {
            throw new OutputBufferException("cannot read an interface index from: " + line, e);
        }
    }

    /**
     * Takes over the hold an earlier provider (a previous version of this bundle) left for the tap, when the IFB
     * exists: its plug root qdisc and the tap's redirect to it must be there too, or this fails as for any
     * device left over. The plug qdisc is then replaced by a new, empty, plugged one: what the old one held is
     * dropped (never released), and the new one's counters are exact, where the old one's sealed region (its
     * {@code pkts_last_epoch}) is unknown. False when there is no IFB (nothing to adopt).
     */
    boolean adoptLeft(LinuxNetlink lib) throws OutputBufferException, NetlinkException {
        CommandResult link = HostCommands.run(HostCommands.argv(ip, netns, "-o", "link", "show", "dev", ifb));
        if (!link.ok()) {
            return false;
        }
        String qdiscs = HostCommands.check(HostCommands.argv(tc, netns, "qdisc", "show", "dev", ifb),
                "list the qdiscs of IFB " + ifb).out();
        CommandResult filters = HostCommands.run(HostCommands.argv(tc, netns, "filter", "show", "dev", tap,
                "parent", "ffff:"));
        int left = leftPlug(ifb, where, qdiscs, filters.ok() ? filters.out() : "").orElseThrow(
                () -> new OutputBufferException("IFB " + ifb + " exists but does not hold the output of " + where
                        + " (no plug qdisc at its root, or no redirect from the tap's ingress to it): left over from "
                        + "an earlier run? remove it with ip link del " + ifb));
        ifbIndex = ifindex(link.out());
        undo.push(() -> quietly(HostCommands.argv(ip, netns, "link", "del", ifb), "delete IFB " + ifb));
        undo.push(() -> quietly(HostCommands.argv(tc, netns, "qdisc", "del", "dev", tap, "ingress"),
                "remove the ingress qdisc of " + where));
        handle = left;
        openSocket(lib);
        replaceEmpty();
        return true;
    }

    /**
     * The handle of the plug qdisc at the root of {@code ifb} ({@code tc qdisc show dev IFB}), when the tap's
     * ingress filters ({@code tc filter show dev TAP parent ffff:}) redirect to it; empty otherwise.
     */
    static OptionalInt leftPlug(String ifb, String where, String qdiscs, String filters) {
        boolean redirected = filters.contains("Redirect to device " + ifb + ")");
        for (String line : qdiscs.split("\n")) {
            String[] t = line.strip().split("\\s+");
            // qdisc KIND MAJOR: root ...
            if (t.length >= 4 && "qdisc".equals(t[0]) && "root".equals(t[3]) && t[2].endsWith(":")) {
                if (!"plug".equals(t[1]) || !redirected) {
                    LOG.warn("IFB {} of {}: root qdisc {}, {}redirected from the tap", ifb, where, t[1],
                            redirected ? "" : "not ");
                    return OptionalInt.empty();
                }
                try {
                    return OptionalInt.of(Integer.parseInt(t[2].substring(0, t[2].length() - 1), 16) << 16);
                } catch (NumberFormatException e) {
                    return OptionalInt.empty();
                }
            }
        }
        return OptionalInt.empty();
    }

    /** Adds the ingress qdisc on the tap and the u32 match-all filter that redirects everything to the IFB. */
    void redirectIngress() throws OutputBufferException {
        CommandResult r = HostCommands.run(HostCommands.argv(tc, netns, "qdisc", "add", "dev", tap, "ingress"));
        if (!r.ok()) {
            String why = r.err().contains("exists") ? " (the tap already has an ingress qdisc, not made by Romulus; "
                    + "it is left alone)" : " (needs CONFIG_NET_SCH_INGRESS)";
            throw new OutputBufferException("cannot add an ingress qdisc to " + where + why + ": " + r.describe());
        }
        // deleting the ingress qdisc also deletes the filter below
        undo.push(() -> quietly(HostCommands.argv(tc, netns, "qdisc", "del", "dev", tap, "ingress"),
                "remove the ingress qdisc of " + where));
        HostCommands.check(HostCommands.argv(tc, netns, "filter", "add", "dev", tap, "parent", "ffff:", "protocol",
                "all", "prio", "1", "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev",
                ifb), "redirect the output of " + where + " to IFB " + ifb
                        + " (needs CONFIG_NET_CLS_U32, CONFIG_NET_CLS_ACT and CONFIG_NET_ACT_MIRRED)");
    }

    /** Opens the rtnetlink socket in the tap's namespace. */
    void openSocket(LinuxNetlink lib) throws NetlinkException {
        NetlinkSocket s = NetlinkSocket.open(lib, Netlink.NETLINK_ROUTE, netns);
        undo.push(s::close);
        socket = s;
        socket.setReceiveTimeout(100);
        try {
            socket.requestExtendedAcks();
        } catch (NetlinkException e) {
            LOG.debug("no extended netlink acks: {}", e.getMessage());
        }
    }

    /** Adds the plug qdisc at the root of the IFB, plugged (TCQ_PLUG_BUFFER) with the byte limit. */
    void addPlug() throws NetlinkException {
        int h = handle;
        socket.request("RTM_NEWQDISC(plug, create) on IFB " + ifb,
                (w, seq) -> plugMessage(w, seq, CREATE, ifbIndex, h, Rtnetlink.TCQ_PLUG_BUFFER, limit),
                REQUEST_TIMEOUT_MS, null);
    }

    /** NLM_F_CREATE | NLM_F_EXCL: add a qdisc that must not exist yet ({@code tc qdisc add}). */
    static final int CREATE = Netlink.NLM_F_CREATE
            | Netlink.NLM_F_EXCL;
    /** NLM_F_CREATE | NLM_F_REPLACE: graft a new qdisc in place of the old one ({@code tc qdisc replace}). */
    static final int REPLACE = Netlink.NLM_F_CREATE
            | Netlink.NLM_F_REPLACE;
    /** No create flags: change the existing qdisc ({@code tc qdisc change}). */
    static final int CHANGE = 0;

    /**
     * The RTM_NEWQDISC request for the plug qdisc at the root of {@code ifindex}: tcmsg, TCA_KIND "plug",
     * TCA_OPTIONS struct tc_plug_qopt {action, limit}; with NLM_F_REQUEST | NLM_F_ACK and {@code flags}.
     */
    static void plugMessage(NetlinkMessageWriter w, int seq, int flags, int ifindex, int handle, int action,
            int limit) {
        Rtnetlink.plugQdisc(w, seq, flags, ifindex, handle, Rtnetlink.TC_H_ROOT, action, limit);
    }

    @Override
    public void plug(int action) throws NetlinkException {
        int h = handle;
        socket.request("RTM_NEWQDISC(plug, action " + action + ") on IFB " + ifb,
                (w, seq) -> plugMessage(w, seq, CHANGE, ifbIndex, h, action, limit), REQUEST_TIMEOUT_MS, null);
    }

    @Override
    public void replaceEmpty() throws NetlinkException {
        int h = handle == HANDLE_A ? HANDLE_B : HANDLE_A;
        socket.request("RTM_NEWQDISC(plug, replace) on IFB " + ifb,
                (w, seq) -> plugMessage(w, seq, REPLACE, ifbIndex, h, Rtnetlink.TCQ_PLUG_BUFFER, limit),
                REQUEST_TIMEOUT_MS, null);
        handle = h;
    }

    /** Closes the socket and forgets the undo actions: what is installed stays, plugged, for a new provider. */
    @Override
    public void leave() {
        if (socket != null) {
            socket.close();
        }
        undo.clear();
    }

    /**
     * Undoes everything, newest first: the socket, the redirect (new guest output then bypasses the IFB), the IFB
     * with the plug qdisc and whatever it held (dropped, never released).
     */
    @Override
    public void remove() {
        while (!undo.isEmpty()) {
            try {
                undo.pop().run();
            } catch (RuntimeException e) {
                LOG.warn("{}: {}", where, e.toString());
            }
        }
    }

    private void quietly(List<String> argv, String what) {
        try {
            HostCommands.check(argv, what);
        } catch (OutputBufferException e) {
            LOG.warn("{}", e.getMessage());
        }
    }

    @Override
    public String toString() {
        return "IFB " + ifb + " holding " + where;
    }
}
