package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A switchover's old copy: the guest this node ran until its backup took over. {@link #stop} stops it for good (I5:
 * its QEMU stopped, its taps cut off from their bridges), {@link #keep} makes its RAM file, with the device state the
 * backup acknowledged, a replica of this node, and its QEMU is killed later, off the switchover's path (or at once
 * by {@link #killAll} when the binding stops or ends its guests).
 *
 * <p>It does not take the guest out of this node's guests ({@link QemuGuests} does, between the two steps), nor
 * unexport its disks; the replica itself is {@link QemuReplicas}'s, made through the {@link Keeper}.
 */
final class SwitchoverStop {

    private static final Logger LOG = LoggerFactory.getLogger(SwitchoverStop.class);
    /**
     * How long a switchover's old copy stays stopped (SIGSTOP) before its QEMU is killed: past the new primary's
     * activation and first checkpoints (tens of milliseconds here), which its teardown would slow down.
     */
    private static final long FROZEN_MS = 1000;

    private final GuestLauncher launcher;
    /** Old copies whose QEMU is stopped with SIGSTOP, until it is killed. */
    private final Set<QemuGuest> frozenCopies = ConcurrentHashMap.newKeySet();
    private volatile Keeper keeper;

    /** Makes the replica of a guest stopped for a switchover: {@link QemuReplicas#kept}, set by the binding. */
    interface Keeper {
        Replica keep(ReplicaSpec spec, Path dir, byte[] deviceState, long epoch) throws HypervisorException;
    }

    /** A guest {@link #stop stopped} for good, and the replica directory its RAM file goes to. */
    record Stopped(QemuGuest guest, Path replicaDir, String how, long startNanos, long stoppedNanos) {
    }

    SwitchoverStop(GuestLauncher launcher) {
        this.launcher = launcher;
    }

    void keeper(Keeper k) {
        keeper = k;
    }

    /**
     * Makes a new replica directory for the RAM file of {@code g} (which is left running if that fails) and stops
     * {@code g} for good. Returns once the guest can never run or send again; what its QEMU's end costs the kernel
     * comes later.
     */
    Stopped stop(QemuGuest g) throws HypervisorException {
        Path dir = RunDirectory.newReplicaDir(launcher.settings().runDir(), g.id().name());
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new HypervisorException("cannot create " + dir + " for the replica of " + g.id() + ": "
                    + e.getMessage(), e);
        }
        long start = System.nanoTime();
        String how = stopForGood(g);
        return new Stopped(g, dir, how, start, System.nanoTime());
    }

    /**
     * Moves the RAM file of the {@code stopped} guest into its replica directory, where it becomes, with
     * {@code deviceState}, a replica of {@code spec} committed at {@code epoch}, and removes the rest of the guest's
     * directory but its disk images. The replica maps the RAM file itself, which outlives QEMU's mapping.
     */
    Replica keep(Stopped stopped, ReplicaSpec spec, byte[] deviceState, long epoch) throws HypervisorException {
        QemuGuest g = stopped.guest();
        Path dir = stopped.replicaDir();
        try {
            Files.move(g.process().dir().resolve("ram"), dir.resolve("ram"));
        } catch (IOException e) {
            RunDirectory.deleteTree(dir);
            RunDirectory.deleteTree(g.process().dir());
            throw new HypervisorException("stopped " + g.id() + ", but its RAM file could not become a replica: "
                    + e.getMessage(), e);
        }
        // the disk images in the guest's directory (the demo guest's) stay: the disk replicator keeps them as the
        // replica's disks, which the new primary resumes without a copy
        List<Path> images = g.vm().disks().stream().map(d -> Path.of(d.file()))
                .filter(f -> f.startsWith(g.process().dir())).toList();
        RunDirectory.deleteTreeExcept(g.process().dir(), images);
        Replica kept = keeper.keep(spec, dir, deviceState, epoch);
        LOG.info("Stopped {} at checkpoint {} for a switchover; its RAM file is kept as a replica in {}{} (us: {} {}, "
                + "replica kept {})", g.id(), epoch, dir,
                images.isEmpty() ? "" : ", its disk images " + images + " where they are", stopped.how(),
                micros(stopped.stoppedNanos() - stopped.startNanos()),
                micros(System.nanoTime() - stopped.stoppedNanos()));
        return kept;
    }

    /**
     * I5 for a switchover's old copy, whose guest is paused: its QEMU is stopped with SIGSTOP (none of its threads
     * runs again) and its taps are cut off from their bridges ({@link MacAnnouncement#leave}: disabled ports where the
     * bridge has a MAC address of its own, else down and out of it; nothing reaches or leaves them). Its QEMU is
     * killed {@link #FROZEN_MS} later, and reaped in the background: the kernel's teardown of the process (30-100 ms
     * here, the tap's unregistration with its RCU grace periods half of it) would otherwise compete, on a host of few
     * cores, with the new primary's activation and first checkpoints. Where QEMU cannot be stopped it is killed at
     * once; where the taps cannot be taken out, this waits for QEMU's exit, which removes them. Says what was done, for
     * the log.
     */
    private String stopForGood(QemuGuest g) {
        boolean frozen;
        try {
            g.process().freeze();
            frozen = true;
        } catch (HypervisorException e) {
            LOG.warn("{}; killing it at once instead", e.getMessage());
            frozen = false;
        }
        long start = System.nanoTime();
        CompletableFuture<ProcessHandle> exited = frozen ? null : g.process().kill();
        List<String> taps = g.process().taps();
        List<MacAnnouncement.Leaving> leaving = new ArrayList<>();
        for (int i = 0; i < taps.size(); i++) {
            String bridge = QemuProcess.bridgeOf(g.vm().nics().get(i), launcher.settings());
            leaving.add(new MacAnnouncement.Leaving(taps.get(i), !bridge.isEmpty() && launcher.bridgeFixed(bridge)));
        }
        String left;
        try {
            left = taps.isEmpty() ? "no tap" : "taps " + MacAnnouncement.leave(launcher.settings().netns(), leaving)
                    + " cut off from their bridges";
        } catch (IOException e) {
            LOG.warn("Cannot take the taps {} of the stopped {} out of their bridges ({}); waiting for its QEMU to be "
                    + "gone, which removes them", taps, g.id(), e.getMessage());
            if (exited == null) {
                exited = g.process().kill();
                frozen = false;
            }
            try {
                exited.get(10, TimeUnit.SECONDS); // the reaper below closes its QMP connection
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException | TimeoutException te) {
                LOG.warn("The QEMU of {} (pid {}) did not exit within 10 s of SIGKILL", g.id(), g.process().pid());
            }
            left = "gone with its taps";
        }
        if (frozen) {
            frozenCopies.add(g);
            CompletableFuture.delayedExecutor(FROZEN_MS, TimeUnit.MILLISECONDS).execute(() -> kill(g));
            return "QEMU stopped (SIGSTOP, killed " + FROZEN_MS + " ms later), " + left;
        }
        reap(g, exited, start);
        return "QEMU killed, " + left;
    }

    /** Kills the QEMU of {@code g}, an old copy stopped with SIGSTOP, unless that was done already. */
    private void kill(QemuGuest g) {
        if (frozenCopies.remove(g)) {
            long killed = System.nanoTime();
            reap(g, g.process().kill(), killed);
        }
    }

    /**
     * Kills the old copies a node that died left stopped: a QEMU stopped with SIGSTOP, waiting for the kill
     * {@link #FROZEN_MS} later, stays stopped for good when this node's JVM dies in that second (nothing else ever
     * sends it a signal), holding its memory and its taps. Such a QEMU is recognised by what {@link #stop} and
     * {@link #keep} left: it is stopped (state {@code T}), and its {@code -pidfile} lies in {@code run} but is gone
     * with the rest of its directory. A guest that runs, or one stopped otherwise (a debugger), keeps its pid file
     * and is left alone. Called when the binding starts on {@code run}; says how many were killed.
     */
    static int killLeftBehind(Path run) {
        Path runDir = run.toAbsolutePath().normalize();
        int killed = 0;
        for (ProcessHandle p : ProcessHandle.allProcesses().toList()) {
            Optional<Path> pidFile = pidFileOf(p).filter(f -> f.startsWith(runDir));
            if (pidFile.isEmpty() || Files.exists(pidFile.get()) || !stopped(p.pid())) {
                continue;
            }
            LOG.warn("Killing the QEMU of an old copy stopped for a switchover and left stopped when its node died "
                    + "(pid {}, {} gone)", p.pid(), pidFile.get());
            if (p.destroyForcibly()) {
                killed++;
            }
        }
        return killed;
    }

    /** The path after {@code -pidfile} in the command line of {@code p}, where it can be read. */
    private static Optional<Path> pidFileOf(ProcessHandle p) {
        String[] args = p.info().arguments().orElse(new String[0]);
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals("-pidfile")) {
                return Optional.of(Path.of(args[i + 1]).toAbsolutePath().normalize());
            }
        }
        return Optional.empty();
    }

    /** Whether process {@code pid} is stopped by a signal (state {@code T} in {@code /proc/PID/stat}). */
    private static boolean stopped(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            int end = stat.lastIndexOf(')');
            return end > 0 && end + 2 < stat.length() && stat.charAt(end + 2) == 'T';
        } catch (IOException e) {
            return false; // gone meanwhile
        }
    }

    /** Kills every old copy still stopped (the binding stops or ends its guests). */
    void killAll() {
        new ArrayList<>(frozenCopies).forEach(this::kill);
    }

    /**
     * Logs when the QEMU of {@code g}, killed at {@code killedNanos}, is gone ({@code exited}; the JDK's process reaper
     * collects it), or that it is not within 10 s, and closes its QMP connection. The callback handles every outcome
     * itself: its future is of no use.
     */
    @SuppressWarnings("FutureReturnValueIgnored")
    private static void reap(QemuGuest g, CompletableFuture<ProcessHandle> exited, long killedNanos) {
        exited.orTimeout(10, TimeUnit.SECONDS).whenComplete((p, e) -> {
            g.process().disconnect();
            if (e != null) {
                LOG.warn("The QEMU of {} (pid {}), stopped for a switchover, did not exit within 10 s of SIGKILL: {}",
                        g.id(), g.process().pid(), e.toString());
            } else {
                LOG.info("The QEMU of {} (pid {}), stopped for a switchover, exited {} ms after SIGKILL", g.id(),
                        g.process().pid(), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedNanos));
            }
        });
    }

    private static long micros(long nanos) {
        return TimeUnit.NANOSECONDS.toMicros(nanos);
    }
}
