package io.romulus.api.netbuf;

/**
 * Counters of one output buffer.
 *
 * @param implementation     {@code plug}, {@code nfqueue}, {@code sim}
 * @param packetsQueued      packets held so far
 * @param bytesQueued        bytes held so far
 * @param packetsReleased    packets released
 * @param bytesReleased      bytes released
 * @param packetsDropped     packets dropped (discard, overflow)
 * @param epochsOutstanding  sealed epochs not yet released
 */
public record OutputBufferStats(String implementation, long packetsQueued, long bytesQueued, long packetsReleased,
        long bytesReleased, long packetsDropped, long epochsOutstanding) {
}
