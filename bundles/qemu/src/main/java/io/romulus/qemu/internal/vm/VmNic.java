package io.romulus.qemu.internal.vm;

import java.util.Locale;
import java.util.regex.Pattern;

/**
 * One network card of a VM (keys {@code nic.N.*}). Its host side is a tap that Romulus makes; the tap joins
 * {@code bridge} on whichever host runs the VM, or the host's configured bridge when empty. The MAC travels with the
 * VM: after a failover the network learns it from the backup host.
 *
 * @param model  {@code virtio} or {@code e1000}
 * @param mac    the card's MAC address, {@code aa:bb:cc:dd:ee:ff} in lower case
 * @param bridge the bridge its tap joins on every host, or empty for the host's ({@code bridge} of PID
 *               {@code io.romulus.qemu})
 */
public record VmNic(String model, String mac, String bridge) {

    private static final Pattern MAC = Pattern.compile("([0-9a-f]{2}:){5}[0-9a-f]{2}");
    /** A Linux interface name: at most 15 characters (IFNAMSIZ - 1), none of them '/', ':' or white space. */
    private static final Pattern IFNAME = Pattern.compile("[A-Za-z0-9_.-]{1,15}");

    public VmNic {
        model = model.toLowerCase(Locale.ROOT);
        mac = mac.toLowerCase(Locale.ROOT);
        bridge = bridge.trim();
        if (!model.equals("virtio") && !model.equals("e1000")) {
            throw new IllegalArgumentException("a NIC's model must be virtio or e1000, not '" + model + "'");
        }
        if (!MAC.matcher(mac).matches()) {
            throw new IllegalArgumentException("a NIC's mac must be written aa:bb:cc:dd:ee:ff, not '" + mac + "'");
        }
        if ((Integer.parseInt(mac.substring(0, 2), 16) & 1) != 0) {
            throw new IllegalArgumentException("a NIC's mac must be a unicast address (first byte even), not " + mac);
        }
        if (!bridge.isEmpty() && (!IFNAME.matcher(bridge).matches() || bridge.equals(".") || bridge.equals(".."))) {
            throw new IllegalArgumentException("a NIC's bridge must be empty (the host's) or an interface name of up to "
                    + "15 characters A-Z a-z 0-9 _ . -, not '" + bridge + "'");
        }
    }

    /** The QEMU device model. */
    public String device() {
        return model.equals("virtio") ? "virtio-net-pci" : "e1000";
    }

    public VmNic withBridge(String b) {
        return new VmNic(model, mac, b);
    }
}
