package io.romulus.qemu.internal.definition;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Translates a domain's {@code <devices>}: its file disks ({@code disk.N.*}), its bridged NICs ({@code nic.N.*}) and
 * its serial console ({@code serial}); controllers, PS/2 input, display and the like are accepted with a note, every
 * other device is refused by its path. Disks and NICs are numbered from 0 in document order.
 */
final class DeviceTranslator {

    private static final Pattern MAC = Pattern.compile("[0-9a-f]{2}(:[0-9a-f]{2}){5}");
    /** A Linux interface name: at most 15 characters (IFNAMSIZ - 1), none of them '/', ':' or white space. */
    private static final Pattern IFNAME = Pattern.compile("[A-Za-z0-9_.-]{1,15}");
    private static final Pattern DISK_DEV = Pattern.compile("(vd|sd|hd)[a-z]{1,3}");
    private static final Set<String> CACHE = Set.of("none", "writeback", "writethrough", "default", "unsafe",
            "directsync");
    private static final Set<String> IO = Set.of("native", "threads", "io_uring");
    private static final Set<String> DISCARD = Set.of("unmap", "ignore");
    private static final Set<String> PCI_MODELS = Set.of("pci-root", "pcie-root", "pcie-root-port");
    private static final String NO_DISPLAY = " is not used: Romulus runs the VM without a display; use the serial"
            + " console";

    private final StrictElement devices;
    private final Translation t;
    private final List<Map<String, String>> disks = new ArrayList<>();
    private final List<Map<String, String>> nics = new ArrayList<>();
    /** The devices with a {@code <boot order=...>}: the order, and the disk's number or -1 for another device. */
    private final List<int[]> bootOrders = new ArrayList<>();
    private int diskElements;
    private int nicElements;
    private int serials;
    private int consoles;
    private boolean console;

    /**
     * @param devices the {@code <devices>} element, or null when the domain has none
     */
    DeviceTranslator(StrictElement devices, Translation t) {
        this.devices = devices;
        this.t = t;
    }

    /**
     * @param kernel whether the VM boots a kernel directly (else it boots its first disk)
     */
    void translate(boolean kernel) {
        if (devices != null) {
            for (StrictElement device : devices.allChildren()) {
                device.markRead();
                translate(device);
            }
        }
        put("disk", disks);
        put("nic", nics);
        if (console) {
            t.put("serial", "ttyS0");
        }
        boot(kernel);
    }

    private void translate(StrictElement device) {
        switch (device.tag()) {
            case "disk" -> disk(device);
            case "interface" -> nic(device);
            case "serial" -> serial(device);
            case "console" -> console(device);
            case "controller" -> controller(device);
            case "input" -> input(device);
            case "memballoon" -> memballoon(device);
            case "emulator" -> {
                device.markWhole();
                t.note("domain/devices/emulator is not used: the node's configured QEMU runs the VM");
            }
            case "graphics", "video" -> {
                device.markWhole();
                t.note("domain/devices/" + device.tag() + NO_DISPLAY);
            }
            case "audio" -> {
                device.markWhole();
                t.note("domain/devices/audio is not used: the VM has no sound device");
            }
            default -> {
                // rng, channel, sound, hostdev, filesystem, redirdev, smartcard, tpm, watchdog, panic, shmem, iommu...
                device.markWhole();
                t.refuse(device.path(), "");
            }
        }
    }

    private void put(String kind, List<Map<String, String>> list) {
        for (int i = 0; i < list.size(); i++) {
            for (Map.Entry<String, String> e : list.get(i).entrySet()) {
                t.put(kind + "." + i + "." + e.getKey(), e.getValue());
            }
        }
    }

    private void disk(StrictElement disk) {
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
        choice(driver, "cache", CACHE, o);
        choice(driver, "io", IO, o);
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

    private void boot(boolean kernel) {
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
        } else if (first[1] > 0) {
            t.problem("domain/devices/disk[" + disks.get(first[1]).get("dev") + "]/boot has the lowest boot order,"
                    + " but SeaBIOS boots the VM's first disk (" + disks.get(0).get("dev") + "): put the boot disk"
                    + " first");
        }
    }

    private void nic(StrictElement nic) {
        nicElements++;
        StrictElement mac = nic.child("mac", t);
        String address = mac == null ? "" : mac.attribute("address").toLowerCase(Locale.ROOT);
        nic.identify(address.isEmpty() ? String.valueOf(nicElements) : address);
        String type = nic.attribute("type");
        if (type.equals("network")) {
            StrictElement source = nic.child("source", t);
            String network = source == null ? "" : source.attribute("network");
            nic.markWhole();
            t.refuse(nic.attributePath("type"), "give the bridge that libvirt network uses instead, as"
                    + " <interface type='bridge'><source bridge='BRIDGE'/> (virsh net-info " + (network.isEmpty()
                    ? "NETWORK" : network) + " names it)");
            return;
        }
        if (!type.equals("bridge")) {
            nic.markWhole();
            t.refuse(nic.attributePath("type"), "a NIC is a tap on a host bridge (type='bridge')");
            return;
        }
        Map<String, String> o = new LinkedHashMap<>();
        model(nic, o);
        if (address.isEmpty()) {
            t.problem(nic.path() + " has no <mac address='...'/>: a replicated VM must keep its MAC address on"
                    + " failover, so give it one");
        } else if (!MAC.matcher(address).matches() || (Integer.parseInt(address.substring(0, 2), 16) & 1) != 0) {
            t.problem(mac.attributePath("address") + " is not a unicast MAC address (aa:bb:cc:dd:ee:ff)");
        } else {
            o.put("mac", address);
        }
        StrictElement source = nic.child("source", t);
        String bridge = source == null ? "" : source.attribute("bridge");
        if (IFNAME.matcher(bridge).matches()) {
            o.put("bridge", bridge);
        } else if (bridge.isEmpty()) {
            t.problem(nic.path() + " has no <source bridge='...'/>: the NIC needs the host bridge its tap joins");
        } else {
            t.problem(source.attributePath("bridge") + " is not a Linux interface name");
        }
        nicDetails(nic);
        nics.add(o);
    }

    private void model(StrictElement nic, Map<String, String> o) {
        StrictElement model = nic.child("model", t);
        String type = model == null ? "" : model.attribute("type");
        switch (type) {
            case "virtio", "e1000" -> o.put("model", type);
            case "" -> t.problem(nic.path() + " has no <model type='...'/>: give virtio or e1000 (libvirt would"
                    + " choose one itself)");
            case "e1000e" -> t.refuse(model.attributePath("type"), "use e1000 or virtio");
            default -> t.refuse(model.attributePath("type"), "the NIC is virtio or e1000");
        }
    }

    /** What of an interface is accepted without an option, or refused unless it says the default. */
    private void nicDetails(StrictElement nic) {
        StrictElement target = nic.child("target", t);
        if (target != null) {
            target.attribute("dev");
            t.note("domain/devices/interface/target is not used: Romulus names the VM's taps itself");
        }
        StrictElement driver = nic.child("driver", t);
        if (driver != null) {
            boolean vhost = driver.attributeNames().equals(Set.of("name")) && driver.attribute("name").equals(
                    "vhost");
            if (driver.isEmpty() || vhost) {
                t.note("domain/devices/interface/driver is not used: it says the default");
            } else {
                driver.markWhole();
                t.refuse(driver.path(), "only the default driver (none, or name='vhost') is accepted");
            }
        }
        StrictElement link = nic.child("link", t);
        if (link != null && !link.attribute("state").equals("up")) {
            t.refuse(link.attributePath("state"), "the link is up");
        }
        StrictElement mtu = nic.child("mtu", t);
        if (mtu != null && !mtu.attribute("size").equals("1500")) {
            t.refuse(mtu.attributePath("size"), "the MTU is the default, 1500");
        }
        StrictElement bandwidth = nic.child("bandwidth", t);
        if (bandwidth != null && !bandwidth.isEmpty()) {
            bandwidth.markWhole();
            t.refuse(bandwidth.path(), "");
        }
        StrictElement boot = nic.child("boot", t);
        if (boot != null) {
            boot.markWhole();
            t.refuse(boot.path(), "the VM does not boot from the network");
        }
    }

    private void serial(StrictElement serial) {
        serials++;
        if (serials > 1) {
            serial.identify(String.valueOf(serials));
            serial.markWhole();
            t.refuse(serial.path(), "the VM has one serial port (ttyS0)");
            return;
        }
        String type = serial.attribute("type");
        if (!type.equals("pty") && !type.equals("file")) {
            serial.markWhole();
            t.refuse(serial.attributePath("type"), "the serial port is pty or file; Romulus writes it to its console"
                    + " log");
            return;
        }
        StrictElement source = serial.child("source", t);
        if (source != null) {
            source.attribute("path");
            if (type.equals("file")) {
                source.attribute("append");
            }
        }
        StrictElement target = serial.child("target", t);
        if (target != null) {
            serialTarget(target, "isa-serial");
            StrictElement model = target.child("model", t);
            if (model != null && !model.attribute("name").equals("isa-serial")) {
                t.refuse(model.attributePath("name"), "the serial port is an isa-serial");
            }
        }
        consoleNote();
    }

    private void console(StrictElement c) {
        consoles++;
        if (consoles > 1) {
            c.identify(String.valueOf(consoles));
            c.markWhole();
            t.refuse(c.path(), "the VM has one console, its serial port ttyS0");
            return;
        }
        String type = c.attribute("type");
        if (!type.equals("pty") && !type.equals("file")) {
            c.markWhole();
            t.refuse(c.attributePath("type"), "the console is the serial port, pty or file, which Romulus writes to"
                    + " its console log");
            return;
        }
        c.attribute("tty");
        StrictElement source = c.child("source", t);
        if (source != null) {
            source.attribute("path");
            if (type.equals("file")) {
                source.attribute("append");
            }
        }
        StrictElement target = c.child("target", t);
        if (target != null) {
            serialTarget(target, "serial");
        }
        consoleNote();
    }

    private void serialTarget(StrictElement target, String type) {
        String given = target.attribute("type");
        if (!given.isEmpty() && !given.equals(type)) {
            t.refuse(target.attributePath("type"), "the console is the serial port ttyS0 (" + type + ")");
        }
        String port = target.attribute("port");
        if (!port.isEmpty() && !port.equals("0")) {
            t.refuse(target.attributePath("port"), "the console is the serial port ttyS0 (port 0)");
        }
    }

    private void consoleNote() {
        console = true;
        t.note("domain/devices/serial and console: the VM's serial port ttyS0 is written to Romulus' console log"
                + " file, not to libvirt's pty or file");
    }

    private void controller(StrictElement controller) {
        String type = controller.attribute("type");
        controller.identify(type);
        switch (type) {
            case "pci" -> {
                String model = controller.attribute("model");
                if (!PCI_MODELS.contains(model)) {
                    controller.markWhole();
                    t.refuse(controller.attributePath("model"), "the PCI controllers are pci-root, pcie-root and"
                            + " pcie-root-port");
                    return;
                }
            }
            case "ide", "sata" -> {
                // the machine's own
            }
            case "usb" -> t.note("domain/devices/controller[usb] is not used: the VM is given no USB devices");
            case "virtio-serial" -> t.note("domain/devices/controller[virtio-serial] is not used: the VM is given no"
                    + " virtio-serial ports");
            case "scsi" -> {
                controller.markWhole();
                t.refuse(controller.path(), "give the disks bus virtio, sata or ide");
                return;
            }
            default -> {
                controller.markWhole();
                t.refuse(controller.path(), "");
                return;
            }
        }
        controller.markWhole();
        t.note("domain/devices/controller is not used: Romulus puts the VM's devices on the machine's buses itself");
    }

    private void input(StrictElement input) {
        String type = input.attribute("type");
        String bus = input.attribute("bus");
        input.identify(type);
        input.markWhole();
        if ((type.equals("mouse") || type.equals("keyboard")) && (bus.isEmpty() || bus.equals("ps2"))) {
            t.note("domain/devices/input (PS/2 mouse and keyboard) is not used: they are built into the machine");
        } else if (type.equals("tablet") || bus.equals("usb")) {
            t.note("domain/devices/input[" + type + "] is not provided: the VM has no display and no USB devices");
        } else if (type.equals("mouse") || type.equals("keyboard")) {
            t.refuse(input.attributePath("bus"), "the mouse and keyboard are the machine's PS/2 ones");
        } else {
            t.refuse(input.attributePath("type"), "");
        }
    }

    private void memballoon(StrictElement balloon) {
        if (!balloon.attribute("model").equals("none")) {
            balloon.markWhole();
            t.refuse(balloon.attributePath("model"), "ballooning is not supported; use <memballoon model='none'/>");
        }
    }
}
