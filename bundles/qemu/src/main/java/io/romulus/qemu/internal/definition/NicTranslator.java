package io.romulus.qemu.internal.definition;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Translates a domain's {@code <interface>}s, numbered from 0 in document order, into {@code nic.N.model},
 * {@code .mac} and {@code .bridge}. Only a tap on a host bridge ({@code type='bridge'}) with a MAC address of its own
 * is accepted: a replicated VM keeps its MAC address on failover.
 */
final class NicTranslator {

    private static final Pattern MAC = Pattern.compile("[0-9a-f]{2}(:[0-9a-f]{2}){5}");
    /** A Linux interface name: at most 15 characters (IFNAMSIZ - 1), none of them '/', ':' or white space. */
    private static final Pattern IFNAME = Pattern.compile("[A-Za-z0-9_.-]{1,15}");

    private final Translation t;
    private final List<Map<String, String>> nics = new ArrayList<>();
    private int nicElements;

    NicTranslator(Translation t) {
        this.t = t;
    }

    /** The accepted NICs' options, without their {@code nic.N.} prefix, in their order. */
    List<Map<String, String>> nics() {
        return nics;
    }

    /** Translates one {@code <interface>}; an accepted one gets the next number. */
    void add(StrictElement nic) {
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
}
