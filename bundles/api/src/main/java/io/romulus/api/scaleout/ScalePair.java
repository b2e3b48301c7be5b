package io.romulus.api.scaleout;

/**
 * One primary–backup pair of a scaled-out domain.
 *
 * @param origin     the domain that was scaled ({@code qemu:demo})
 * @param pair       1 for the domain itself, 2.. for its clones
 * @param domain     the pair's domain ({@code qemu:demo} or {@code qemu:demo-p2})
 * @param server     the balancer's server for the pair ({@code backend/server})
 * @param address    where the balancer sends the pair's requests ({@code host:port})
 * @param balancer   the server's state in the balancer (for HAProxy: {@code UP}, {@code DOWN}, {@code MAINT},
 *                   {@code DRAIN}), or {@code -} when it has none
 * @param protection the pair's protection on this node ({@code PRIMARY PROTECTED}, ...), or {@code -} when this
 *                   node has no part in it
 */
public record ScalePair(String origin, int pair, String domain, String server, String address, String balancer,
        String protection) {
}
