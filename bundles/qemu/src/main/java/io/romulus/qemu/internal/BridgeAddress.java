package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import io.romulus.api.hypervisor.HypervisorException;

/**
 * Whether a host bridge that guests' taps join has a MAC address of its own. A Linux bridge given none takes the
 * lowest of its ports' addresses and changes it whenever a port with a lower one joins or leaves: a guest's tap, at
 * every start, failover and switchover. The host's own IP address usually lives on that bridge, and its peers go on
 * sending to the old MAC address until they resolve it again: a connection that only they send on (a switchover's
 * stream back, in its handshake) stalls for seconds. The kernel tells which it is in {@code addr_assign_type}: 3
 * ({@code NET_ADDR_SET}) once user space set the address (systemd-networkd and ifupdown bridges usually have one).
 */
final class BridgeAddress {

    private static final String SET_BY_USER_SPACE = "3";

    private BridgeAddress() {
    }

    /**
     * Why {@code bridge} of network namespace {@code netns} (empty: this node's own) needs a MAC address of its own, or
     * empty when it has one.
     *
     * @throws HypervisorException if there is no such bridge or its address cannot be read
     */
    static Optional<String> unfixed(String netns, String bridge) throws HypervisorException, InterruptedException {
        String file = "/sys/class/net/" + bridge + "/addr_assign_type";
        String type;
        if (netns.isEmpty()) {
            try {
                type = Files.readString(Path.of(file), StandardCharsets.US_ASCII).trim();
            } catch (IOException e) {
                throw new HypervisorException("cannot read " + file + ": " + e.getMessage(), e);
            }
        } else { // sysfs shows the namespace it was mounted in: ip netns exec mounts the namespace's own
            type = QemuProcess.run(List.of("ip", "netns", "exec", netns, "cat", file), 10);
        }
        if (type.equals(SET_BY_USER_SPACE)) {
            return Optional.empty();
        }
        return Optional.of("bridge " + bridge + (netns.isEmpty() ? "" : " of network namespace " + netns)
                + " has no MAC address of its own (addr_assign_type " + type + "): it takes the lowest of its ports' "
                + "and changes it when a guest's tap joins or leaves it, and connections to this host's address on it "
                + "then stall until its peers resolve it again (a switchover's stream back for seconds). Give it one, "
                + "e.g. ip link set " + bridge + " address <its address now> (systemd-networkd: MACAddress= in its "
                + ".netdev); see docs/install.md");
    }
}
