package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.qemu.internal.vm.VmDefinition;
import io.romulus.qemu.internal.vm.VmNic;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A replica's standby: the QEMU its failover will run, started ahead of time on the replica's RAM file, stopped and
 * waiting for a device state ({@code -S -incoming defer}), its taps down and out of their bridges. QEMU writes nothing
 * into guest RAM while it waits for an incoming state (it does not even load its ROMs), and the standby is never let
 * run: only activation, which holds the replica's lock (so no epoch is being applied), loads the committed device
 * state into it and lets it run. Process start-up and device-model construction are thus off the failover path.
 *
 * <p>At failover {@link #moveHere} brings the taps into their bridges, points each bridge's forwarding entry for the
 * guest's MAC address at its tap and announces the address (RARP) before the device state is even loaded, so that
 * what clients send meanwhile waits in the tap instead of going to the dead host.
 */
final class Standby implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Standby.class);

    private final DomainId id;
    private final QemuProcess process;
    private final List<GuestDisk> disks;
    private final long startMs;

    private Standby(DomainId id, QemuProcess process, List<GuestDisk> disks, long startMs) {
        this.id = id;
        this.process = process;
        this.disks = List.copyOf(disks);
        this.startMs = startMs;
    }

    /** Starts the standby of replica {@code id} in its directory {@code dir} (where its RAM file is). */
    static Standby start(DomainId id, VmDefinition vm, Path dir, QemuSettings settings, List<GuestDisk> disks)
            throws HypervisorException, InterruptedException {
        long started = System.nanoTime();
        QemuProcess p = QemuProcess.startDetached(id.name(), dir, vm, settings, true,
                RunDirectory.tapNames(dir, vm.nics().size()), disks);
        Standby s = new Standby(id, p, disks, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started));
        LOG.info("Standby QEMU of the replica of {} ready in {} ms (pid {}, {}), stopped until failover", id,
                s.startMs, p.pid(), s.memory());
        return s;
    }

    QemuProcess process() {
        return process;
    }

    boolean alive() {
        return process.isAlive();
    }

    /** Whether failover with {@code wanted} can use this standby: it was started with the same disks. */
    boolean fits(List<GuestDisk> wanted) {
        return disks.equals(wanted);
    }

    /**
     * What the standby costs: its own memory (anonymous and resident, from {@code /proc/PID/status}); the guest's RAM
     * is the replica's file, which it maps but has not touched.
     */
    String memory() {
        try {
            long anon = 0;
            long rss = 0;
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(process.pid()), "status"),
                    StandardCharsets.UTF_8)) {
                if (line.startsWith("RssAnon:")) {
                    anon = kib(line);
                } else if (line.startsWith("VmRSS:")) {
                    rss = kib(line);
                }
            }
            return "memory " + (anon >> 10) + " MiB anonymous, " + (rss >> 10) + " MiB resident";
        } catch (IOException | RuntimeException e) {
            return "memory unknown: " + e.getMessage();
        }
    }

    private static long kib(String statusLine) {
        String[] f = statusLine.trim().split("\\s+");
        return Long.parseLong(f[1]);
    }

    /**
     * Failover, before the device state is loaded: each NIC's tap joins its bridge and comes up, the bridge forwards
     * the guest's MAC address to it, and the address is announced on the bridge, so that the network sends the
     * guest's traffic here from now on (it waits in the tap until the guest runs).
     */
    static void moveHere(QemuProcess p, VmDefinition vm, QemuSettings settings)
            throws HypervisorException, InterruptedException {
        p.joinBridges(vm, settings);
        for (int i = 0; i < vm.nics().size(); i++) {
            VmNic nic = vm.nics().get(i);
            String bridge = QemuProcess.bridgeOf(nic, settings);
            if (bridge.isEmpty()) {
                continue;
            }
            List<String> fdb = new ArrayList<>(List.of("bridge"));
            if (!settings.netns().isEmpty()) {
                fdb.addAll(List.of("-netns", settings.netns()));
            }
            fdb.addAll(List.of("fdb", "replace", nic.mac(), "dev", p.taps().get(i), "master", "dynamic"));
            QemuProcess.run(fdb);
            try {
                MacAnnouncement.send(settings.netns(), bridge, List.of(nic.mac()));
            } catch (IOException e) {
                throw new HypervisorException(e.getMessage(), e);
            }
        }
    }

    /** Kills the standby's QEMU (its taps go with it); the replica's files stay. */
    @Override
    public void close() {
        if (process.isAlive()) {
            LOG.info("Stopping the standby QEMU of the replica of {} (pid {})", id, process.pid());
        }
        process.close();
    }

    @Override
    public String toString() {
        return "standby QEMU of " + id + " (pid " + process.pid() + ")";
    }
}
