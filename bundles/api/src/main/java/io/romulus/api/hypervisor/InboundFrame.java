package io.romulus.api.hypervisor;

/**
 * An Ethernet frame the host sent towards a domain's guest, as the guest would have read it from its NIC: kept by the
 * old primary of a planned switchover while its copy was paused for good, carried to the new primary in the
 * hand-over and given to the guest there ({@link ProtectedDomain#keepInbound()}).
 *
 * @param nic   the NIC it came on: its index in the domain's {@link ProtectedDomain#networkInterfaces()}
 * @param frame the whole frame, from the destination MAC address on, without the checksum
 * @since 1.11
 */
public record InboundFrame(int nic, byte[] frame) {

    public InboundFrame {
        if (nic < 0) {
            throw new IllegalArgumentException("NIC index " + nic);
        }
        if (frame.length == 0) {
            throw new IllegalArgumentException("an empty frame");
        }
    }
}
