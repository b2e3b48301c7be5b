package io.romulus.qemu.internal.definition;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Translates a domain's {@code <disk>}s, numbered from 0 in document order, into {@code disk.N.file}, {@code .format},
 * {@code .bus}, {@code .dev}, {@code .readonly} and {@code .discard} ({@code cache} and {@code io} are noted: the disk is served over NBD). Only image files on
 * the host given as disks are accepted; CD-ROMs, floppies, LUNs, block, network and volume disks are refused by their
 * target.
 */
final class DiskTranslator {

    private static final Pattern DISK_DEV = Pattern.compile("(vd|sd|hd)[a-z]{1,3}");
    private static final Set<String> CACHE = Set.of("none", "writeback", "writethrough", "default", "unsafe",
            "directsync");
    private static final Set<String> IO = Set.of("native", "threads", "io_uring");
    private static final Set<String> DISCARD = Set.of("unmap", "ignore");

    private final Translation t;
    private final List<Map<String, String>> disks = new ArrayList<>();
    /** The disks with a {@code <boot order=...>}: the order and the disk's number. */
    private final List<int[]> bootOrders = new ArrayList<>();
    private int diskElements;

    DiskTranslator(Translation t) {
        this.t = t;
    }

    /** The accepted disks' options, without their {@code disk.N.} prefix, in their order. */
    List<Map<String, String>> disks() {
        return disks;
    }

    /** Translates one {@code <disk>}; an accepted one gets the next number. */
    void add(StrictElement disk) {
        diskElements++;
        StrictElement target = disk.child("target", t);
        String dev = target == null ? "" : target.attribute("dev");
        disk.identify(dev.isEmpty() ? String.valueOf(diskElements) : dev);
        String type = disk.attribute("type");
        String device = disk.attribute("device");
        if (!type.isEmpty() && !type.equals("file")) {
            disk.markWhole();
            t.refuse(disk.attributePath("type"), "a disk is an image file on the host (type='file' device='disk')");
            return;
        }
        if (!device.isEmpty() && !device.equals("disk")) {
            disk.markWhole();
            t.refuse(disk.attributePath("device"), "only disks (device='disk') are given to the VM, no " + device
                    + " drive");
            return;
        }
        Map<String, String> o = new LinkedHashMap<>();
        StrictElement source = disk.child("source", t);
        String file = source == null ? "" : source.attribute("file");
        if (file.isEmpty()) {
            t.problem(disk.path() + " has no <source file='...'/>: the qemu binding needs the disk's image file");
        } else if (!file.startsWith("/")) {
            t.problem(source.attributePath("file") + " must be an absolute path on the host");
        } else {
            o.put("file", file);
        }
        if (source != null && source.has("index")) {
            source.attribute("index");
            t.note("domain/devices/disk/source/@index is not used: it is libvirt's number for a running domain's"
                    + " image");
        }
        Map<String, String> driverOptions = driver(disk.child("driver", t));
        o.put("format", driverOptions.remove("format"));
        if (target != null) {
            target(target, dev, o);
        } else {
            t.problem(disk.path() + " has no <target dev='vda' bus='virtio'/>");
        }
        StrictElement readonly = disk.child("readonly", t);
        if (readonly != null && "virtio".equals(o.get("bus"))) {
            o.put("readonly", "true");
        } else if (readonly != null && o.containsKey("bus")) {
            t.refuse(readonly.path(), "QEMU has read-only disks on virtio only: a " + o.get("bus") + " hard disk"
                    + " is writable");
        }
        o.putAll(driverOptions);
        StrictElement boot = disk.child("boot", t);
        if (boot != null) {
            bootOrder(boot, disks.size());
        }
        StrictElement backing = disk.child("backingStore", t);
        if (backing != null && !backing.isEmpty()) {
            backing.markWhole();
            t.refuse(backing.path(), "the backing chain is QEMU's to read from the image (leave <backingStore/>"
                    + " empty)");
        }
        disks.add(o);
    }

    /** {@code format} (raw unless said), then {@code cache}, {@code io}, {@code discard} as given. */
    private Map<String, String> driver(StrictElement driver) {
        Map<String, String> o = new LinkedHashMap<>();
        o.put("format", "raw");
        if (driver == null) {
            return o;
        }
        String name = driver.attribute("name");
        if (!name.isEmpty() && !name.equals("qemu")) {
            t.refuse(driver.attributePath("name"), "the disk's driver is qemu");
        }
        String format = driver.attribute("type");
        if (format.equals("raw") || format.equals("qcow2")) {
            o.put("format", format);
        } else if (!format.isEmpty()) {
            t.refuse(driver.attributePath("type"), "the image is raw or qcow2");
        }
        // Romulus serves every disk through its own NBD export, whose writes the replicator logs: QEMU's own cache
        // and I/O modes of the image file do not apply; the guest's flushes reach the replicated disk all the same
        for (String attribute : new String[] {"cache", "io"}) {
            Map<String, String> mode = new LinkedHashMap<>();
            choice(driver, attribute, attribute.equals("cache") ? CACHE : IO, mode);
            if (mode.containsKey(attribute)) {
                t.note(driver.attributePath(attribute) + " is not used: Romulus serves "
                        + "the disk over its own NBD export, which replicates every write; the guest's flushes reach it");
            }
        }
        choice(driver, "discard", DISCARD, o);
        return o;
    }

    private void choice(StrictElement e, String attribute, Set<String> values, Map<String, String> o) {
        String value = e.attribute(attribute);
        if (values.contains(value)) {
            o.put(attribute, value);
        } else if (!value.isEmpty()) {
            t.refuse(e.attributePath(attribute), attribute + " is one of " + String.join(", ", new java.util.TreeSet<>(
                    values)));
        }
    }

    private void target(StrictElement target, String dev, Map<String, String> o) {
        if (!DISK_DEV.matcher(dev).matches()) {
            t.problem(target.attributePath("dev") + Translation.UNSUPPORTED + ": the disk is named vdX, sdX or hdX");
            return;
        }
        String bus = target.attribute("bus");
        if (bus.isEmpty()) {
            bus = switch (dev.substring(0, 2)) {
                case "vd" -> "virtio";
                case "hd" -> "ide";
                default -> "";
            };
        }
        if (bus.equals("virtio") || bus.equals("sata") || bus.equals("ide")) {
            o.put("bus", bus);
            o.put("dev", dev);
        } else if (bus.isEmpty()) {
            t.problem(target.path() + " needs a bus: virtio, sata or ide");
        } else {
            t.refuse(target.attributePath("bus"), "the disk's bus is virtio, sata or ide");
        }
    }

    private void bootOrder(StrictElement boot, int disk) {
        String order = boot.attribute("order");
        if (!order.matches("[1-9][0-9]{0,3}")) {
            t.problem(boot.attributePath("order") + " must be a whole number above 0");
            return;
        }
        bootOrders.add(new int[] {Integer.parseInt(order), disk});
    }

    /**
     * Checks that the VM can boot: from its kernel, or SeaBIOS from its first disk, which must then have the lowest
     * boot order if any disk has one.
     */
    void checkBoot(boolean kernel) {
        if (kernel) {
            if (!bootOrders.isEmpty()) {
                t.note("domain/devices/disk/boot is not used: the VM boots its kernel directly");
            }
            return;
        }
        if (disks.isEmpty()) {
            t.problem("domain/devices has no disk to boot from, and domain/os no kernel: the VM needs one of them");
            return;
        }
        int[] first = bootOrders.stream().min((a, b) -> Integer.compare(a[0], b[0])).orElse(null);
        if (first == null) {
            return;
        }
        if (first[1] == 0) {
            t.note("domain/devices/disk/boot is not used: SeaBIOS boots the VM's first disk, which has the lowest"
                    + " boot order");
        } else {
            t.problem("domain/devices/disk[" + disks.get(first[1]).get("dev") + "]/boot has the lowest boot order,"
                    + " but SeaBIOS boots the VM's first disk (" + disks.get(0).get("dev") + "): put the boot disk"
                    + " first");
        }
    }
}
