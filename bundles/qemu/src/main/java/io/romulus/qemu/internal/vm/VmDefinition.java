package io.romulus.qemu.internal.vm;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a QEMU guest is: the machine Romulus starts, whoever described it (a libvirt domain XML, {@code -o} options,
 * or the demo guest's own options). Its {@link #toMap() canonical map} is what travels to the backup in HELLO, what a
 * state file keeps, and what {@link #parse} reads back, so a replica activated on the backup is the same machine.
 *
 * <p>Keys of the canonical map (all values are strings):
 * <ul>
 * <li>{@code machine} ({@code pc} or {@code q35}; its presence marks a canonical map), {@code memory} ({@code NNNM}),
 *     {@code cpus}, {@code cpu} (empty: QEMU's default model; {@code host}; or a QEMU CPU model),
 *     {@code cpu.topology} ({@code SOCKETS,CORES,THREADS}, optional)</li>
 * <li>direct kernel boot: {@code kernel}, {@code initrd}, {@code cmdline}; without {@code kernel} the VM boots from its
 *     first disk through SeaBIOS and its own boot loader</li>
 * <li>{@code disk.N.file}, {@code disk.N.format}, {@code disk.N.bus}, {@code disk.N.dev}, {@code disk.N.readonly},
 *     {@code disk.N.discard} ({@link VmDisk}); {@code nic.N.model}, {@code nic.N.mac}, {@code nic.N.bridge}
 *     ({@link VmNic}); N from 0 without gaps</li>
 * <li>platform: {@code clock.offset} (utc, localtime), {@code clock.rtc.driftfix} (none, slew), {@code clock.hpet}
 *     (on, off), {@code clock.pit} (default, delay), {@code on.poweroff} (destroy), {@code on.reboot} (restart,
 *     destroy), {@code on.crash} (destroy, restart), {@code pm.s3} and {@code pm.s4} (on, off), {@code features}
 *     (a comma list of acpi, apic, pae), {@code features.vmport} (on, off), {@code serial} (ttyS0: the console log)</li>
 * </ul>
 *
 * @param memoryBytes guest RAM, a whole number of MiB, 32 MiB to 64 GiB
 * @param cpus        virtual CPUs
 * @param machine     {@code pc} or {@code q35}
 * @param cpu         the CPU model, empty for QEMU's default
 * @param topology    {@code SOCKETS,CORES,THREADS} or empty
 * @param kernel      for direct kernel boot, the kernel's path on the host; empty for BIOS boot
 * @param initrd      the initrd's path, or empty
 * @param cmdline     the kernel command line, or empty
 * @param disks       the disks, in the guest's order
 * @param nics        the network cards
 * @param platform    the platform keys given (validated), in a stable order
 */
public record VmDefinition(long memoryBytes, int cpus, String machine, String cpu, String topology, String kernel,
        String initrd, String cmdline, List<VmDisk> disks, List<VmNic> nics, Map<String, String> platform) {

    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*(m|mib|g|gib)?", Pattern.CASE_INSENSITIVE);
    private static final Pattern INDEXED = Pattern.compile("(disk|nic)\\.(\\d+)\\.([a-z]+)");
    private static final Pattern TOPOLOGY = Pattern.compile("(\\d+),(\\d+),(\\d+)");
    private static final Pattern CPU_MODEL = Pattern.compile("[A-Za-z0-9_.-]{0,64}");
    private static final Set<String> DISK_KEYS = Set.of("file", "format", "bus", "dev", "readonly", "discard");
    private static final Set<String> NIC_KEYS = Set.of("model", "mac", "bridge");
    private static final Set<String> TOP_KEYS = Set.of("machine", "memory", "cpus", "cpu", "cpu.topology", "kernel",
            "initrd", "cmdline");
    /** The platform keys and the values each may take. */
    static final Map<String, Set<String>> PLATFORM = platformValues();

    public VmDefinition {
        machine = machine.toLowerCase(Locale.ROOT);
        disks = List.copyOf(disks);
        nics = List.copyOf(nics);
        platform = new TreeMap<>(platform);
        if (memoryBytes < (32L << 20) || memoryBytes > (64L << 30) || memoryBytes % (1 << 20) != 0) {
            throw new IllegalArgumentException("memory must be a whole number of MiB from 32M to 64G, not "
                    + memoryBytes + " bytes");
        }
        if (cpus < 1 || cpus > 64) {
            throw new IllegalArgumentException("cpus must be 1 to 64, not " + cpus);
        }
        if (!machine.equals("pc") && !machine.equals("q35")) {
            throw new IllegalArgumentException("machine must be pc or q35, not '" + machine + "'");
        }
        if (!CPU_MODEL.matcher(cpu).matches()) {
            throw new IllegalArgumentException("cpu must be empty, host or a QEMU CPU model name, not '" + cpu + "'");
        }
        if (!topology.isEmpty()) {
            Matcher t = TOPOLOGY.matcher(topology);
            // in long, of at most 9 digits each: no overflow makes a product of billions equal to cpus
            if (!t.matches() || t.group(1).length() > 9 || t.group(2).length() > 9 || t.group(3).length() > 9
                    || Long.parseLong(t.group(1)) * Long.parseLong(t.group(2)) * Long.parseLong(t.group(3)) != cpus) {
                throw new IllegalArgumentException("cpu.topology must be SOCKETS,CORES,THREADS whose product is cpus ("
                        + cpus + "), not '" + topology + "'");
            }
        }
        if (kernel.isEmpty() && (!initrd.isEmpty() || !cmdline.isEmpty())) {
            throw new IllegalArgumentException("initrd and cmdline need a kernel (direct kernel boot)");
        }
        if ((!kernel.isEmpty() && !kernel.startsWith("/")) || (!initrd.isEmpty() && !initrd.startsWith("/"))) {
            throw new IllegalArgumentException("kernel and initrd must be absolute paths");
        }
        if (kernel.isEmpty() && disks.isEmpty()) {
            throw new IllegalArgumentException("a VM without a kernel boots from its first disk, and this one has none");
        }
        Set<String> devs = new TreeSet<>();
        for (VmDisk d : disks) {
            if (!devs.add(d.dev())) {
                throw new IllegalArgumentException("two disks are " + d.dev());
            }
            if (d.bus().equals("ide") && (machine.equals("q35") || d.unit() > 3)) {
                throw new IllegalArgumentException("disk " + d.dev() + ": an ide disk needs machine pc and one of hda to "
                        + "hdd");
            }
            if (d.bus().equals("sata") && d.unit() > 5) {
                throw new IllegalArgumentException("disk " + d.dev() + ": sata disks are sda to sdf");
            }
        }
        Set<String> macs = new TreeSet<>();
        for (VmNic n : nics) {
            if (!macs.add(n.mac())) {
                throw new IllegalArgumentException("two NICs have MAC " + n.mac());
            }
        }
        for (Map.Entry<String, String> e : platform.entrySet()) {
            Set<String> allowed = PLATFORM.get(e.getKey());
            if (allowed == null) {
                throw new IllegalArgumentException("no platform key '" + e.getKey() + "'; there are "
                        + String.join(", ", PLATFORM.keySet()));
            }
            boolean ok = e.getKey().equals("features")
                    ? List.of(e.getValue().split(",")).stream().allMatch(f -> f.isEmpty() || allowed.contains(f))
                    : allowed.contains(e.getValue());
            if (!ok) {
                throw new IllegalArgumentException(e.getKey() + " must be " + (e.getKey().equals("features")
                        ? "a comma list of " : "one of ") + String.join(", ", new TreeSet<>(allowed)) + ", not '"
                        + e.getValue() + "'");
            }
        }
    }

    private static Map<String, Set<String>> platformValues() {
        Map<String, Set<String>> m = new TreeMap<>();
        m.put("clock.offset", Set.of("utc", "localtime"));
        m.put("clock.rtc.driftfix", Set.of("none", "slew"));
        m.put("clock.hpet", Set.of("on", "off"));
        m.put("clock.pit", Set.of("default", "delay"));
        m.put("on.poweroff", Set.of("destroy"));
        m.put("on.reboot", Set.of("restart", "destroy"));
        m.put("on.crash", Set.of("destroy", "restart"));
        m.put("pm.s3", Set.of("on", "off"));
        m.put("pm.s4", Set.of("on", "off"));
        m.put("features", Set.of("acpi", "apic", "pae"));
        m.put("features.vmport", Set.of("on", "off"));
        m.put("serial", Set.of("ttyS0"));
        return Map.copyOf(m);
    }

    /** Whether {@code options} is a canonical map (or {@code -o} options in its keys) rather than, say, demo options. */
    public static boolean isVmMap(Map<String, String> options) {
        for (String k : options.keySet()) {
            if ((TOP_KEYS.contains(k) && !k.equals("memory") && !k.equals("cpus")) || INDEXED.matcher(k).matches()
                    || PLATFORM.containsKey(k)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Reads a canonical map, or {@code -o} options in its keys: {@code machine} defaults to {@code pc}, {@code memory}
     * to 512M, {@code cpus} to 1, a disk's format to raw, bus to virtio, dev to vda, vdb, ... in order, discard to
     * ignore, a NIC's model to virtio. Unknown keys and bad values are refused with a message naming them.
     */
    public static VmDefinition parse(Map<String, String> options) {
        Map<Integer, Map<String, String>> disks = new TreeMap<>();
        Map<Integer, Map<String, String>> nics = new TreeMap<>();
        Map<String, String> platform = new TreeMap<>();
        for (Map.Entry<String, String> e : options.entrySet()) {
            String k = e.getKey();
            Matcher m = INDEXED.matcher(k);
            if (m.matches()) {
                boolean disk = m.group(1).equals("disk");
                if (!(disk ? DISK_KEYS : NIC_KEYS).contains(m.group(3))) {
                    throw new IllegalArgumentException("no option '" + k + "'; a " + m.group(1) + " has "
                            + String.join(", ", new TreeSet<>(disk ? DISK_KEYS : NIC_KEYS)));
                }
                (disk ? disks : nics).computeIfAbsent(Integer.parseInt(m.group(2)), i -> new TreeMap<>())
                        .put(m.group(3), e.getValue());
            } else if (PLATFORM.containsKey(k)) {
                platform.put(k, e.getValue().trim());
            } else if (!TOP_KEYS.contains(k)) {
                throw new IllegalArgumentException("the qemu binding has no VM option '" + k + "'; a VM has "
                        + String.join(", ", new TreeSet<>(TOP_KEYS)) + ", disk.N.{" + String.join(",",
                        new TreeSet<>(DISK_KEYS)) + "}, nic.N.{" + String.join(",", new TreeSet<>(NIC_KEYS)) + "} and "
                        + String.join(", ", PLATFORM.keySet()));
            }
        }
        return new VmDefinition(
                size("memory", options.getOrDefault("memory", "512M")),
                number("cpus", options.getOrDefault("cpus", "1")),
                options.getOrDefault("machine", "pc"),
                options.getOrDefault("cpu", "").trim(),
                options.getOrDefault("cpu.topology", "").trim(),
                options.getOrDefault("kernel", "").trim(),
                options.getOrDefault("initrd", "").trim(),
                options.getOrDefault("cmdline", "").trim(),
                disks(disks), nics(nics), platform);
    }

    private static List<VmDisk> disks(Map<Integer, Map<String, String>> given) {
        List<VmDisk> out = new ArrayList<>();
        Map<String, Integer> perBus = new TreeMap<>();
        for (Map.Entry<Integer, Map<String, String>> e : given.entrySet()) {
            if (e.getKey() != out.size()) {
                throw new IllegalArgumentException("disks are numbered from 0 without gaps: disk." + out.size()
                        + " is missing");
            }
            Map<String, String> d = e.getValue();
            if (!d.containsKey("file")) {
                throw new IllegalArgumentException("disk." + e.getKey() + " has no file");
            }
            String bus = d.getOrDefault("bus", "virtio").toLowerCase(Locale.ROOT);
            int n = perBus.merge(bus, 1, Integer::sum) - 1;
            String prefix = bus.equals("virtio") ? "vd" : bus.equals("sata") ? "sd" : "hd";
            out.add(new VmDisk(d.get("file").trim(), d.getOrDefault("format", "raw"), bus,
                    d.getOrDefault("dev", prefix + (char) ('a' + Math.min(n, 25))),
                    bool("disk." + e.getKey() + ".readonly", d.getOrDefault("readonly", "false")),
                    d.getOrDefault("discard", "ignore")));
        }
        return out;
    }

    private static List<VmNic> nics(Map<Integer, Map<String, String>> given) {
        List<VmNic> out = new ArrayList<>();
        for (Map.Entry<Integer, Map<String, String>> e : given.entrySet()) {
            if (e.getKey() != out.size()) {
                throw new IllegalArgumentException("NICs are numbered from 0 without gaps: nic." + out.size()
                        + " is missing");
            }
            Map<String, String> n = e.getValue();
            if (!n.containsKey("mac")) {
                throw new IllegalArgumentException("nic." + e.getKey() + " has no mac: a protected VM keeps its MAC "
                        + "on failover, so it must be given");
            }
            out.add(new VmNic(n.getOrDefault("model", "virtio"), n.get("mac"), n.getOrDefault("bridge", "")));
        }
        return out;
    }

    /** The canonical map: every key, in a stable order. {@code parse(toMap())} equals this definition. */
    public Map<String, String> toMap() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("machine", machine);
        m.put("memory", (memoryBytes >> 20) + "M");
        m.put("cpus", Integer.toString(cpus));
        m.put("cpu", cpu);
        if (!topology.isEmpty()) {
            m.put("cpu.topology", topology);
        }
        if (!kernel.isEmpty()) {
            m.put("kernel", kernel);
            m.put("initrd", initrd);
            m.put("cmdline", cmdline);
        }
        for (int i = 0; i < disks.size(); i++) {
            VmDisk d = disks.get(i);
            m.put("disk." + i + ".file", d.file());
            m.put("disk." + i + ".format", d.format());
            m.put("disk." + i + ".bus", d.bus());
            m.put("disk." + i + ".dev", d.dev());
            m.put("disk." + i + ".readonly", Boolean.toString(d.readOnly()));
            m.put("disk." + i + ".discard", d.discard());
        }
        for (int i = 0; i < nics.size(); i++) {
            VmNic n = nics.get(i);
            m.put("nic." + i + ".model", n.model());
            m.put("nic." + i + ".mac", n.mac());
            m.put("nic." + i + ".bridge", n.bridge());
        }
        m.putAll(platform);
        return m;
    }

    /** Whether it boots a kernel given on the host rather than from its first disk. */
    public boolean directKernelBoot() {
        return !kernel.isEmpty();
    }

    /** This VM with every NIC joining {@code bridge} (empty: the host's), as a clone of it on its own segment does. */
    public VmDefinition withBridge(String bridge) {
        return new VmDefinition(memoryBytes, cpus, machine, cpu, topology, kernel, initrd, cmdline, disks,
                nics.stream().map(n -> n.withBridge(bridge)).toList(), platform);
    }

    /** This VM with its disks replaced (the demo guest's disk is made when it boots). */
    public VmDefinition withDisks(List<VmDisk> d) {
        return new VmDefinition(memoryBytes, cpus, machine, cpu, topology, kernel, initrd, cmdline, d, nics,
                platform);
    }

    /** A platform key's value, or {@code dflt} when the definition does not give it. */
    public String platform(String key, String dflt) {
        return platform.getOrDefault(key, dflt);
    }

    /** A size such as {@code 512M} or {@code 2G} (MiB when no unit is given), in bytes. */
    public static long size(String key, String text) {
        Matcher m = SIZE.matcher(text.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException(key + " '" + text + "' is not a size such as 512M or 2G");
        }
        String unit = m.group(2) == null ? "m" : m.group(2).toLowerCase(Locale.ROOT);
        try {
            // exact: a shift would make 2^34+1 G (which overflows) the same as 1G
            return Math.multiplyExact(Long.parseLong(m.group(1)), unit.startsWith("g") ? 1L << 30 : 1L << 20);
        } catch (ArithmeticException | NumberFormatException e) {
            throw new IllegalArgumentException(key + " '" + text + "' is too large a size");
        }
    }

    /** A whole number, or a refusal that names {@code key}. */
    public static int number(String key, String text) {
        try {
            return Integer.parseInt(text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " '" + text + "' is not a whole number");
        }
    }

    private static boolean bool(String key, String text) {
        return switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "true", "yes", "on" -> true;
            case "false", "no", "off" -> false;
            default -> throw new IllegalArgumentException(key + " must be true or false, not '" + text + "'");
        };
    }
}
