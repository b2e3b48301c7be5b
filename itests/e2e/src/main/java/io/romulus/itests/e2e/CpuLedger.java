package io.romulus.itests.e2e;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Where a machine's CPU went over a phase of a benchmark: the whole machine from {@code /proc/stat}, the processes
 * named from {@code /proc/PID/stat} and their threads, grouped by name, from {@code /proc/PID/task/TID/stat}. A
 * {@link Snapshot} at the start and one at the end of a phase; {@link #between} gives milliseconds of CPU per second
 * of the phase, per group, with the minor page faults (a write-protect fault is one) of each group.
 *
 * <p>The kernel counts in clock ticks (USER_HZ, 100 a second): over a phase of tens of seconds the figures are good to
 * a few milliseconds a second. A thread that ended within the phase is not in the groups; its process's total still
 * counts it, in the group "(ended threads)".
 */
final class CpuLedger {

    /** USER_HZ: the unit of the kernel's CPU counters in /proc. Linux on x86 always reports 100. */
    private static final double TICKS_PER_SECOND = 100;
    private static final String EVERYTHING_ELSE = "everything else (clients, softirqs, other processes)";

    private CpuLedger() {
    }

    /**
     * CPU ticks (user, system), minor faults and the time spent runnable but waiting for a CPU (the scheduler's run
     * queue, {@code /proc/.../schedstat}; threads only, 0 for a process's total) of one thread, process or group.
     */
    record Usage(long userTicks, long systemTicks, long minorFaults, long runQueueNanos) {
        static final Usage NONE = new Usage(0, 0, 0, 0);

        Usage(long userTicks, long systemTicks, long minorFaults) {
            this(userTicks, systemTicks, minorFaults, 0);
        }

        Usage plus(Usage o) {
            return new Usage(userTicks + o.userTicks, systemTicks + o.systemTicks, minorFaults + o.minorFaults,
                    runQueueNanos + o.runQueueNanos);
        }

        Usage minus(Usage o) {
            return new Usage(userTicks - o.userTicks, systemTicks - o.systemTicks, minorFaults - o.minorFaults,
                    runQueueNanos - o.runQueueNanos);
        }

        long ticks() {
            return userTicks + systemTicks;
        }
    }

    /**
     * The counters at one moment.
     *
     * @param busyTicks  the machine's non-idle ticks over all its CPUs
     * @param totalTicks the machine's ticks over all its CPUs, idle included
     * @param threads    per thread of the processes named ("PID/TID"), its group ("LABEL: NAME") and counters
     * @param processes  per process named, its total
     */
    record Snapshot(long nanos, long busyTicks, long totalTicks, Map<String, ThreadUsage> threads,
                    Map<String, Usage> processes, Map<String, Long> pids) {
    }

    /** One thread at one moment: its group, from its name then, and its counters. */
    record ThreadUsage(String group, Usage usage) {
    }

    /**
     * Takes a snapshot of the machine and of {@code processes} (a label for each pid), each process's threads grouped
     * by {@code grouping} (label of the process, thread name → group "LABEL: NAME"; {@code null} puts the thread in
     * "LABEL: other threads").
     */
    static Snapshot take(Map<String, Long> processes, Grouping grouping) throws IOException {
        long nanos = System.nanoTime();
        String[] cpu = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
        // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest time is in user already)
        long total = 0;
        long idle = 0;
        for (int i = 1; i <= 8 && i < cpu.length; i++) {
            long v = Long.parseLong(cpu[i]);
            total += v;
            if (i == 4 || i == 5) {
                idle += v;
            }
        }
        Map<String, ThreadUsage> threads = new LinkedHashMap<>();
        Map<String, Usage> totals = new LinkedHashMap<>();
        for (Map.Entry<String, Long> p : processes.entrySet()) {
            String label = p.getKey();
            Path proc = Path.of("/proc", Long.toString(p.getValue()));
            Usage whole = usage(proc.resolve("stat"));
            totals.put(label, whole);
            try (DirectoryStream<Path> tasks = Files.newDirectoryStream(proc.resolve("task"))) {
                for (Path task : tasks) {
                    String name = comm(task.resolve("stat"));
                    if (name == null) {
                        continue; // ended meanwhile
                    }
                    String group = grouping.of(label, name);
                    Usage u = usage(task.resolve("stat"));
                    threads.put(p.getValue() + "/" + task.getFileName(), new ThreadUsage(label + ": "
                            + (group == null ? "other threads" : group), new Usage(u.userTicks(), u.systemTicks(),
                            u.minorFaults(), runQueueNanos(task.resolve("schedstat")))));
                }
            } catch (NoSuchFileException e) {
                // the process ended: its total is all there is
            }
        }
        return new Snapshot(nanos, total - idle, total, threads, totals, Map.copyOf(processes));
    }

    /** Groups a thread of a process: label of the process and the thread's name to a group's name, or {@code null}. */
    @FunctionalInterface
    interface Grouping {
        String of(String process, String thread);
    }

    /** What {@link #between} found: milliseconds of CPU per second of the phase. */
    record Phase(double seconds, int cpus, double busyMsPerS, Map<String, Usage> groups) {

        double msPerS(Usage u) {
            return u.ticks() * 1000 / TICKS_PER_SECOND / seconds;
        }

        double systemMsPerS(Usage u) {
            return u.systemTicks() * 1000 / TICKS_PER_SECOND / seconds;
        }

        double faultsPerS(Usage u) {
            return u.minorFaults() / seconds;
        }

        Usage group(String name) {
            return groups.getOrDefault(name, Usage.NONE);
        }
    }

    /**
     * The CPU spent between two snapshots, per group: each thread alive at the end counts what it spent since the
     * start (all of it if it started meanwhile) in the group of its name at the end (a thread may rename itself:
     * MINA's pool threads are "NioProcessor-N" while they serve); "LABEL: (ended threads)" is what a process spent in
     * threads that ended meanwhile; "everything else" the machine's busy time outside the processes named.
     */
    static Phase between(Snapshot a, Snapshot b) {
        double seconds = (b.nanos() - a.nanos()) / 1e9;
        int cpus = Runtime.getRuntime().availableProcessors();
        Map<String, Usage> groups = new LinkedHashMap<>();
        long named = 0;
        for (Map.Entry<String, Usage> p : b.processes().entrySet()) {
            String label = p.getKey();
            if (!b.pids().get(label).equals(a.pids().get(label))) {
                continue; // not the same process at both ends (started or restarted within the phase): everything else
            }
            String pid = b.pids().get(label) + "/";
            for (Map.Entry<String, ThreadUsage> t : b.threads().entrySet()) {
                if (t.getKey().startsWith(pid)) {
                    ThreadUsage before = a.threads().get(t.getKey());
                    groups.merge(t.getValue().group(), t.getValue().usage().minus(before == null ? Usage.NONE
                            : before.usage()), Usage::plus);
                }
            }
            Usage spent = p.getValue().minus(a.processes().getOrDefault(label, Usage.NONE));
            named += spent.ticks();
            Usage inGroups = groups.entrySet().stream().filter(g -> g.getKey().startsWith(label + ": "))
                    .map(Map.Entry::getValue).reduce(Usage.NONE, Usage::plus);
            Usage ended = spent.minus(inGroups);
            if (ended.ticks() > 0) {
                groups.put(label + ": (ended threads)", new Usage(Math.max(0, ended.userTicks()),
                        Math.max(0, ended.systemTicks()), Math.max(0, ended.minorFaults())));
            }
        }
        long busy = b.busyTicks() - a.busyTicks();
        groups.put(EVERYTHING_ELSE,
                new Usage(Math.max(0, busy - named), 0, 0));
        return new Phase(seconds, cpus, busy * 1000 / TICKS_PER_SECOND / seconds, groups);
    }

    /** Utime, stime and minflt of a /proc stat file, or nothing if it is gone. */
    private static Usage usage(Path stat) throws IOException {
        String line = read(stat);
        if (line == null) {
            return Usage.NONE;
        }
        // after "pid (comm) ": state(3) ppid pgrp session tty tpgid flags minflt(10) cminflt majflt cmajflt utime(14) stime(15)
        String[] f = line.substring(line.lastIndexOf(')') + 2).split(" ");
        return new Usage(Long.parseLong(f[11]), Long.parseLong(f[12]), Long.parseLong(f[7]));
    }

    /** The second field of a schedstat file: nanoseconds spent runnable, waiting on a run queue; 0 if it is gone. */
    private static long runQueueNanos(Path schedstat) throws IOException {
        String line = read(schedstat);
        return line == null ? 0 : Long.parseLong(line.trim().split(" ")[1]);
    }

    private static String comm(Path stat) throws IOException {
        String line = read(stat);
        return line == null ? null : line.substring(line.indexOf('(') + 1, line.lastIndexOf(')'));
    }

    private static String read(Path stat) throws IOException {
        try {
            return Files.readString(stat);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    static final String JVM = "Romulus JVM (both nodes)";
    static final String PRIMARY_QEMU = "primary QEMU";
    static final String BACKUP_QEMU = "backup QEMU";
    /** The group of the primary QEMU's vCPU threads (QEMU names them with {@code -name ...,debug-threads=on}). */
    static final String VCPU = PRIMARY_QEMU + ": vCPU (its TCG thread)";
    /** Groups below this many ms of CPU a second in every phase are summed into one row. */
    private static final double SMALL_MS_PER_S = 8;
    private static final int LABEL_WIDTH = 58;

    /**
     * A snapshot of this JVM (both benchmark nodes run in it, threads grouped by name) and of the QEMU of each node
     * that runs one now: the one whose arguments name a path under {@code run/a} (the primary's, its vCPU threads a
     * group of their own) and under {@code run/b} (the backup's).
     */
    static Snapshot nodes(Path run) throws IOException {
        Map<String, Long> processes = new LinkedHashMap<>();
        processes.put(JVM, ProcessHandle.current().pid());
        qemuUnder(run.resolve("a")).ifPresent(pid -> processes.put(PRIMARY_QEMU, pid));
        qemuUnder(run.resolve("b")).ifPresent(pid -> processes.put(BACKUP_QEMU, pid));
        return take(processes, (process, thread) -> process.equals(PRIMARY_QEMU)
                ? thread.startsWith("CPU ") ? VCPU.substring(PRIMARY_QEMU.length() + 2) : null
                : process.equals(JVM) ? withoutNumber(thread) : null);
    }

    /** The QEMU process whose arguments name a path under {@code dir} (a node's run directory). */
    private static Optional<Long> qemuUnder(Path dir) {
        String mark = dir.toString() + "/";
        return ProcessHandle.allProcesses()
                .filter(p -> p.info().command().map(c -> c.contains("qemu-system")).orElse(false))
                .filter(p -> p.info().arguments().map(args -> String.join(" ", args).contains(mark)).orElse(false))
                .map(ProcessHandle::pid).findFirst();
    }

    /**
     * Prints where the machine's CPU went in each phase: the machine's busy time, then every group that took
     * {@link #SMALL_MS_PER_S} or more in some phase (the primary's QEMU first, its vCPU threads with their kernel time
     * and minor faults), the smaller ones summed.
     */
    static void table(List<String> labels, List<Phase> phases) {
        Phase first = phases.get(0);
        System.out.printf("%nWhere the machine's %d cores went, ms of CPU per second of each phase (%d = all busy)%n",
                first.cpus(), first.cpus() * 1000);
        StringBuilder head = new StringBuilder(String.format(Locale.ROOT, "  %-" + LABEL_WIDTH + "s", ""));
        labels.forEach(l -> head.append(String.format(Locale.ROOT, " %17s", l)));
        System.out.println(head);
        row("machine, busy", phases.stream().map(Phase::busyMsPerS).toList(), "%.0f");
        Set<String> groups = new LinkedHashSet<>();
        phases.forEach(p -> groups.addAll(p.groups().keySet()));
        List<String> shown = new ArrayList<>();
        List<String> small = new ArrayList<>();
        for (String g : groups) {
            (phases.stream().anyMatch(p -> p.msPerS(p.group(g)) >= SMALL_MS_PER_S) ? shown : small).add(g);
        }
        shown.sort(Comparator.comparing((String g) -> !g.startsWith(PRIMARY_QEMU))
                .thenComparing(g -> g.startsWith(EVERYTHING_ELSE)));
        for (String g : shown) {
            row(g, phases.stream().map(p -> p.msPerS(p.group(g))).toList(), "%.0f");
            if (g.equals(VCPU)) {
                row("  of which in the kernel", phases.stream().map(p -> p.systemMsPerS(p.group(g))).toList(), "%.0f");
                row("  minor page faults a second (a write-protect fault is one)",
                        phases.stream().map(p -> p.faultsPerS(p.group(g))).toList(), "%.0f");
                row("  waiting for a CPU (runnable, on a run queue), ms/s",
                        phases.stream().map(p -> p.group(g).runQueueNanos() / 1e6 / p.seconds()).toList(), "%.0f");
            }
        }
        row(small.size() + " smaller groups (each under " + (int) SMALL_MS_PER_S + " ms/s)",
                phases.stream().map(p -> small.stream().mapToDouble(g -> p.msPerS(p.group(g))).sum()).toList(),
                "%.0f");
    }

    /** One row of the table: a label, then one figure per phase ({@code NaN} prints as "-"). */
    static void row(String label, List<Double> values, String format) {
        StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "  %-" + LABEL_WIDTH + "s",
                label.length() > LABEL_WIDTH ? label.substring(0, LABEL_WIDTH) : label));
        values.forEach(v -> row.append(String.format(Locale.ROOT, " %17s", v.isNaN() || v.isInfinite() ? "-"
                : String.format(Locale.ROOT, format, v))));
        System.out.println(row);
    }

    /**
     * Prints what a write-protect fault cost the guest's vCPU thread, measured: the extra minor faults and kernel time
     * of the protected phase over the unprotected one.
     */
    static void faultCost(Phase unprotected, Phase protectedPhase, String what) {
        double faults = protectedPhase.faultsPerS(protectedPhase.group(VCPU))
                - unprotected.faultsPerS(unprotected.group(VCPU));
        double kernel = protectedPhase.systemMsPerS(protectedPhase.group(VCPU))
                - unprotected.systemMsPerS(unprotected.group(VCPU));
        System.out.printf(Locale.ROOT, "  Write-protect faults, measured: %s the vCPU thread took %.0f more minor faults a"
                + " second than unprotected and spent %.1f ms a second more in the kernel: at most %.2f us a fault (the"
                + " kernel time also holds the pauses' stop and resume), %.1f%% of a core.%n", what, faults, kernel,
                faults > 0 ? kernel * 1000 / faults : Double.NaN, kernel / 10);
        try {
            System.out.println(FaultProbe.describe(FaultProbe.microsPerFault(), faults));
        } catch (IOException e) {
            System.out.println("  The page-fault probe failed: " + e.getMessage());
        }
    }

    static void legend() {
        System.out.println("  From /proc (clock ticks of 10 ms): the machine, the processes named and their threads by"
                + " name; \"" + EVERYTHING_ELSE + "\" is the machine's busy time outside them. Both nodes share this"
                + " machine: on two hosts the backup's share would not compete with the guest.");
    }

    /** A thread's name without its number: "NioProcessor-12" and "NioProcessor-3" are one group. */
    static String withoutNumber(String thread) {
        return thread.replaceAll("[-#_ ]*[0-9]+$", "");
    }
}
