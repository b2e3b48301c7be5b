package io.romulus.api.hypervisor;

/**
 * A network interface of a protected domain, as the host sees it: the thing output commit attaches to.
 *
 * @param name       the guest-side name or index, for example {@code net0}
 * @param mac        the guest's MAC address, {@code aa:bb:cc:dd:ee:ff}
 * @param kind       how the host side is realised: {@code tap}, {@code vif}, or {@code sim} for a synthetic NIC
 * @param hostDevice the host device (tap or vif name), or the synthetic NIC's key for {@code sim}
 * @param netns      the network namespace the host device lives in, or {@code null} for the current one
 */
public record GuestInterface(String name, String mac, String kind, String hostDevice, String netns) {
}
