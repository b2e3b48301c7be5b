package io.romulus.shell.command;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.EngineCpu;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.management.HypervisorMBean;

import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;
/** {@code romulus:status}. */
@Service
@Command(scope = "romulus", name = "status", description = "Shows every domain this node is primary or backup for.")
public class StatusCommand extends RomulusCommand {

    @Option(name = "--alarms", description = "Also list the most recent alarms (unprotected, fenced, failover...)")
    boolean alarms;

    @Option(name = "--json", description = "Print one JSON object for scripts: domains, bindings (and alarms)")
    boolean json;

    /** The hypervisor bindings' MBeans: whether each can run here, and how (the QEMU binding's dirty tracker). */
    @Reference(optional = true)
    List<HypervisorMBean> hypervisors;

    @Override
    void run() {
        if (json) {
            printJson();
            return;
        }
        printDomains();
        printBindings();
    }

    /**
     * {@code {"domains":[{"domain":..,"role":..,"state":..,"epoch":..,"intervalMs":..,"currentIntervalMs":..,
     * "intervalReason":..,"lastPauseMicros":..,"dirtyPages":..,"lagEpochs":..,"peer":..,"detail":..,
     * "engineCpuMicrosPerCheckpoint":..,"engineCpuMicrosPerSecond":..}],"bindings":[{"binding":..,"availability":..}]}}
     * (the engine's CPU time -1 while not known), and
     * {@code "alarms":[{"timeMillis":..,"kind":..,"domain":..,"message":..}]} with {@code --alarms}: the fields and
     * units of the Engine MBean's {@code Status}.
     */
    private void printJson() {
        Map<String, Object> out = new LinkedHashMap<>();
        List<Map<String, Object>> domains = new ArrayList<>();
        for (ProtectionStatus s : engine.status()) {
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("domain", s.domain());
            d.put("role", s.role().name());
            d.put("state", s.state().name());
            d.put("epoch", s.epoch());
            d.put("intervalMs", s.intervalMs());
            d.put("currentIntervalMs", s.currentIntervalMs());
            d.put("intervalReason", s.intervalReason());
            d.put("lastPauseMicros", s.lastPauseNanos() / 1000);
            d.put("dirtyPages", s.dirtyPages());
            d.put("lagEpochs", s.lagEpochs());
            d.put("peer", s.peer());
            d.put("detail", s.detail());
            EngineCpu cpu = s.engineCpu();
            d.put("engineCpuMicrosPerCheckpoint", cpu.known() ? cpu.perCheckpointNanos() / 1000 : -1);
            d.put("engineCpuMicrosPerSecond", cpu.known() ? cpu.perSecondNanos() / 1000 : -1);
            domains.add(d);
        }
        out.put("domains", domains);
        List<Map<String, Object>> bindings = new ArrayList<>();
        if (hypervisors != null) {
            hypervisors.stream().sorted(Comparator.comparing(HypervisorMBean::getBinding)).forEach(h -> {
                Map<String, Object> b = new LinkedHashMap<>();
                b.put("binding", h.getBinding());
                b.put("availability", h.getAvailability());
                bindings.add(b);
            });
        }
        out.put("bindings", bindings);
        if (alarms) {
            List<Map<String, Object>> list = new ArrayList<>();
            for (Alarm a : engine.alarms(20)) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("timeMillis", a.timeMillis());
                m.put("kind", a.kind().name());
                m.put("domain", a.domain());
                m.put("message", a.message());
                list.add(m);
            }
            out.put("alarms", list);
        }
        System.out.println(Json.write(out));
    }

    private void printDomains() {
        if (alarms) {
            List<Alarm> recent = engine.alarms(20);
            if (recent.isEmpty()) {
                System.out.println("No alarm was raised on this node.");
            } else {
                ShellTable t = new ShellTable();
                t.column("Time");
                t.column("Alarm");
                t.column("Domain");
                t.column("Message");
                for (Alarm a : recent) {
                    t.addRow().addContent(Instant.ofEpochMilli(a.timeMillis()), a.kind(), a.domain(), a.message());
                }
                t.print(System.out);
            }
        }
        List<ProtectionStatus> rows = engine.status();
        if (rows.isEmpty()) {
            System.out.println("No domain is protected on this node.");
            return;
        }
        ShellTable table = new ShellTable();
        table.column("Domain");
        table.column("Role");
        table.column("State");
        table.column("Epoch").alignRight();
        table.column("Interval").alignRight();
        table.column("Last pause").alignRight();
        table.column("Dirty").alignRight();
        table.column("Lag").alignRight();
        table.column("Engine CPU").alignRight();
        table.column("Peer");
        table.column("Detail");
        for (ProtectionStatus s : rows) {
            boolean primary = s.role() == Role.PRIMARY;
            table.addRow().addContent(s.domain(), s.role(), s.state(), s.epoch(),
                    primary ? interval(s) : "-",
                    primary ? Format.micros(s.lastPauseNanos()) : "-",
                    s.dirtyPages(), primary ? Long.toString(s.lagEpochs()) : "-", cpu(s.engineCpu()), s.peer(),
                    s.detail());
        }
        table.print(System.out);
    }

    /** {@code 25 ms}, or {@code 38 ms (set 25)} while an adaptive interval runs the epochs at another. */
    static String interval(ProtectionStatus s) {
        return s.currentIntervalMs() == s.intervalMs() ? s.intervalMs() + " ms"
                : s.currentIntervalMs() + " ms (set " + s.intervalMs() + ")";
    }

    /**
     * The engine's own CPU time on this node, {@code 420 µs/ckpt, 16.8 ms/s}: the median per checkpoint and the total
     * per second over the last few seconds' checkpoints; {@code -} while not known.
     */
    static String cpu(EngineCpu c) {
        return c.known() ? Format.micros(c.perCheckpointNanos()) + "/ckpt, "
                + String.format(Locale.ROOT, "%.1f ms/s", c.perSecondNanos() / 1e6) : "-";
    }

    /** One line per binding, e.g. {@code Binding qemu: available; dirty pages tracked with uffd (why)}. */
    private void printBindings() {
        List<HypervisorMBean> bindings = hypervisors;
        if (bindings == null) {
            return;
        }
        bindings.stream().sorted(Comparator.comparing(HypervisorMBean::getBinding)).forEach(h ->
                System.out.printf("Binding %s: %s%n", h.getBinding(), h.getAvailability()));
    }
}
