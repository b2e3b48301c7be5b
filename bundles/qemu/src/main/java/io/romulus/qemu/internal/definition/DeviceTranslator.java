package io.romulus.qemu.internal.definition;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Translates a domain's {@code <devices>}: its disks through {@link DiskTranslator}, its NICs through
 * {@link NicTranslator}, and its serial console ({@code serial}) itself; controllers, PS/2 input, display and the
 * like are accepted with a note, every other device is refused by its path.
 */
final class DeviceTranslator {

    private static final Set<String> PCI_MODELS = Set.of("pci-root", "pcie-root", "pcie-root-port");
    private static final String NO_DISPLAY = " is not used: Romulus runs the VM without a display; use the serial"
            + " console";

    private final StrictElement devices;
    private final Translation t;
    private final DiskTranslator disks;
    private final NicTranslator nics;
    private int serials;
    private int consoles;
    private boolean console;

    /**
     * @param devices the {@code <devices>} element, or null when the domain has none
     */
    DeviceTranslator(StrictElement devices, Translation t) {
        this.devices = devices;
        this.t = t;
        this.disks = new DiskTranslator(t);
        this.nics = new NicTranslator(t);
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
        put("disk", disks.disks());
        put("nic", nics.nics());
        if (console) {
            t.put("serial", "ttyS0");
        }
        disks.checkBoot(kernel);
    }

    private void translate(StrictElement device) {
        switch (device.tag()) {
            case "disk" -> disks.add(device);
            case "interface" -> nics.add(device);
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
