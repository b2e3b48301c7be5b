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
 * Translates a libvirt {@code <domain>} into the qemu binding's options: its name and descriptive elements, memory,
 * clock, lifecycle actions, power management and features itself; vCPUs and CPU through {@link CpuTranslator}, the
 * boot through {@link BootTranslator}, {@code <devices>} through {@link DeviceTranslator}. Options are set in one
 * fixed order, whatever the order of the XML.
 */
final class DomainTranslator {

    private static final BigInteger MIB = BigInteger.valueOf(1L << 20);
    private static final Pattern WHOLE = Pattern.compile("[0-9]{1,18}");

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
        new CpuTranslator(domain, t).translate();
        boolean kernel = new BootTranslator(domain, t).translate();
        new DeviceTranslator(domain.child("devices", t), t).translate(kernel);
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


}
