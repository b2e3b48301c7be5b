package io.romulus.netbuf.internal;

import io.romulus.api.hypervisor.GuestInterface;

/**
 * Which guest interfaces are ordinary network devices of this host, whose ingress carries what the guest sends: a
 * QEMU guest's {@code tap} and a Xen domain's {@code vif} (netback's end of the guest's NIC, the device Remus
 * buffered). Both output buffers hold those.
 */
public final class HostDevices {

    private HostDevices() {
    }

    /** Whether {@code nic} is a tap or a vif. */
    public static boolean holdable(GuestInterface nic) {
        return "tap".equals(nic.kind()) || "vif".equals(nic.kind());
    }
}
