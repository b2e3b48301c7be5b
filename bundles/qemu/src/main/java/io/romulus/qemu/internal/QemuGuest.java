package io.romulus.qemu.internal;

import io.romulus.api.hypervisor.DomainId;

/** A QEMU guest this node runs: its process, what it is, and how this host runs it. */
record QemuGuest(DomainId id, QemuProcess process, GuestOptions options, QemuSettings settings) {
}
