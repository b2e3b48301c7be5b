package io.romulus.qemu.internal.definition;

import java.util.List;
import java.util.regex.Pattern;

/**
 * Translates a domain's {@code <os>}: the machine ({@code pc} for i440FX, {@code q35}), an x86_64 full virtual
 * machine, and either a direct kernel boot or SeaBIOS booting the first disk. UEFI, other boot devices, a boot menu
 * and SMBIOS settings are refused.
 */
final class BootTranslator {

    private static final Pattern MACHINE_PC = Pattern.compile("pc|pc-i440fx-[0-9][0-9a-z.-]*");
    private static final Pattern MACHINE_Q35 = Pattern.compile("q35|pc-q35-[0-9][0-9a-z.-]*");
    private static final String BIOS_ONLY = "only BIOS (SeaBIOS) boot and direct kernel boot are supported";

    private final StrictElement domain;
    private final Translation t;

    BootTranslator(StrictElement domain, Translation t) {
        this.domain = domain;
        this.t = t;
    }

    /**
     * Sets {@code machine}, and {@code kernel}, {@code initrd}, {@code cmdline} for a direct kernel boot.
     *
     * @return whether the VM boots a kernel directly (else SeaBIOS boots its first disk)
     */
    boolean translate() {
        StrictElement os = domain.child("os", t);
        if (os == null) {
            t.problem("domain/os is missing: the VM needs <os><type arch='x86_64' machine='pc'>hvm</type></os>");
            return false;
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
        return direct;
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
}
