package io.romulus.qemu.internal;

import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.qemu.internal.vm.VmDefinition;
import io.romulus.qemu.internal.vm.VmDisk;

/**
 * The machine of a clone started from a replica (scale-out): the replica's own, of which only the {@code bridge} may
 * differ. A clone resumes the guest as it runs at the replica's epoch; it does not boot. So its machine (memory,
 * vCPUs, NIC, MAC) must fit the device state, and what the guest took from its kernel command line when it booted
 * (ip, port, workload) it keeps: overriding those is refused by name rather than silently ignored. A guest with a
 * disk has none: its disk is not part of the replica.
 *
 * <p>It decides what the clone runs only; copying the replica is {@link QemuReplica#fork}'s, starting the clone
 * {@link QemuGuests#startClone}'s.
 */
final class CloneDefinition {

    private CloneDefinition() {
    }

    /**
     * The machine of {@code clone}, a clone of {@code replica} (which runs {@code vm}), with {@code overrides};
     * refuses a clone that is no QEMU guest, has the replica's name, is of a guest with a disk, or overrides more
     * than its bridge.
     */
    static VmDefinition of(DomainId replica, VmDefinition vm, DomainId clone, Map<String, String> overrides)
            throws HypervisorException {
        if (!QemuHypervisor.BINDING.equals(clone.binding())) {
            throw new HypervisorException("a clone of " + replica + " is a QEMU guest (qemu:NAME), not " + clone);
        }
        if (clone.equals(replica)) {
            throw new HypervisorException("a clone of " + replica + " needs a name of its own");
        }
        if (!vm.disks().isEmpty()) {
            throw new HypervisorException("cloning a guest with a disk is not supported: its disk(s) ("
                    + String.join(", ", vm.disks().stream().map(VmDisk::dev).toList()) + ") are replicated apart "
                    + "from its replica, which has no copy of them for " + clone);
        }
        Set<String> refused = new TreeSet<>(overrides.keySet());
        refused.remove("bridge");
        if (!refused.isEmpty()) {
            throw new HypervisorException("cannot start " + clone + " from the replica of " + replica + " with "
                    + "other " + String.join(", ", refused) + ": a clone resumes the guest as it runs at the replica's "
                    + "epoch, it does not boot, so its machine and what it took when it booted are the replica's ("
                    + vm.toMap() + "); a clone may override bridge only");
        }
        try {
            return overrides.containsKey("bridge") ? vm.withBridge(overrides.get("bridge")) : vm;
        } catch (IllegalArgumentException e) {
            throw new HypervisorException("cannot start " + clone + " from the replica of " + replica + ": "
                    + e.getMessage(), e);
        }
    }
}
