package io.romulus.qemu.internal;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;

/**
 * A QEMU guest this node runs: its process, what it is, how this host runs it, and its disk (an NBD export of this
 * node, or {@code null}).
 */
record QemuGuest(DomainId id, QemuProcess process, GuestOptions options, QemuSettings settings, GuestDisk disk) {
}
