package io.romulus.drbd.internal;

import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import io.romulus.api.disk.DiskReplicator;
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
 * protected domain before protection starts, promotes the backup's side on failover and demotes an old primary;
 * a planned switchover demotes the old primary's side before the new primary's activation promotes its own.
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
 *
 * <p>This class is the component: settings, whether DRBD is usable here, the events2 monitor, fencing.
 * {@link DrbdResourceChecks} decides whether a resource may back a protected disk; {@link DrbdPrimary} and
 * {@link DrbdBackup} are the two sides of a protected disk.
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
    private final DrbdResourceChecks checks = new DrbdResourceChecks();
    private volatile DrbdSettings settings;
    private volatile DrbdTools tools;
    private volatile Availability availability;
    private volatile BarrierSupport barriers;
    private volatile String lastReason;
    @GuardedBy("this")
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
            checks.allowanceChanged();
        }
        settings = s;
        tools = s.tools(runner);
        availability = null;
        barriers = null;
        Optional<String> reason = unavailableReason();
        synchronized (this) {
            if (monitor != null) { // follow events2 with the drbdsetup now configured
                monitor.close();
                monitor = null;
            }
            if (reason.isEmpty()) {
                startMonitor();
            }
        }
        if (reason.isPresent()) {
            LOG.warn("DRBD disk replication reconfigured ({}, {}), and unavailable on this host (a disk on DRBD "
                    + "cannot be protected here): {}", tools.drbdsetup(), tools.drbdadm(), reason.get());
        } else {
            LOG.info("DRBD disk replication reconfigured ({}, {}; protocol C without checkpoint barriers {}); disks "
                    + "protected from now on are checked against it", tools.drbdsetup(), tools.drbdadm(),
                    s.allowProtocolCWithoutBarriers() ? "ALLOWED (unsafe)" : "refused");
        }
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
        if (a == null || (a.reason() != null && System.currentTimeMillis() - a.probedAtMillis() > REPROBE_MILLIS)) {
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
        return checks.warnedUnsafe();
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

    @Override
    public Primary primary(DomainId domain, GuestDisk disk) throws Exception {
        Optional<String> unavailable = unavailableReason();
        if (unavailable.isPresent()) {
            throw new DrbdRefusedException("cannot protect disk " + disk.name() + " of " + domain + " with DRBD: "
                    + unavailable.get());
        }
        return new DrbdPrimary(checks.checkPrimary(tools, settings, domain, disk, this::barrierSupport), () -> tools,
                domain, disk);
    }

    /**
     * A switchover demotes the old primary's resource ({@link DrbdPrimary#handOver}) before the new primary's
     * activation promotes its own ({@link DrbdBackup#activate()}): the old primary sends the hand-over only after it
     * demoted, so the two are never both Primary (I5).
     */
    @Override
    public boolean handsOver() {
        return true;
    }

    /**
     * The new primary's side after a switchover: its resource was promoted by the activation; DRBD keeps the old
     * primary's side in sync, so nothing is copied. Checked as at protection.
     */
    @Override
    public Primary resume(DomainId domain, GuestDisk disk, long epoch) throws Exception {
        return primary(domain, disk);
    }

    @Override
    public Backup backup(DomainId domain, GuestDisk disk) throws Exception {
        Optional<String> unavailable = unavailableReason();
        if (unavailable.isPresent()) {
            throw new DrbdRefusedException("cannot keep a replica of disk " + disk.name() + " of " + domain
                    + " with DRBD: " + unavailable.get());
        }
        DrbdResourceChecks.Located at = DrbdResourceChecks.checkBackup(tools, domain, disk);
        return new DrbdBackup(() -> tools, domain, disk, at.resource().name(), at.volume());
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
        String resource = ref.byMinor() ? DrbdResourceChecks.locate(tools, ref).resource().name() : ref.resource();
        Demotion d = demote(resource);
        LOG.warn("FENCED: disk {} of {} (DRBD resource {}) is {} on this host", disk.name(), domain, resource, d);
    }
}
