package io.romulus.qemu.internal.definition;

import java.util.List;
import java.util.regex.Pattern;

/**
 * Translates a domain's {@code <vcpu>} and {@code <cpu>}: {@code cpus}, {@code cpu} ({@code host} for host-passthrough
 * and host-model, else the custom model's name) and {@code cpu.topology}. CPU features one by one, NUMA and vCPU
 * hotplug are refused.
 */
final class CpuTranslator {

    private static final Pattern CPU_MODEL = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]*");

    private final StrictElement domain;
    private final Translation t;

    CpuTranslator(StrictElement domain, Translation t) {
        this.domain = domain;
        this.t = t;
    }

    void translate() {
        int cpus = vcpus();
        StrictElement cpu = domain.child("cpu", t);
        if (cpu != null) {
            cpu(cpu, cpus);
        }
    }

    private int vcpus() {
        StrictElement vcpu = domain.child("vcpu", t);
        int cpus = 1;
        if (vcpu != null) {
            String text = vcpu.text();
            cpus = positive(text);
            if (cpus == 0) {
                t.problem(vcpu.path() + " must be a whole number of vCPUs above 0, not '" + text + "'");
                cpus = 1;
            }
            String placement = vcpu.attribute("placement");
            if (!placement.isEmpty() && !placement.equals("static")) {
                t.refuse(vcpu.attributePath("placement"), "vCPUs are not pinned; leave placement out or 'static'");
            }
            String current = vcpu.attribute("current");
            if (!current.isEmpty() && positive(current) != cpus) {
                t.refuse(vcpu.attributePath("current"), "vCPU hotplug is not supported: current must equal the"
                        + " vCPU count or be left out");
            }
        }
        t.put("cpus", String.valueOf(cpus));
        return cpus;
    }

    private void cpu(StrictElement cpu, int cpus) {
        String mode = cpu.attribute("mode");
        StrictElement model = cpu.child("model", t);
        switch (mode) {
            case "host-passthrough", "host-model" -> {
                t.put("cpu", "host");
                if (mode.equals("host-model")) {
                    t.note("domain/cpu/@mode='host-model' runs as the host's own CPU (-cpu host), as host-passthrough");
                }
                if (model != null && !model.text().isEmpty()) {
                    t.refuse(model.path(), "a CPU model goes with mode='custom'");
                }
            }
            case "", "custom" -> {
                if (model != null) {
                    String name = model.text();
                    if (CPU_MODEL.matcher(name).matches()) {
                        t.put("cpu", name);
                    } else {
                        t.problem(model.path() + " must name a QEMU CPU model (letters, digits, '_', '.', '-'), not '"
                                + name + "'");
                    }
                }
                String match = cpu.attribute("match");
                if (!match.isEmpty() && !match.equals("exact")) {
                    t.refuse(cpu.attributePath("match"), "the model is given to QEMU as it is; leave match out or"
                            + " 'exact'");
                }
            }
            default -> t.refuse(cpu.attributePath("mode"), "the CPU is host-passthrough, host-model or custom");
        }
        if (model != null) {
            String fallback = model.attribute("fallback");
            if (!fallback.isEmpty() && !fallback.equals("allow") && !fallback.equals("forbid")) {
                t.refuse(model.attributePath("fallback"), "");
            } else if (!fallback.isEmpty()) {
                t.note("domain/cpu/model/@fallback is not used: QEMU runs the model as given or fails to start");
            }
        }
        if (cpu.has("check")) {
            cpu.attribute("check");
            t.note("domain/cpu/@check is not used: libvirt's check of the CPU against the host does not apply");
        }
        String migratable = cpu.attribute("migratable");
        if (!migratable.isEmpty() && !migratable.equals("on")) {
            t.refuse(cpu.attributePath("migratable"), "checkpoints are migrations: the CPU must stay migratable");
        }
        StrictElement topology = cpu.child("topology", t);
        if (topology != null) {
            topology(topology, cpus);
        }
        for (StrictElement feature : cpu.children("feature")) {
            feature.identify(feature.attribute("name"));
            feature.markWhole();
            t.refuse(feature.path(), "CPU features cannot be given one by one; use mode='host-passthrough' or a"
                    + " model that has them");
        }
    }

    private void topology(StrictElement topology, int cpus) {
        int sockets = positive(topology.attribute("sockets"));
        int cores = positive(topology.attribute("cores"));
        int threads = positive(topology.attribute("threads"));
        for (String extra : List.of("dies", "clusters")) {
            String value = topology.attribute(extra);
            if (!value.isEmpty() && !value.equals("1")) {
                t.refuse(topology.attributePath(extra), "only sockets, cores and threads are given");
            }
        }
        if (sockets == 0 || cores == 0 || threads == 0) {
            t.problem(topology.path() + " needs sockets, cores and threads, each a whole number above 0");
        } else if ((long) sockets * cores * threads != cpus) {
            t.problem(topology.path() + " has " + sockets + " sockets x " + cores + " cores x " + threads
                    + " threads, which is not the " + cpus + " vCPUs of domain/vcpu");
        } else {
            t.put("cpu.topology", sockets + "," + cores + "," + threads);
        }
    }

    private static int positive(String text) {
        if (!text.matches("[0-9]{1,4}")) {
            return 0;
        }
        return Integer.parseInt(text);
    }
}
