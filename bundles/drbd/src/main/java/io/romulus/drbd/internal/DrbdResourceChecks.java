package io.romulus.drbd.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import java.util.stream.Collectors;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether a DRBD resource is fit to back a protected domain's disk, as {@link DrbdDiskReplicator} requires before
 * protection starts: on the primary, Primary here with an UpToDate disk and at least one connected peer UpToDate, each
 * replicating with protocol C, which is refused too unless {@code allow.protocol.c.without.barriers=true} (then warned
 * about once); on the backup, Secondary here and connected.
 */
final class DrbdResourceChecks {

    private static final Logger LOG = LoggerFactory.getLogger(DrbdResourceChecks.class);

    private final AtomicBoolean warnedUnsafe = new AtomicBoolean();

    /** Where a volume is: its resource's state and the volume's number. */
    record Located(DrbdState.Resource resource, int volume) {

        /** The volume as messages name it. */
        String what() {
            return "DRBD resource " + resource.name() + (volume == 0 ? "" : " volume " + volume);
        }
    }

    /** The setting that allows protocol C changed: the next protection using it warns again. */
    void allowanceChanged() {
        warnedUnsafe.set(false);
    }

    /** Whether the unsafe protocol C configuration has been warned about (once per setting of the flag). */
    boolean warnedUnsafe() {
        return warnedUnsafe.get();
    }

    static Located locate(DrbdTools t, DrbdVolumeRef ref) throws DrbdCommandException, DrbdRefusedException {
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

    /**
     * Checks that {@code disk} of {@code domain}, which runs here, can be protected; logs how it is replicated.
     *
     * @return the volume, as messages name it
     */
    String checkPrimary(DrbdTools tools, DrbdSettings settings, DomainId domain, GuestDisk disk,
            Supplier<DrbdDiskReplicator.BarrierSupport> barriers) throws DrbdCommandException, DrbdRefusedException {
        Located at = locate(tools, DrbdVolumeRef.parse(disk.source()));
        DrbdState.Resource res = at.resource();
        String name = res.name();
        int volume = at.volume();
        String what = at.what();

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
            checkProtocol(what, c, show, settings);
        }
        DrbdDiskReplicator.BarrierSupport b = barriers.get();
        LOG.info("protecting disk {} of {} on {} ({}), replicated by DRBD to {} (protocol C; checkpoint barriers: "
                + "{})", disk.name(), domain, what, dev.devicePath(),
                inSync.stream().map(DrbdState.Connection::name).collect(Collectors.toList()),
                b.offered() ? "yes" : "none");
        return what;
    }

    /** Refuses protocols A and B always, and C unless explicitly allowed (then warns once). */
    private void checkProtocol(String what, DrbdState.Connection c, DrbdShow show, DrbdSettings settings)
            throws DrbdRefusedException {
        DrbdShow.NetSection net = null;
        for (DrbdShow.NetSection s : show.connections()) {
            if (String.valueOf(s.peerNodeId()).equals(c.key()) || (s.name() != null && s.name().equals(c.name()))) {
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
            case "C" -> {
                // the only protocol that puts every write on the peer's disk before it completes
            }
            case "A", "B" -> throw new DrbdRefusedException(what + " replicates to " + c.name() + " with protocol "
                    + protocol + ": a write completes to the guest before it is on the peer's disk ("
                    + ("A".equals(protocol) ? "A: once it is in the local TCP send buffer"
                    : "B: once it is in the peer's memory")
                    + "), so after a failover the backup's disk can lack writes of epochs it acknowledged while "
                    + "the output that depended on them was already released. Use protocol C (net { protocol C; } "
                    + "in the resource, then drbdadm adjust)");
            default -> throw new DrbdRefusedException(what + " replicates to " + c.name() + " with unknown protocol "
                    + protocol + "; only protocol C is accepted");
        }
        if (!settings.allowProtocolCWithoutBarriers()) {
            throw new DrbdRefusedException(what + " uses protocol C, but upstream DRBD has no checkpoint barriers: "
                    + "every write reaches the backup's disk as the guest makes it, so after a failover the "
                    + "backup's disk can hold writes of an epoch that never committed while its memory is that of "
                    + "the last committed epoch (the disk does not match the checkpoint, invariant I2). Set "
                    + "allow.protocol.c.without.barriers=true in " + DrbdDiskReplicator.PID + " to accept that risk, "
                    + "or use the engine's replicated disk (nbd), which applies writes only at commit");
        }
        if (warnedUnsafe.compareAndSet(false, true)) {
            LOG.warn("{} uses protocol C WITHOUT checkpoint barriers, allowed by allow.protocol.c.without.barriers="
                    + "true: no write the guest saw complete is lost on failover, but the backup's disk can be "
                    + "ahead of the resumed memory by the writes of the last, uncommitted epoch; the resumed guest "
                    + "finds blocks it has not written yet and its file system or database may be corrupted", what);
        }
    }

    /** Checks that this host can keep the replica of {@code disk} of {@code domain}; logs how. */
    static Located checkBackup(DrbdTools tools, DomainId domain, GuestDisk disk)
            throws DrbdCommandException, DrbdRefusedException {
        Located at = locate(tools, DrbdVolumeRef.parse(disk.source()));
        DrbdState.Resource res = at.resource();
        String what = at.what();
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
        return at;
    }
}
