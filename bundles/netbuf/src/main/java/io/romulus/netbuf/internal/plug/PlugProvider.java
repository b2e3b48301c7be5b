package io.romulus.netbuf.internal.plug;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.netbuf.internal.BufferHandle;
import io.romulus.netbuf.internal.HostCommands;
import io.romulus.netbuf.internal.HostDevices;
import io.romulus.netbuf.internal.netlink.LinuxNetlink;
import io.romulus.netbuf.internal.netlink.NetlinkException;
import io.romulus.netbuf.internal.netlink.NetworkNamespace;
import io.romulus.support.linux.NativeCallException;
import io.romulus.support.process.CommandResult;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.metatype.annotations.Designate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code plug} output buffer, the Remus way: the tap's ingress (what the guest sends) is redirected by a u32
 * match-all filter with a mirred action to an IFB, whose root qdisc is {@code plug}; per epoch one rtnetlink
 * request (no fork) draws or releases a buffered region (see {@link PlugOutputBuffer}). Ranked above
 * {@code nfqueue} ({@code service.ranking} 10), so the engine takes it where the kernel has sch_plug; with
 * {@code mode=auto} it declines interfaces where the kernel lacks it (CONFIG_NET_SCH_PLUG unset), leaving them to
 * {@code nfqueue}. Forks ({@code ip}, {@code tc}) happen at attach, close and in the one-time probe only.
 *
 * <p>Hot upgrade. {@link OutputBuffer#detach() detach} keeps the interface's IFB, redirect, plug qdisc and region
 * bookkeeping in this provider, still holding; the next {@link #attach attach} of the interface returns a new
 * handle over them, and the first epoch it seals takes everything held (see {@link PlugOutputBuffer}). A second
 * attach of an interface that is attached and not detached fails. {@link #deactivate() Deactivation} (this bundle
 * is stopped or updated) closes the rtnetlink sockets and leaves IFB, redirect and plug qdisc in place, plugged, so
 * what the guest sends stays held. A new provider's attach finds the IFB it would create, checks that its root
 * qdisc is {@code plug} and that the tap's ingress redirects to it, and adopts them; it replaces the plug qdisc by
 * an empty plugged one, dropping what the old one held (never releasing it), so that its region counts are exact.
 * {@link OutputBuffer#close() close} removes everything as ever.
 *
 * <p>Usable without OSGi: {@code new PlugProvider(settings, LinuxNetlink.load())}.
 */
@Component(service = OutputBufferProvider.class, configurationPid = PlugProvider.PID,
        property = {"romulus.netbuf.provider=" + PlugProvider.NAME, "service.ranking:Integer=10"})
@Designate(ocd = PlugConfig.class)
public final class PlugProvider implements OutputBufferProvider {

    public static final String NAME = "plug";
    public static final String PID = "io.romulus.netbuf.plug";

    /** Tells whether the kernel has sch_plug (asked once). */
    @FunctionalInterface
    interface Probe {
        boolean kernelHasPlug() throws OutputBufferException;
    }

    private static final Logger LOG = LoggerFactory.getLogger(PlugProvider.class);
    private static final Pattern IFNAME = Pattern.compile("[A-Za-z0-9_.:@-]{1,15}");
    private static final int IFNAMSIZ_CHARS = 15;

    private final LinuxNetlink lib;
    private final Probe probe;
    private volatile PlugSettings settings;
    private Boolean kernelHasPlug;
    /** Interfaces held ({@code netns/tap}), attached or detached; the lock for attach, detach and deactivation. */
    private final Map<String, PlugOutputBuffer> holds = new HashMap<>();

    @Activate
    public PlugProvider(PlugConfig config) throws NativeCallException {
        this(PlugSettings.of(config), loadNative());
    }

    public PlugProvider(PlugSettings settings, LinuxNetlink lib) {
        this(settings, lib, () -> PlugProbe.kernelHasPlug(lib));
    }

    PlugProvider(PlugSettings settings, LinuxNetlink lib, Probe probe) {
        this.settings = settings;
        this.lib = lib;
        this.probe = probe;
        LOG.info("plug output buffer loaded ({}); whether the kernel has the plug qdisc is probed when an interface"
                + " is first attached", settings);
    }

    private static LinuxNetlink loadNative() throws NativeCallException {
        try {
            return LinuxNetlink.load();
        } catch (NativeCallException e) {
            LOG.error("plug output buffer unavailable: {}", e.getMessage());
            throw e;
        }
    }

    @Modified
    void modified(PlugConfig config) {
        settings = PlugSettings.of(config);
        LOG.info("plug output buffer reconfigured; interfaces attached from now on use {}", settings);
    }

    /**
     * Leaves every hold in the kernel for the next version of this bundle: IFB, redirect and plug qdisc stay,
     * plugged; only the sockets close. Handles given out do nothing afterwards.
     */
    @Deactivate
    void deactivate() {
        synchronized (holds) {
            for (PlugOutputBuffer b : List.copyOf(holds.values())) {
                b.leave();
            }
            holds.clear();
        }
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public boolean supports(GuestInterface nic) {
        if (!HostDevices.holdable(nic) || nic.hostDevice() == null || !IFNAME.matcher(nic.hostDevice()).matches()) {
            return false;
        }
        return switch (settings.mode()) {
            case ON -> true;
            case OFF -> false;
            default -> kernelHasPlug();
        };
    }

    /** Whether the kernel has sch_plug: probed on first use, then remembered (false when the probe failed). */
    synchronized boolean kernelHasPlug() {
        if (kernelHasPlug == null) {
            try {
                kernelHasPlug = probe.kernelHasPlug();
                LOG.info(kernelHasPlug ? "the kernel has the plug qdisc" : "the kernel has no plug qdisc "
                        + "(CONFIG_NET_SCH_PLUG unset): guest output is left to the nfqueue output buffer");
            } catch (OutputBufferException | RuntimeException e) {
                LOG.warn("cannot tell whether the kernel has the plug qdisc; not offering it: {}", e.getMessage());
                kernelHasPlug = Boolean.FALSE;
            }
        }
        return kernelHasPlug;
    }

    /** Interfaces held (attached or detached) and not yet closed. */
    int attachedCount() {
        synchronized (holds) {
            return holds.size();
        }
    }

    /** The IFB of tap {@code tap}: {@code ifb-TAP}, or a shortened TAP with a hash when that exceeds 15 chars. */
    static String ifbName(String tap) {
        String name = "ifb-" + tap;
        if (name.length() <= IFNAMSIZ_CHARS) {
            return name;
        }
        String hash = String.format("%05x", tap.hashCode() & 0xfffff);
        return "ifb-" + tap.substring(0, IFNAMSIZ_CHARS - 4 - 1 - hash.length()) + "-" + hash;
    }

    @Override
    public OutputBuffer attach(GuestInterface nic) throws OutputBufferException {
        return attach(nic, () -> { });
    }

    /**
     * {@link #attach(GuestInterface)}; {@code redirected} runs once the redirect to the IFB is in place. Adopts the
     * hold of a detached buffer, or what an earlier provider left (see the class comment).
     */
    OutputBuffer attach(GuestInterface nic, Runnable redirected) throws OutputBufferException {
        if (!HostDevices.holdable(nic)) {
            throw new OutputBufferException("the plug output buffer holds tap and vif interfaces, not " + nic.kind() + " ("
                    + nic.name() + ")");
        }
        String tap = nic.hostDevice();
        if (tap == null || !IFNAME.matcher(tap).matches()) {
            throw new OutputBufferException("not a network device name: " + tap + " (" + nic.name() + ")");
        }
        String netns = nic.netns() == null || nic.netns().isBlank() ? null : nic.netns();
        String where = tap + (netns == null ? "" : " in network namespace " + netns);
        String key = (netns == null ? "" : netns) + "/" + tap;
        synchronized (holds) {
            BufferHandle adopted = BufferHandle.adoptDetached(holds, key, where);
            if (adopted != null) {
                return adopted;
            }
            PlugOutputBuffer buffer = attachNew(nic, tap, netns, where, key, redirected);
            holds.put(key, buffer);
            return new BufferHandle(buffer);
        }
    }

    private PlugOutputBuffer attachNew(GuestInterface nic, String tap, String netns, String where, String key,
            Runnable redirected) throws OutputBufferException {
        PlugSettings s = settings;

        Path ip = HostCommands.require("ip", "create the IFB that receives the output of " + where);
        Path tc = HostCommands.require("tc", "redirect the output of " + where + " to its IFB");
        if (netns != null && !Files.exists(Path.of(NetworkNamespace.NETNS_DIR, netns))) {
            throw new OutputBufferException("network namespace " + netns + " does not exist (no "
                    + NetworkNamespace.NETNS_DIR + netns + ")");
        }
        CommandResult exists = HostCommands.run(HostCommands.argv(ip, netns, "link", "show", "dev", tap));
        if (!exists.ok()) {
            throw new OutputBufferException("device " + where + " does not exist: " + exists.describe());
        }

        PlugDevices devices = new PlugDevices(ip, tc, netns, tap, ifbName(tap), s.limitBytes());
        PlugOutputBuffer[] self = new PlugOutputBuffer[1];
        Runnable forget = () -> {
            synchronized (holds) {
                holds.remove(key, self[0]);
            }
        };
        try {
            if (devices.adoptLeft(lib)) {
                self[0] = new PlugOutputBuffer(tap, devices, forget);
                LOG.info("adopted the plug qdisc on IFB {} an earlier provider left holding the output of {} ({}); "
                        + "what it held was dropped", devices.ifb(), where, nic.name());
                return self[0];
            }
        } catch (NetlinkException | OutputBufferException | RuntimeException e) {
            devices.leave(); // what was found stays, plugged: removing it would let the guest's output pass
            if (e instanceof OutputBufferException obe) {
                throw obe;
            }
            throw new OutputBufferException("cannot adopt the plug qdisc on IFB " + devices.ifb() + " holding the "
                    + "output of " + where + ": " + e.getMessage(), e);
        }
        boolean installed = false;
        try {
            devices.createIfb();
            devices.redirectIngress();
            redirected.run();
            devices.openSocket(lib);
            try {
                devices.addPlug();
            } catch (NetlinkException e) {
                if (PlugProbe.isUnknownKind(e)) {
                    synchronized (this) {
                        kernelHasPlug = Boolean.FALSE;
                    }
                    throw new OutputBufferException("the kernel has no plug qdisc (CONFIG_NET_SCH_PLUG is not set, "
                            + "or module sch_plug is not available), so the output of " + where + " cannot be held "
                            + "by the plug output buffer; the nfqueue output buffer (NFQUEUE) is the alternative on "
                            + "this kernel: " + e.getMessage(), e);
                }
                throw new OutputBufferException("cannot add the plug qdisc to IFB " + devices.ifb() + " for " + where
                        + ": " + e.getMessage(), e);
            }
            installed = true;
        } catch (NetlinkException e) {
            throw new OutputBufferException("cannot hold the output of " + where + " with the plug qdisc: "
                    + e.getMessage(), e);
        } finally {
            if (!installed) {
                devices.remove(); // undo what was set up, newest first
            }
        }
        self[0] = new PlugOutputBuffer(tap, devices, forget);
        LOG.info("holding the output of {} ({}) with the plug qdisc on IFB {}", where, nic.name(), devices.ifb());
        return self[0];
    }
}
