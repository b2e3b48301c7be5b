package io.romulus.drbd.internal;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;

import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.disk.DiskWrite;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.metatype.annotations.Designate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The disk replicator of kind {@code drbd} (ARCHITECTURE.md section 7): the protected domain's disk is a DRBD
 * volume, and DRBD moves the data beside the checkpoint stream, so {@link Primary#barrier} returns no writes and
 * the backup stages none. What this class does is coordinate: it checks that the resource is fit to back a
 * protected domain before protection starts, promotes the backup's side on failover and demotes an old primary.
 *
 * <p>A disk's {@link GuestDisk#source()} names the DRBD resource, {@code RES} or {@code RES/VOLUME} (see
 * {@link DrbdVolumeRef}); {@link Backup#activate()} returns the disk as the activated domain opens it: kind
 * {@code drbd}, source {@code /dev/drbdMINOR}.
 *
 * <p><b>Safety.</b> Upstream DRBD (9.x, drbd-utils 9.22) has no checkpoint barriers: nothing holds a write on the
 * backup until the epoch it belongs to commits. With protocol C every write is on the backup's disk before it
 * completes to the guest, so no acknowledged write is ever missing after a failover, but the backup's disk runs
 * ahead of its memory: after a failover it can hold writes of the epoch that never committed (invariant I2 does not
 * hold for the disk). This replicator therefore refuses protocol C unless
 * {@code allow.protocol.c.without.barriers=true}, and then warns once with the consequence. Protocols A and B are
 * refused always: a write completes to the guest before it is on the peer's disk, so writes of a committed epoch
 * can be missing after a failover while the output that depended on them was released (I3). The build's
 * {@code drbdsetup help} is searched for a barrier or checkpoint command; upstream offers none.
 *
 * <p>Where the DRBD kernel module is missing the component still activates, and {@link #supports} answers false
 * with {@link #unsupportedReason} "DRBD kernel module not loaded (/proc/drbd missing): ...". Usable without OSGi:
 * {@code new DrbdDiskReplicator(settings, new ProcessCommandRunner())}.
 */
@Component(service = {DiskReplicator.class, DrbdDiskReplicator.class}, configurationPid = DrbdDiskReplicator.PID,
        property = DiskReplicator.KIND + "=" + DrbdDiskReplicator.NAME)
@Designate(ocd = DrbdConfig.class)
public final class DrbdDiskReplicator implements DiskReplicator {

    public static final String NAME = "drbd";
    public static final String PID = "io.romulus.drbd";

    /** How long a "DRBD is unavailable" answer is kept before drbdsetup is asked again. */
    static final long REPROBE_MILLIS = 10_000;

    private static final Logger LOG = LoggerFactory.getLogger(DrbdDiskReplicator.class);

    /** What {@link #demote} achieved. */
    public enum Demotion {
        /** {@code drbdadm secondary} succeeded: this node can no longer write. */
        SECONDARY,
        /** Demotion failed, {@code drbdadm outdate} succeeded: this node's data can no longer be promoted. */
        OUTDATED
    }

    /** Whether the DRBD build offers checkpoint barriers, and what was checked. */
    public record BarrierSupport(boolean offered, String detail) {
    }

    private record Availability(String reason, long probedAtMillis) {
    }

    private final CommandRunner runner;
    private final boolean watch;
    private final AtomicBoolean warnedUnsafe = new AtomicBoolean();
    private volatile DrbdSettings settings;
    private volatile DrbdTools tools;
    private volatile Availability availability;
    private volatile BarrierSupport barriers;
    private volatile String lastReason;
    private DrbdMonitor monitor;

    @Activate
    public DrbdDiskReplicator(DrbdConfig config) {
        this(DrbdSettings.of(config), new ProcessCommandRunner(), true);
    }

    public DrbdDiskReplicator(DrbdSettings settings, CommandRunner runner) {
        this(settings, runner, false);
    }

    DrbdDiskReplicator(DrbdSettings settings, CommandRunner runner, boolean watch) {
        this.runner = runner;
        this.watch = watch;
        this.settings = settings;
        this.tools = settings.tools(runner);
        Optional<String> reason = probe();
        if (reason.isPresent()) {
            LOG.warn("DRBD disk replication is unavailable on this host (a disk on DRBD cannot be protected here): {}",
                    reason.get());
        } else {
            LOG.info("DRBD disk replication ready ({}, {}; protocol C without checkpoint barriers {})",
                    tools.drbdsetup(), tools.drbdadm(),
                    settings.allowProtocolCWithoutBarriers() ? "ALLOWED (unsafe)" : "refused");
            startMonitor();
        }
    }

    @Modified
    void modified(DrbdConfig config) {
        DrbdSettings s = DrbdSettings.of(config);
        if (s.allowProtocolCWithoutBarriers() != settings.allowProtocolCWithoutBarriers()) {
            warnedUnsafe.set(false);
        }
        settings = s;
        tools = s.tools(runner);
        availability = null;
        barriers = null;
        synchronized (this) {
            if (monitor != null) { // follow events2 with the drbdsetup now configured
                monitor.close();
                monitor = null;
                if (unavailableReason().isEmpty()) {
                    startMonitor();
                }
            }
        }
        LOG.info("DRBD disk replication reconfigured ({}, {}; protocol C without checkpoint barriers {}); disks "
                + "protected from now on are checked against it", tools.drbdsetup(), tools.drbdadm(),
                s.allowProtocolCWithoutBarriers() ? "ALLOWED (unsafe)" : "refused");
    }

    @Deactivate
    void deactivate() {
        synchronized (this) {
            if (monitor != null) {
                monitor.close();
                monitor = null;
            }
        }
    }

    private synchronized void startMonitor() {
        if (watch && monitor == null) {
            monitor = new DrbdMonitor(tools);
            monitor.start();
        }
    }

    /** The settings in force. */
    public DrbdSettings settings() {
        return settings;
    }

    /** The state the events2 monitor folded, or empty when it does not run (no module, or not under OSGi). */
    public synchronized Optional<DrbdState> state() {
        return monitor == null ? Optional.empty() : Optional.of(monitor.state());
    }

    private Optional<String> probe() {
        Optional<String> reason = tools.unavailableReason();
        availability = new Availability(reason.orElse(null), System.currentTimeMillis());
        return reason;
    }

    /** Why DRBD cannot be used on this host (asked again every 10 s while it cannot), or empty. */
    public Optional<String> unavailableReason() {
        Availability a = availability;
        if (a == null || a.reason() != null && System.currentTimeMillis() - a.probedAtMillis() > REPROBE_MILLIS) {
            Optional<String> reason = probe();
            if (reason.isEmpty() && a != null && a.reason() != null) {
                LOG.info("DRBD is usable on this host now");
                startMonitor();
            }
            return reason;
        }
        return Optional.ofNullable(a.reason());
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public boolean supports(GuestDisk disk) {
        Optional<String> reason = unsupportedReason(disk);
        if (reason.isPresent() && !reason.get().equals(lastReason)) {
            LOG.info("cannot replicate disk {} with DRBD: {}", disk.name(), reason.get());
        }
        lastReason = reason.orElse(null);
        return reason.isEmpty();
    }

    /** Why {@link #supports} answers false for {@code disk}, or empty when it answers true. */
    public Optional<String> unsupportedReason(GuestDisk disk) {
        if (!NAME.equals(disk.kind())) {
            return Optional.of("not a DRBD disk (kind " + disk.kind() + ")");
        }
        try {
            DrbdVolumeRef.parse(disk.source());
        } catch (IllegalArgumentException e) {
            return Optional.of(e.getMessage());
        }
        return unavailableReason();
    }

    /** Whether the unsafe protocol C configuration has been warned about (once per setting of the flag). */
    boolean warnedUnsafe() {
        return warnedUnsafe.get();
    }

    /** Whether this DRBD build offers checkpoint barriers ({@code drbdsetup help}, asked once). */
    public BarrierSupport barrierSupport() {
        BarrierSupport b = barriers;
        if (b == null) {
            b = detectBarriers(tools);
            barriers = b;
            LOG.info("checkpoint barriers: {}", b.detail());
        }
        return b;
    }

    static BarrierSupport detectBarriers(DrbdTools tools) {
        List<String> commands;
        try {
            commands = tools.commands();
        } catch (DrbdCommandException e) {
            return new BarrierSupport(false, "none (cannot list the commands of drbdsetup: " + e.getMessage() + ")");
        }
        List<String> found = commands.stream()
                .filter(c -> c.toLowerCase(Locale.ROOT).contains("barrier")
                        || c.toLowerCase(Locale.ROOT).contains("checkpoint"))
                .collect(Collectors.toList());
        if (found.isEmpty()) {
            return new BarrierSupport(false, "none: drbdsetup help lists " + commands.size() + " commands and none "
                    + "holds replicated writes until an epoch commits (upstream DRBD has no checkpoint barriers)");
        }
        return new BarrierSupport(false, "drbdsetup offers " + found + ", which this Romulus does not know how to "
                + "drive; treated as absent");
    }

    /** Where a volume is: its resource's state and the volume's number. */
    private record Located(DrbdState.Resource resource, int volume) {
    }

    private Located locate(DrbdVolumeRef ref) throws DrbdCommandException, DrbdRefusedException {
        DrbdTools t = tools;
        if (ref.byMinor()) {
            DrbdState all = t.events2Now(null).state();
            for (DrbdState.Resource r : all.resources().values()) {
                Optional<DrbdState.Device> d = r.deviceByMinor(ref.minor());
                if (d.isPresent()) {
                    return new Located(r, d.get().volume());
                }
            }
            throw new DrbdRefusedException("no DRBD resource on this host has device /dev/drbd" + ref.minor()
                    + " (drbdsetup events2 --now lists " + all.resources().keySet() + ")");
        }
        DrbdTools.Events2Now now = t.events2Now(ref.resource());
        Optional<DrbdState.Resource> r = now.state().resource(ref.resource());
        if (r.isEmpty()) {
            throw new DrbdRefusedException("DRBD resource " + ref.resource() + " does not exist on this host "
                    + "(drbdsetup events2 --now " + ref.resource() + " reports nothing; is it configured in "
                    + "/etc/drbd.d and up: drbdadm up " + ref.resource() + "?)");
        }
        if (r.get().device(ref.volume()).isEmpty()) {
            throw new DrbdRefusedException("DRBD resource " + ref.resource() + " has no volume " + ref.volume()
                    + " on this host (volumes: " + r.get().devices().keySet() + ")");
        }
        return new Located(r.get(), ref.volume());
    }

    @Override
    public Primary primary(DomainId domain, GuestDisk disk) throws Exception {
        Optional<String> unavailable = unavailableReason();
        if (unavailable.isPresent()) {
            throw new DrbdRefusedException("cannot protect disk " + disk.name() + " of " + domain + " with DRBD: "
                    + unavailable.get());
        }
        Located at = locate(DrbdVolumeRef.parse(disk.source()));
        DrbdState.Resource res = at.resource();
        String name = res.name();
        int volume = at.volume();
        String what = "DRBD resource " + name + (volume == 0 ? "" : " volume " + volume);

        if (!"Primary".equals(res.role())) {
            throw new DrbdRefusedException(what + " is " + res.role() + " on this host, but the protected domain "
                    + domain + " runs here: its disk must be Primary here (drbdadm primary " + name + ")");
        }
        DrbdState.Device dev = res.device(volume).orElseThrow();
        if (!"UpToDate".equals(dev.disk())) {
            throw new DrbdRefusedException(what + ": the local disk is " + dev.disk() + ", not UpToDate");
        }
        List<DrbdState.Connection> inSync = new ArrayList<>();
        List<String> notReady = new ArrayList<>();
        for (DrbdState.Connection c : res.connections().values()) {
            Optional<DrbdState.PeerDevice> pd = res.peerDevice(c.key(), volume);
            if (!c.connected()) {
                notReady.add(c.name() + ": connection " + c.state());
            } else if (pd.isEmpty()) {
                notReady.add(c.name() + ": no peer device for volume " + volume);
            } else if (!"Established".equals(pd.get().replication()) || !"UpToDate".equals(pd.get().peerDisk())) {
                Double done = pd.get().donePercent();
                notReady.add(c.name() + ": replication " + pd.get().replication() + ", peer disk "
                        + pd.get().peerDisk() + (done == null ? "" : String.format(Locale.ROOT, ", resync %.2f%% done",
                        done)));
            } else {
                inSync.add(c);
            }
        }
        if (inSync.isEmpty()) {
            throw new DrbdRefusedException(what + " has no connected peer with an UpToDate disk, so the backup "
                    + "would have nothing consistent to resume from"
                    + (notReady.isEmpty() ? " (no peer is configured)" : " (" + String.join("; ", notReady) + ")")
                    + "; wait for the connection and resync to finish");
        }
        DrbdShow show = tools.show(name);
        for (DrbdState.Connection c : inSync) {
            checkProtocol(what, c, show);
        }
        BarrierSupport b = barrierSupport();
        LOG.info("protecting disk {} of {} on {} ({}), replicated by DRBD to {} (protocol C; checkpoint barriers: "
                + "{})", disk.name(), domain, what, dev.devicePath(),
                inSync.stream().map(DrbdState.Connection::name).collect(Collectors.toList()),
                b.offered() ? "yes" : "none");
        return new DrbdPrimary(what);
    }

    /** Refuses protocols A and B always, and C unless explicitly allowed (then warns once). */
    private void checkProtocol(String what, DrbdState.Connection c, DrbdShow show) throws DrbdRefusedException {
        DrbdShow.NetSection net = null;
        for (DrbdShow.NetSection s : show.connections()) {
            if (String.valueOf(s.peerNodeId()).equals(c.key()) || s.name() != null && s.name().equals(c.name())) {
                net = s;
                break;
            }
        }
        String protocol = net == null ? null : net.protocol();
        if (protocol == null) {
            throw new DrbdRefusedException(what + ": drbdsetup show --show-defaults does not say which replication "
                    + "protocol the connection to " + c.name() + " uses; refusing, since only protocol C puts every "
                    + "write on the peer's disk before the guest sees it complete");
        }
        switch (protocol) {
            case "C":
                break;
            case "A":
            case "B":
                throw new DrbdRefusedException(what + " replicates to " + c.name() + " with protocol " + protocol
                        + ": a write completes to the guest before it is on the peer's disk (" + ("A".equals(protocol)
                        ? "A: once it is in the local TCP send buffer" : "B: once it is in the peer's memory")
                        + "), so after a failover the backup's disk can lack writes of epochs it acknowledged while "
                        + "the output that depended on them was already released. Use protocol C (net { protocol C; } "
                        + "in the resource, then drbdadm adjust)");
            default:
                throw new DrbdRefusedException(what + " replicates to " + c.name() + " with unknown protocol "
                        + protocol + "; only protocol C is accepted");
        }
        if (!settings.allowProtocolCWithoutBarriers()) {
            throw new DrbdRefusedException(what + " uses protocol C, but upstream DRBD has no checkpoint barriers: "
                    + "every write reaches the backup's disk as the guest makes it, so after a failover the "
                    + "backup's disk can hold writes of an epoch that never committed while its memory is that of "
                    + "the last committed epoch (the disk does not match the checkpoint, invariant I2). Set "
                    + "allow.protocol.c.without.barriers=true in " + PID + " to accept that risk, or use the "
                    + "engine's replicated disk (nbd), which applies writes only at commit");
        }
        if (warnedUnsafe.compareAndSet(false, true)) {
            LOG.warn("{} uses protocol C WITHOUT checkpoint barriers, allowed by allow.protocol.c.without.barriers="
                    + "true: no write the guest saw complete is lost on failover, but the backup's disk can be "
                    + "ahead of the resumed memory by the writes of the last, uncommitted epoch; the resumed guest "
                    + "finds blocks it has not written yet and its file system or database may be corrupted", what);
        }
    }

    @Override
    public Backup backup(DomainId domain, GuestDisk disk) throws Exception {
        Optional<String> unavailable = unavailableReason();
        if (unavailable.isPresent()) {
            throw new DrbdRefusedException("cannot keep a replica of disk " + disk.name() + " of " + domain
                    + " with DRBD: " + unavailable.get());
        }
        DrbdVolumeRef ref = DrbdVolumeRef.parse(disk.source());
        Located at = locate(ref);
        DrbdState.Resource res = at.resource();
        String what = "DRBD resource " + res.name() + (at.volume() == 0 ? "" : " volume " + at.volume());
        if (!"Secondary".equals(res.role())) {
            throw new DrbdRefusedException(what + " is " + res.role() + " on this host, but this host is the "
                    + "backup of " + domain + ": its side must be Secondary until failover (drbdadm secondary "
                    + res.name() + ")");
        }
        List<DrbdState.Connection> connected = res.connections().values().stream()
                .filter(DrbdState.Connection::connected).collect(Collectors.toList());
        if (connected.isEmpty()) {
            throw new DrbdRefusedException(what + " is not connected to any peer ("
                    + res.connections().values().stream().map(c -> c.name() + ": " + c.state())
                    .collect(Collectors.joining("; ")) + "), so the primary's writes do not reach this host");
        }
        if (connected.stream().noneMatch(c -> "Primary".equals(c.peerRole()))) {
            LOG.warn("{}: no connected peer is Primary yet ({})", what, connected.stream()
                    .map(c -> c.name() + " " + c.peerRole()).collect(Collectors.toList()));
        }
        String diskState = res.device(at.volume()).map(DrbdState.Device::disk).orElse(null);
        LOG.info("keeping the replica of disk {} of {} on {} (local disk {}, connected to {})", disk.name(), domain,
                what, diskState, connected.stream().map(DrbdState.Connection::name).collect(Collectors.toList()));
        return new DrbdBackup(domain, disk, res.name(), at.volume());
    }

    /**
     * Fences this host's side of an old primary's resource: {@code drbdadm secondary RES} (this node can no longer
     * write), or where that fails (the device is still open, DRBD refuses) {@code drbdadm outdate RES} (this node's
     * data can no longer be promoted without {@code --force}). For the engine to call on a former primary before it
     * rejoins, and on split-brain suspicion. Throws when neither worked: the caller must then fence by other means
     * (stop the old domain, STONITH), since this node can still write.
     */
    public Demotion demote(String resource) throws DrbdCommandException {
        DrbdTools t = tools;
        try {
            t.secondary(resource);
            LOG.info("DRBD resource {} demoted to Secondary on this host", resource);
            return Demotion.SECONDARY;
        } catch (DrbdCommandException notDemoted) {
            LOG.warn("{}; marking its data Outdated instead", notDemoted.getMessage());
            try {
                t.outdate(resource);
                LOG.warn("DRBD resource {} could not be demoted but its data here is now Outdated", resource);
                return Demotion.OUTDATED;
            } catch (DrbdCommandException notOutdated) {
                notOutdated.addSuppressed(notDemoted);
                throw new DrbdCommandException("cannot fence DRBD resource " + resource + " on this host: "
                        + notDemoted.getMessage() + "; and " + notOutdated.getMessage(), notOutdated.argv(),
                        notOutdated.exit(), notOutdated.stderr(), notOutdated);
            }
        }
    }

    /**
     * The engine fences this node's copy of a domain its backup now runs: the disk's resource is demoted here (or
     * outdated), so that nothing on this host writes it any more.
     */
    @Override
    public void fence(DomainId domain, GuestDisk disk) throws DrbdCommandException, DrbdRefusedException {
        DrbdVolumeRef ref = DrbdVolumeRef.parse(disk.source());
        String resource = ref.byMinor() ? locate(ref).resource().name() : ref.resource();
        Demotion d = demote(resource);
        LOG.warn("FENCED: disk {} of {} (DRBD resource {}) is {} on this host", disk.name(), domain, resource, d);
    }

    /** The primary side: DRBD replicates; epochs need nothing from it. */
    private static final class DrbdPrimary implements Primary {
        private final String what;

        DrbdPrimary(String what) {
            this.what = what;
        }

        @Override
        public void initialCopy(ChunkSink sink) {
            // DRBD's own (re)sync made the peer UpToDate; primary() checked it. Nothing travels in the stream.
            LOG.debug("{}: initial copy is DRBD's resync, already complete", what);
        }

        @Override
        public List<DiskWrite> barrier(long epoch) {
            return List.of();
        }

        @Override
        public void committed(long epoch) {
            // no barrier to release: upstream DRBD has none
        }

        @Override
        public void close() {
            LOG.debug("{}: no longer coordinated (DRBD keeps replicating)", what);
        }
    }

    /** The backup side: nothing is staged; failover promotes. */
    private final class DrbdBackup implements Backup {
        private final DomainId domain;
        private final GuestDisk disk;
        private final String resource;
        private final int volume;

        DrbdBackup(DomainId domain, GuestDisk disk, String resource, int volume) {
            this.domain = domain;
            this.disk = disk;
            this.resource = resource;
            this.volume = volume;
        }

        @Override
        public void writeInitial(long offset, ByteBuffer data) {
            throw new IllegalStateException("disk " + disk.name() + " of " + domain + " is replicated by DRBD "
                    + "resource " + resource + "; the checkpoint stream must not carry its initial copy");
        }

        @Override
        public void stage(long epoch, List<DiskWrite> writes) {
            if (!writes.isEmpty()) {
                throw new IllegalStateException("disk " + disk.name() + " of " + domain + " is replicated by DRBD "
                        + "resource " + resource + "; epoch " + epoch + " carries " + writes.size()
                        + " disk writes for it, which DRBD has already delivered");
            }
        }

        @Override
        public void commit(long epoch) {
            // DRBD delivered the writes already (no barriers upstream)
        }

        @Override
        public void discardUncommitted() {
            // nothing staged
        }

        @Override
        public GuestDisk activate() throws Exception {
            DrbdTools t = tools;
            LOG.info("failover: promoting DRBD resource {} to Primary for {}", resource, domain);
            t.primary(resource);
            DrbdState.Resource r = t.events2Now(resource).state().resource(resource)
                    .orElseThrow(() -> new DrbdRefusedException("DRBD resource " + resource + " vanished after "
                            + "drbdadm primary"));
            DrbdState.Device dev = r.device(volume).orElseThrow(() -> new DrbdRefusedException("DRBD resource "
                    + resource + " has no volume " + volume + " after drbdadm primary"));
            if (dev.devicePath() == null) {
                throw new DrbdRefusedException("DRBD resource " + resource + " volume " + volume
                        + " reports no minor, so its device is unknown");
            }
            long size = dev.sizeKib() > 0 ? dev.sizeKib() * 1024 : disk.sizeBytes();
            LOG.info("DRBD resource {} is {} here; {} resumes on {} (disk {})", resource, r.role(), domain,
                    dev.devicePath(), dev.disk());
            return new GuestDisk(disk.name(), NAME, dev.devicePath(), size);
        }

        @Override
        public void close() {
            // the resource stays as it is
        }
    }
}
