package io.romulus.shell.command;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import io.romulus.api.engine.EngineCpu;
import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.PauseBreakdown;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;

import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

/** {@code romulus:epochs sim:demo -n 20}. */
@Service
@Command(scope = "romulus", name = "epochs", description = "Shows the statistics of a protected domain's recent "
        + "checkpoints, newest last, with where each pause went (µs): stop, harvest, copy, device state, disk barrier, "
        + "cont, thread hand-offs and the rest; the engine's own CPU time per checkpoint and per second; the guest's "
        + "write-protect faults. On a backup: the engine's own CPU time there.")
public class EpochsCommand extends RomulusCommand {

    @Argument(index = 0, name = "domain", description = "binding:name (-n and --json may also follow it)",
            required = true,
            multiValued = true)
    @Completion(DomainCompleter.class)
    List<String> words;

    @Option(name = "-n", description = "how many epochs (default 20)")
    int count = 20;

    @Option(name = "--json", description = "Print a JSON array for scripts, oldest first (the fields and units of "
            + "the Engine MBean's epochs operation)")
    boolean json;

    @Override
    void run() {
        String domain = words.get(0);
        List<String> rest = new ArrayList<>(words.subList(1, words.size()));
        json |= rest.remove("--json");
        if (rest.size() == 2 && rest.get(0).equals("-n")) {
            try {
                count = Integer.parseInt(rest.get(1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("-n '" + rest.get(1) + "' is not a whole number");
            }
        } else if (!rest.isEmpty()) {
            throw new IllegalArgumentException("unexpected " + String.join(" ", rest)
                    + ": romulus:epochs DOMAIN [-n N] [--json]");
        }
        if (count < 1) {
            throw new IllegalArgumentException("-n must be at least 1, not " + count);
        }
        // a replica here: the checkpoints' statistics are the primary's; what they cost this node is in the status
        ProtectionStatus backup = engine.status().stream()
                .filter(s -> s.role() == Role.BACKUP && s.domain().equals(domain(domain).toString()))
                .findFirst().orElse(null);
        if (!json && backup != null && engine.status().stream()
                .noneMatch(s -> s.role() == Role.PRIMARY && s.domain().equals(backup.domain()))) {
            System.out.println(domain + " is replicated here; the statistics of its checkpoints are on its primary"
                    + (backup.peer().isEmpty() ? "" : " " + backup.peer()) + ".");
            System.out.println(backupCpu(backup.engineCpu()));
            return;
        }
        List<EpochStats> epochs = engine.epochs(domain(domain), count);
        if (json) {
            System.out.println(Json.write(epochs.stream().map(EpochsCommand::fields).toList()));
            return;
        }
        if (epochs.isEmpty()) {
            System.out.println("No checkpoint of " + domain + " yet.");
            return;
        }
        ShellTable table = new ShellTable();
        for (String c : new String[] {"Epoch", "Run (ms)", "Dirty", "Pause (µs)", "Stop", "Harvest", "Copy", "Device",
            "Disk", "Cont", "Hand-off", "Other", "Raw KiB", "Wire KiB", "Ratio", "ACK (ms)", "CPU (µs)", "WP faults"}) {
            table.column(c).alignRight();
        }
        for (EpochStats e : epochs) {
            PauseBreakdown b = e.breakdown();
            table.addRow().addContent(e.epoch(), String.format("%.1f", e.runNanos() / 1e6), e.dirtyPages(),
                    e.pauseNanos() / 1000, b.stopNanos() / 1000, b.harvestNanos() / 1000, e.copyNanos() / 1000,
                    b.deviceStateNanos() / 1000, b.diskBarrierNanos() / 1000, b.contNanos() / 1000,
                    b.handOffNanos() / 1000, b.otherNanos(e.pauseNanos()) / 1000, e.rawBytes() / 1024,
                    e.wireBytes() / 1024,
                    e.wireBytes() == 0 ? "-" : String.format("%.1f", e.compressionRatio()),
                    e.ackNanos() < 0 ? "-" : String.format("%.1f", e.ackNanos() / 1e6),
                    e.cpuNanos() < 0 ? "-" : Long.toString(e.cpuNanos() / 1000),
                    e.writeFaults() < 0 ? "-" : Long.toString(e.writeFaults()));
        }
        table.print(System.out);
        String cpu = cpuSummary(epochs);
        if (!cpu.isEmpty()) {
            System.out.println(cpu);
        }
        if (backup != null) { // the node is its own backup too
            System.out.println(backupCpu(backup.engineCpu()));
        }
    }

    /**
     * {@code Backup engine CPU: 420 µs per checkpoint, 16.8 ms per second (1.7% of a core) over the last 199
     * checkpoints}: receiving, decoding, staging and applying them here, the median per checkpoint over the last 5 s.
     */
    static String backupCpu(EngineCpu c) {
        if (!c.known()) {
            return "Backup engine CPU: not known yet (no checkpoint committed in the last 5 s)";
        }
        double perSecondMs = c.perSecondNanos() / 1e6;
        return String.format(Locale.ROOT, "Backup engine CPU: %d µs per checkpoint, %.1f ms per second (%.1f%% of a "
                + "core) over the last %d checkpoints", c.perCheckpointNanos() / 1000, perSecondMs, perSecondMs / 10,
                c.checkpoints());
    }

    /**
     * {@code Engine CPU: 310 µs per checkpoint, 12.1 ms per second (1.2% of a core) over 20 checkpoints}: the engine's
     * own threads (epoch loop and sender), over the epochs whose CPU time is known; empty when none is.
     */
    static String cpuSummary(List<EpochStats> epochs) {
        long cpu = 0;
        long wall = 0;
        int n = 0;
        for (EpochStats e : epochs) {
            if (e.cpuNanos() >= 0) {
                cpu += e.cpuNanos();
                wall += e.runNanos() + e.pauseNanos();
                n++;
            }
        }
        if (n == 0 || wall <= 0) {
            return "";
        }
        double perSecondMs = cpu / 1e6 / (wall / 1e9);
        return String.format(java.util.Locale.ROOT, "Engine CPU: %d µs per checkpoint, %.1f ms per second (%.1f%% of a"
                + " core) over %d checkpoints", cpu / n / 1000, perSecondMs, perSecondMs / 10, n);
    }

    private static Map<String, Object> fields(EpochStats e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("epoch", e.epoch());
        m.put("startedMillis", e.startedMillis());
        m.put("runMicros", e.runNanos() / 1000);
        m.put("dirtyPages", e.dirtyPages());
        m.put("pauseMicros", e.pauseNanos() / 1000);
        m.put("copyMicros", e.copyNanos() / 1000);
        m.put("rawBytes", e.rawBytes());
        m.put("wireBytes", e.wireBytes());
        m.put("compressionRatio", e.compressionRatio());
        m.put("ackMicros", e.ackNanos() < 0 ? -1 : e.ackNanos() / 1000);
        PauseBreakdown b = e.breakdown();
        m.put("stopMicros", b.stopNanos() / 1000);
        m.put("harvestMicros", b.harvestNanos() / 1000);
        m.put("deviceStateMicros", b.deviceStateNanos() / 1000);
        m.put("diskBarrierMicros", b.diskBarrierNanos() / 1000);
        m.put("contMicros", b.contNanos() / 1000);
        m.put("handOffMicros", b.handOffNanos() / 1000);
        m.put("otherMicros", b.otherNanos(e.pauseNanos()) / 1000);
        m.put("cpuMicros", e.cpuNanos() < 0 ? -1 : e.cpuNanos() / 1000);
        m.put("writeFaults", e.writeFaults());
        return m;
    }
}
