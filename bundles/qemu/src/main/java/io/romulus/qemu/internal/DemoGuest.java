package io.romulus.qemu.internal;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

import io.romulus.qemu.internal.vm.VmDefinition;
import io.romulus.qemu.internal.vm.VmDisk;
import io.romulus.qemu.internal.vm.VmNic;

/**
 * The demo guest (native/guest: Debian's kernel, a busybox initramfs, a counter service, optionally a memory dirtier,
 * a disk with a journal service), as given to {@code romulus:protect qemu:NAME -o memory=256M -o nic=tap ...}. It is
 * one VM among others: {@link #definition} turns these options into the {@link VmDefinition} the binding starts
 * (direct kernel boot of this host's demo kernel, the workload's parameters on the kernel command line, a virtio NIC
 * and a virtio disk made when it boots), and that definition is what travels to the backup. The network namespace of
 * the guest's tap is that host's configuration ({@link QemuSettings}); so is the bridge the tap joins, unless the
 * guest names its own with {@code bridge} (for example the two guests of a scale-out pair, each on its own L2 segment
 * with the same guest addresses), which then overrides the host's on every host the guest runs on.
 *
 * @param memoryBytes guest RAM, a whole number of MiB, 32 MiB to 64 GiB
 * @param cpus        virtual CPUs
 * @param nic         {@code none} or {@code tap}
 * @param mac         the guest NIC's MAC address
 * @param ip          the guest's address, {@code A.B.C.D/NN}, passed to the demo guest on its kernel command line
 * @param port        the demo guest's counter service port
 * @param dirtyRate   pages per second written by the demo guest's dirtying workload (0: not started; -1: as fast
 *                    as it can, reporting its rate on the console every second)
 * @param dirtyMib    size of the area that workload writes, MiB
 * @param diskMib     size of the guest's disk, MiB (0: no disk); an ext4 filesystem made by the host, served to the
 *                    guest over NBD by this node's disk exports, mounted by the demo guest at /data with its journal
 *                    service on {@code port + 1}
 * @param diskBench   with a disk, blocks of 4 KiB the demo guest writes with fdatasync after each, every second,
 *                    printing its write latency on the console (0: not started; for benchmarks)
 * @param bridge      the bridge the guest's tap joins on every host, in that host's network namespace, instead of the
 *                    host's configured one ({@link QemuSettings#bridge()}); empty: the host's
 */
public record DemoGuest(long memoryBytes, int cpus, String nic, String mac, String ip, int port, int dirtyRate,
        int dirtyMib, int diskMib, int diskBench, String bridge) {

    public static final Set<String> KEYS = new TreeSet<>(Set.of("memory", "cpus", "nic", "mac", "ip", "port",
            "dirty-rate", "dirty-mib", "disk", "disk-bench", "bridge"));
    private static final Pattern MAC = Pattern.compile("([0-9a-f]{2}:){5}[0-9a-f]{2}");
    private static final Pattern CIDR = Pattern.compile("(\\d{1,3}\\.){3}\\d{1,3}/\\d{1,2}");
    /** A Linux interface name: at most 15 characters (IFNAMSIZ - 1), none of them '/', ':' or white space. */
    private static final Pattern IFNAME = Pattern.compile("[A-Za-z0-9_.-]{1,15}");

    public DemoGuest {
        if (memoryBytes < (32L << 20) || memoryBytes > (64L << 30)) {
            throw new IllegalArgumentException("memory must be 32M to 64G, not " + (memoryBytes >> 20) + " MiB");
        }
        if (cpus < 1 || cpus > 64) {
            throw new IllegalArgumentException("cpus must be 1 to 64, not " + cpus);
        }
        if (!nic.equals("none") && !nic.equals("tap")) {
            throw new IllegalArgumentException("nic must be none or tap, not '" + nic + "'");
        }
        if (!MAC.matcher(mac).matches()) {
            throw new IllegalArgumentException("mac must be written aa:bb:cc:dd:ee:ff in lower case, not '" + mac + "'");
        }
        if (!CIDR.matcher(ip).matches()) {
            throw new IllegalArgumentException("ip must be written A.B.C.D/NN, not '" + ip + "'");
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port must be 1 to 65535, not " + port);
        }
        if (dirtyRate < -1 || dirtyRate > 1_000_000) {
            throw new IllegalArgumentException("dirty-rate must be 0 to 1000000 pages/s, or -1 for as fast as it can, "
                    + "not " + dirtyRate);
        }
        if (diskMib != 0 && (diskMib < 16 || diskMib > 1 << 20)) {
            throw new IllegalArgumentException("disk must be 16M to 1T (or 0 for none), not " + diskMib + " MiB");
        }
        if (port == 65535 && diskMib != 0) {
            throw new IllegalArgumentException("with a disk the journal service uses port + 1: port must be below 65535");
        }
        if (diskBench < 0 || diskBench > 100_000 || (diskBench > 0 && diskMib == 0)) {
            throw new IllegalArgumentException("disk-bench must be 0 to 100000 blocks, and needs a disk, not "
                    + diskBench);
        }
        if (dirtyMib < 1 || (long) dirtyMib << 20 >= memoryBytes) {
            throw new IllegalArgumentException("dirty-mib must be at least 1 and below the guest's memory, not "
                    + dirtyMib);
        }
        if (!bridge.isEmpty() && (!IFNAME.matcher(bridge).matches() || bridge.equals(".") || bridge.equals(".."))) {
            throw new IllegalArgumentException("bridge must be empty (the host's) or an interface name of up to 15 "
                    + "characters A-Z a-z 0-9 _ . -, not '" + bridge + "'");
        }
    }

    /** Parses the options map; unknown keys and bad values are refused with a message naming them. */
    public static DemoGuest parse(Map<String, String> options) {
        for (String key : options.keySet()) {
            if (!KEYS.contains(key)) {
                throw new IllegalArgumentException("the qemu binding has no option '" + key + "'; it accepts "
                        + String.join(", ", KEYS));
            }
        }
        return new DemoGuest(
                mib("memory", options.getOrDefault("memory", "128M")),
                number(options, "cpus", 1),
                options.getOrDefault("nic", "none").toLowerCase(Locale.ROOT),
                options.getOrDefault("mac", "52:54:00:12:34:56").toLowerCase(Locale.ROOT),
                options.getOrDefault("ip", "10.77.0.10/24"),
                number(options, "port", 7000),
                number(options, "dirty-rate", 0),
                number(options, "dirty-mib", 16),
                (int) (options.containsKey("disk") ? mib("disk", options.get("disk")) >> 20 : 0),
                number(options, "disk-bench", 0),
                options.getOrDefault("bridge", "").trim());
    }

    /**
     * The options as a map again, complete, for HELLO. {@code bridge} only when the guest names one: a backup whose
     * binding predates the option then still accepts the guests that do not.
     */
    public Map<String, String> toMap() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("memory", (memoryBytes >> 20) + "M");
        m.put("cpus", Integer.toString(cpus));
        m.put("nic", nic);
        m.put("mac", mac);
        m.put("ip", ip);
        m.put("port", Integer.toString(port));
        m.put("dirty-rate", Integer.toString(dirtyRate));
        m.put("dirty-mib", Integer.toString(dirtyMib));
        m.put("disk", diskMib + "M");
        m.put("disk-bench", Integer.toString(diskBench));
        if (!bridge.isEmpty()) {
            m.put("bridge", bridge);
        }
        return m;
    }

    /**
     * The machine these options describe on a host with {@code settings}: direct kernel boot of the host's demo
     * kernel and initramfs, with {@code diskImage} (made by the binding when it boots the guest) as its virtio disk
     * {@code vda} when it has one.
     */
    public VmDefinition definition(QemuSettings settings, Path diskImage) {
        List<VmNic> nics = nic.equals("tap") ? List.of(new VmNic("virtio", mac, bridge)) : List.of();
        List<VmDisk> disks = diskMib > 0 ? List.of(new VmDisk(diskImage.toAbsolutePath().toString(), "raw",
                "virtio", "vda", false, "ignore")) : List.of();
        return new VmDefinition(memoryBytes, cpus, "pc", "", "", settings.kernel().toAbsolutePath().toString(),
                settings.initrd().toAbsolutePath().toString(), kernelCommandLine(), disks, nics, Map.of());
    }

    /** The demo guest's kernel command line. */
    public String kernelCommandLine() {
        return "console=ttyS0 panic=-1 quiet romulus.ip=" + ip + " romulus.port=" + port + " romulus.dirty.rate="
                + dirtyRate + " romulus.dirty.mib=" + dirtyMib + (diskMib > 0 ? " romulus.journal.port=" + (port + 1) : "")
                + (diskBench > 0 ? " romulus.disk.bench=" + diskBench : "");
    }

    private static long mib(String key, String text) {
        return VmDefinition.size(key, text);
    }

    private static int number(Map<String, String> options, String key, int dflt) {
        String v = options.get(key);
        return v == null ? dflt : VmDefinition.number(key, v);
    }
}
