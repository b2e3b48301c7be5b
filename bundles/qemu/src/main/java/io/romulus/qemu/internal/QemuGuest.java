package io.romulus.qemu.internal;

import java.util.List;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.qemu.internal.vm.VmDefinition;

/**
 * A QEMU guest this node runs: its process, the machine it is, how this host runs it, and its disks as this node
 * serves them (NBD exports), in the order of {@code vm.disks()}.
 */
record QemuGuest(DomainId id, QemuProcess process, VmDefinition vm, QemuSettings settings, List<GuestDisk> disks) {

    QemuGuest {
        disks = List.copyOf(disks);
    }
}
