package io.romulus.qemu.internal.definition;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Translates a libvirt {@code <domain>} into the qemu binding's options: the machine (memory, vCPUs, CPU model, boot,
 * features, clock, lifecycle actions, power management) itself, and its {@code <devices>} through
 * {@link DeviceTranslator}. Options are set in one fixed order, whatever the order of the XML.
 */
final class DomainTranslator {

    private static final BigInteger MIB = BigInteger.valueOf(1L << 20);
    private static final Pattern CPU_MODEL = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]*");
    private static final Pattern MACHINE_PC = Pattern.compile("pc|pc-i440fx-[0-9][0-9a-z.-]*");
    private static final Pattern MACHINE_Q35 = Pattern.compile("q35|pc-q35-[0-9][0-9a-z.-]*");
    private static final Pattern WHOLE = Pattern.compile("[0-9]{1,18}");
    private static final String BIOS_ONLY = "only BIOS (SeaBIOS) boot and direct kernel boot are supported";

    private final StrictElement domain;
    private final Translation t;

    DomainTranslator(StrictElement domain, Translation t) {
        this.domain = domain;
        this.t = t;
    }

    /** Translates everything and returns the domain's name ("" when it has none, which is refused). */
    String translate() {
        String type = domain.attribute("type");
        if (!type.equals("kvm") && !type.equals("qemu")) {
            t.refuse(domain.attributePath("type"), "the domain type is kvm or qemu");
        }
        if (domain.has("id")) {
            domain.attribute("id");
            t.note("domain/@id is not used: it is libvirt's number for a running domain");
        }
        String name = name();
        descriptive();
        memory();
        int cpus = vcpus();
        StrictElement cpu = domain.child("cpu", t);
        if (cpu != null) {
            cpu(cpu, cpus);
        }
        Boot boot = os();
        new DeviceTranslator(domain.child("devices", t), t).translate(boot.kernel());
        clock();
        for (String event : List.of("poweroff", "reboot", "crash")) {
            lifecycle(event);
        }
        pm();
        features();
        domain.finish(t);
        return name;
    }

    private String name() {
        StrictElement name = domain.child("name", t);
        String text = name == null ? "" : name.text();
        if (text.isEmpty()) {
            t.problem("domain/name is missing: the VM needs a name");
        }
        return text;
    }

    private void descriptive() {
        StrictElement uuid = domain.child("uuid", t);
        if (uuid != null) {
            uuid.markWhole();
            t.note("domain/uuid is not used: Romulus knows the VM by its name, and the VM's SMBIOS UUID is not"
                    + " libvirt's");
        }
        for (String tag : List.of("title", "description", "metadata")) {
            StrictElement e = domain.child(tag, t);
            if (e != null) {
                e.markWhole();
                t.note("domain/" + tag + " is not used: it describes the VM to people and other tools");
            }
        }
        for (StrictElement seclabel : domain.children("seclabel")) {
            seclabel.markWhole();
            t.note("domain/seclabel is not used: libvirt's security labels do not apply, Romulus starts QEMU itself");
        }
        StrictElement resource = domain.child("resource", t);
        if (resource != null) {
            resource.markWhole();
            t.note("domain/resource is not used: libvirt's cgroup partition does not apply, Romulus starts QEMU itself");
        }
    }

    private void memory() {
        StrictElement memory = domain.child("memory", t);
        BigInteger bytes = null;
        if (memory == null) {
            t.problem("domain/memory is missing: the VM needs a memory size");
        } else {
            bytes = bytes(memory);
            if (bytes != null && (bytes.signum() == 0 || bytes.mod(MIB).signum() != 0)) {
                t.problem(memory.path() + " must be a whole number of MiB above 0, not " + bytes + " bytes");
                bytes = null;
            }
        }
        if (bytes != null) {
            t.put("memory", bytes.divide(MIB) + "M");
        }
        StrictElement current = domain.child("currentMemory", t);
        if (current != null) {
            BigInteger currentBytes = bytes(current);
            if (currentBytes != null && bytes != null && !currentBytes.equals(bytes)) {
                t.refuse(current.path(), "ballooning is not supported: currentMemory (" + size(currentBytes)
                        + ") must equal memory (" + size(bytes) + ") or be left out");
            }
        }
        StrictElement backing = domain.child("memoryBacking", t);
        if (backing != null) {
            backing.markWhole();
            t.refuse(backing.path(), "Romulus keeps the VM's RAM in a shared file of its own for checkpointing");
        }
    }

    private static String size(BigInteger bytes) {
        return bytes.mod(MIB).signum() == 0 ? bytes.divide(MIB) + " MiB" : bytes + " bytes";
    }

    /** The size in bytes of a {@code <memory unit='...'>N</memory>}, or null after a problem. */
    static BigInteger bytes(StrictElement e, Translation t) {
        String text = e.text();
        String unit = e.attribute("unit");
        if (!WHOLE.matcher(text).matches()) {
            t.problem(e.path() + " must be a whole number, not '" + text + "'");
            return null;
        }
        BigInteger scale = unitScale(unit);
        if (scale == null) {
            t.problem(e.attributePath("unit") + " is not a unit libvirt knows: use b, KiB, MiB, GiB, TiB, KB, MB, GB"
                    + " or TB");
            return null;
        }
        return new BigInteger(text).multiply(scale);
    }

    private BigInteger bytes(StrictElement e) {
        return bytes(e, t);
    }

    /**
     * libvirt's units, as its {@code virScaleInteger} reads them: case does not matter, no unit is KiB, a bare letter
     * or the letter with {@code iB} is a power of 1024, the letter with {@code B} a power of 1000.
     */
    static BigInteger unitScale(String unit) {
        String u = unit.toLowerCase(Locale.ROOT);
        if (u.isEmpty()) {
            return BigInteger.valueOf(1024);
        }
        if (u.equals("b") || u.equals("byte") || u.equals("bytes")) {
            return BigInteger.ONE;
        }
        int power = "kmgt".indexOf(u.charAt(0)) + 1;
        if (power == 0) {
            return null;
        }
        String rest = u.substring(1);
        if (rest.isEmpty() || rest.equals("ib")) {
            return BigInteger.valueOf(1024).pow(power);
        }
        return rest.equals("b") ? BigInteger.valueOf(1000).pow(power) : null;
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

    /** The boot: {@code machine}, and {@code kernel}, {@code initrd}, {@code cmdline} for a direct kernel boot. */
    private Boot os() {
        StrictElement os = domain.child("os", t);
        if (os == null) {
            t.problem("domain/os is missing: the VM needs <os><type arch='x86_64' machine='pc'>hvm</type></os>");
            return new Boot(false);
        }
        if (os.has("firmware")) {
            t.refuse(os.attributePath("firmware"), BIOS_ONLY);
            os.attribute("firmware");
        }
        machine(os);
        StrictElement kernel = os.child("kernel", t);
        boolean direct = kernel != null;
        if (direct) {
            String path = kernel.text();
            if (path.startsWith("/")) {
                t.put("kernel", path);
            } else {
                t.problem(kernel.path() + " must be an absolute path on the host, not '" + path + "'");
            }
        }
        for (String part : List.of("initrd", "cmdline")) {
            StrictElement e = os.child(part, t);
            if (e == null) {
                continue;
            }
            String text = e.text();
            if (!direct) {
                t.problem(e.path() + " goes with a domain/os/kernel, which this VM does not have");
            } else if (part.equals("initrd") && !text.startsWith("/")) {
                t.problem(e.path() + " must be an absolute path on the host, not '" + text + "'");
            } else if (!text.isEmpty()) {
                t.put(part, text);
            }
        }
        for (String firmware : List.of("loader", "nvram")) {
            StrictElement e = os.child(firmware, t);
            if (e != null) {
                e.markWhole();
                t.refuse(e.path(), BIOS_ONLY);
            }
        }
        for (StrictElement boot : os.children("boot")) {
            String dev = boot.attribute("dev");
            boot.identify(dev);
            if (!dev.equals("hd")) {
                t.refuse(boot.path(), "the VM boots its first disk (dev='hd') or a kernel, not from " + dev);
            } else if (direct) {
                t.note("domain/os/boot is not used: the VM boots its kernel directly");
            }
        }
        StrictElement menu = os.child("bootmenu", t);
        if (menu != null && !menu.attribute("enable").equals("no")) {
            t.refuse(menu.attributePath("enable"), "the VM boots without a boot menu");
        }
        for (String refused : List.of("bios", "smbios")) {
            StrictElement e = os.child(refused, t);
            if (e != null) {
                e.markWhole();
                t.refuse(e.path(), "SeaBIOS runs with its defaults");
            }
        }
        return new Boot(direct);
    }

    private void machine(StrictElement os) {
        StrictElement type = os.child("type", t);
        if (type == null) {
            t.problem("domain/os/type is missing: the VM needs <type arch='x86_64' machine='pc'>hvm</type>");
            return;
        }
        String kind = type.text();
        if (!kind.equals("hvm")) {
            t.problem(type.path() + " '" + kind + "'" + Translation.UNSUPPORTED + ": the VM must be a full (hvm)"
                    + " virtual machine");
        }
        String arch = type.attribute("arch");
        if (!arch.isEmpty() && !arch.equals("x86_64")) {
            t.refuse(type.attributePath("arch"), "the VM must be an x86_64 one");
        }
        String machine = type.attribute("machine");
        String canonical;
        if (machine.isEmpty() || MACHINE_PC.matcher(machine).matches()) {
            canonical = "pc";
        } else if (MACHINE_Q35.matcher(machine).matches()) {
            canonical = "q35";
        } else {
            t.refuse(type.attributePath("machine"), "the machine is pc (i440FX) or q35");
            return;
        }
        t.put("machine", canonical);
        if (machine.isEmpty()) {
            t.note("domain/os/type names no machine: it runs as pc, libvirt's default");
        } else if (!machine.equals(canonical)) {
            t.note("domain/os/type/@machine='" + machine + "' runs as " + canonical
                    + ", the node's QEMU's current version of that machine");
        }
    }

    private void clock() {
        StrictElement clock = domain.child("clock", t);
        if (clock == null) {
            return;
        }
        String offset = clock.attribute("offset");
        if (offset.equals("utc") || offset.equals("localtime")) {
            t.put("clock.offset", offset);
        } else if (!offset.isEmpty()) {
            t.refuse(clock.attributePath("offset"), "the clock is utc or localtime");
        }
        Map<String, String> timers = new TreeMap<>();
        for (StrictElement timer : clock.children("timer")) {
            String name = timer.attribute("name");
            timer.identify(name);
            switch (name) {
                case "rtc" -> timer(timer, "tickpolicy", "catchup", "clock.rtc.driftfix", "slew", timers);
                case "hpet" -> timer(timer, "present", "no", "clock.hpet", "off", timers);
                case "pit" -> timer(timer, "tickpolicy", "delay", "clock.pit", "delay", timers);
                default -> {
                    timer.markWhole();
                    t.refuse(timer.path(), "");
                }
            }
        }
        for (String key : List.of("clock.rtc.driftfix", "clock.hpet", "clock.pit")) {
            if (timers.containsKey(key)) {
                t.put(key, timers.get(key));
            }
        }
    }

    private void timer(StrictElement timer, String attribute, String accepted, String key, String value,
                       Map<String, String> timers) {
        String given = timer.attribute(attribute);
        if (given.equals(accepted)) {
            if (timers.putIfAbsent(key, value) != null) {
                t.refuse(timer.path(), "this timer is given twice");
            }
        } else if (!given.isEmpty()) {
            t.refuse(timer.attributePath(attribute), "the " + timer.attribute("name") + " timer takes only "
                    + attribute + "='" + accepted + "'");
        }
    }

    private void lifecycle(String event) {
        StrictElement on = domain.child("on_" + event, t);
        if (on == null) {
            return;
        }
        String action = on.text();
        if (action.equals("destroy") || action.equals("restart")) {
            t.put("on." + event, action);
        } else {
            t.problem(on.path() + " '" + action + "'" + Translation.UNSUPPORTED + ": the action is destroy or"
                    + " restart");
        }
    }

    private void pm() {
        StrictElement pm = domain.child("pm", t);
        if (pm == null) {
            return;
        }
        for (String[] state : new String[][] {{"suspend-to-mem", "pm.s3"}, {"suspend-to-disk", "pm.s4"}}) {
            StrictElement e = pm.child(state[0], t);
            if (e == null) {
                continue;
            }
            String enabled = e.attribute("enabled");
            switch (enabled) {
                case "no" -> t.put(state[1], "off");
                case "yes" -> t.put(state[1], "on");
                default -> t.refuse(e.attributePath("enabled"), "enabled is yes or no");
            }
        }
    }

    private void features() {
        StrictElement features = domain.child("features", t);
        if (features == null) {
            return;
        }
        List<String> on = new ArrayList<>();
        String vmport = null;
        for (StrictElement feature : features.allChildren()) {
            String tag = feature.tag();
            if (Set.of("acpi", "apic", "pae").contains(tag)) {
                feature.markRead();
                if (on.contains(tag)) {
                    t.refuse(feature.path(), "given twice");
                } else {
                    on.add(tag);
                }
            } else if (tag.equals("vmport")) {
                feature.markRead();
                String state = feature.attribute("state");
                if (!state.equals("off")) {
                    t.refuse(feature.attributePath("state"), "VMware's I/O port is off or left out");
                } else if (vmport != null) {
                    t.refuse(feature.path(), "given twice");
                } else {
                    vmport = state;
                }
            }
            // anything else in <features> is refused by name when the domain is finished
        }
        if (!on.isEmpty()) {
            t.put("features", String.join(",", on));
        }
        if (vmport != null) {
            t.put("features.vmport", vmport);
        }
    }

    private static int positive(String text) {
        if (!text.matches("[0-9]{1,4}")) {
            return 0;
        }
        return Integer.parseInt(text);
    }

    /** What the rest of the translation needs from {@code <os>}. */
    record Boot(boolean kernel) {
    }
}
