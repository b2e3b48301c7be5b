package io.romulus.netbuf.internal.plug;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPInputStream;

import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.netbuf.internal.HostCommands;
import io.romulus.netbuf.internal.netlink.LinuxNetlink;
import io.romulus.netbuf.internal.netlink.Netlink;
import io.romulus.netbuf.internal.netlink.NetlinkException;
import io.romulus.netbuf.internal.netlink.NetlinkSocket;
import io.romulus.netbuf.internal.netlink.Rtnetlink;
import io.romulus.support.linux.Errno;
import io.romulus.support.process.CommandResult;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether the running kernel has the plug qdisc (sch_plug). {@code /proc/config.gz}, where present, answers
 * {@code CONFIG_NET_SCH_PLUG=y} and {@code # CONFIG_NET_SCH_PLUG is not set} directly; otherwise (or for {@code =m},
 * a module that may or may not be installed) a plug qdisc is added to the loopback device of a scratch network
 * namespace and the namespace is deleted again, leaving nothing behind.
 */
final class PlugProbe {

    static final Path KERNEL_CONFIG = Path.of("/proc/config.gz");
    private static final String KEY = "CONFIG_NET_SCH_PLUG";
    /** LOOPBACK_IFINDEX: lo is always device 1 of a new namespace. */
    private static final int LOOPBACK_IFINDEX = 1;
    private static final AtomicInteger SCRATCH = new AtomicInteger();
    private static final Logger LOG = LoggerFactory.getLogger(PlugProbe.class);

    private PlugProbe() {
    }

    /** The answer of the kernel configuration, or null when it does not settle the question. */
    static Boolean fromKernelConfig(Path configGz) {
        if (!Files.isReadable(configGz)) {
            return null;
        }
        try (BufferedReader r = new BufferedReader(new InputStreamReader(
                new GZIPInputStream(Files.newInputStream(configGz)), StandardCharsets.US_ASCII))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.equals(KEY + "=y")) {
                    return Boolean.TRUE;
                }
                if (line.equals("# " + KEY + " is not set")) {
                    return Boolean.FALSE;
                }
                if (line.equals(KEY + "=m")) {
                    return null; // a module: installed and loadable or not, only the kernel can tell
                }
            }
            return Boolean.FALSE; // not mentioned at all: the kernel has no packet scheduler (NET_SCHED) or no plug
        } catch (IOException e) {
            LOG.debug("cannot read {}: {}", configGz, e.toString());
            return null;
        }
    }

    /** Asks the configuration, then the kernel itself. */
    static boolean kernelHasPlug(LinuxNetlink lib) throws OutputBufferException {
        Boolean configured = fromKernelConfig(KERNEL_CONFIG);
        if (configured != null) {
            return configured;
        }
        return live(lib);
    }

    /**
     * Adds a plug qdisc to lo in a scratch namespace {@code romulus-plugprobe-PID-N} and deletes the namespace:
     * true if the kernel accepted it, false if it answered that the kind is unknown.
     */
    static boolean live(LinuxNetlink lib) throws OutputBufferException {
        Path ip = HostCommands.require("ip", "probe for the plug qdisc in a scratch network namespace");
        String ns = "romulus-plugprobe-" + ProcessHandle.current().pid() + "-" + SCRATCH.incrementAndGet();
        HostCommands.check(HostCommands.argv(ip, null, "netns", "add", ns), "create scratch network namespace "
                + ns + " to probe for the plug qdisc");
        try (NetlinkSocket s = NetlinkSocket.open(lib, Netlink.NETLINK_ROUTE, ns)) {
            s.setReceiveTimeout(100);
            try {
                s.request("RTM_NEWQDISC(plug, create) on lo of " + ns,
                        (w, seq) -> PlugDevices.plugMessage(w, seq, PlugDevices.CREATE, LOOPBACK_IFINDEX,
                                PlugDevices.HANDLE_A, Rtnetlink.TCQ_PLUG_BUFFER, PlugSettings.DEFAULT_LIMIT_BYTES),
                        2000, null);
            } catch (NetlinkException e) {
                if (isUnknownKind(e)) {
                    LOG.debug("no plug qdisc: {}", e.getMessage());
                    return false;
                }
                throw new OutputBufferException("cannot probe for the plug qdisc: " + e.getMessage(), e);
            }
            s.request("RTM_DELQDISC(plug) on lo of " + ns, (w, seq) -> {
                w.begin(Rtnetlink.RTM_DELQDISC, Netlink.NLM_F_REQUEST | Netlink.NLM_F_ACK, seq);
                Rtnetlink.tcmsg(w, Netlink.AF_UNSPEC, LOOPBACK_IFINDEX, PlugDevices.HANDLE_A, Rtnetlink.TC_H_ROOT, 0);
                w.end();
            }, 2000, null);
            return true;
        } catch (NetlinkException e) {
            throw new OutputBufferException("cannot probe for the plug qdisc: " + e.getMessage(), e);
        } finally {
            CommandResult r = HostCommands.run(HostCommands.argv(ip, null, "netns", "del", ns));
            if (!r.ok()) {
                LOG.warn("cannot delete scratch network namespace {}: {}", ns, r.describe());
            }
        }
    }

    /**
     * How qdisc_create() answers a kind it has no ops for (and cannot load as module sch_KIND): ENOENT, with the
     * extended ack "Specified qdisc kind is unknown".
     */
    static boolean isUnknownKind(NetlinkException e) {
        return e.errno() == Errno.ENOENT;
    }
}
