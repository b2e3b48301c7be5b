package io.romulus.api.hypervisor;

/**
 * A disk of a protected domain, as the host sees it: the thing disk replication attaches to.
 *
 * @param name      the guest-side name, for example {@code vda}
 * @param kind      {@code file}, {@code nbd}, {@code drbd}
 * @param source    the host path or URI of the backing store
 * @param sizeBytes size of the disk
 */
public record GuestDisk(String name, String kind, String source, long sizeBytes) {
}
