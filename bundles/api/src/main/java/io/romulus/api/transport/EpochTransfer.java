package io.romulus.api.transport;

/**
 * What sending one epoch cost.
 *
 * @param rawBytes  bytes of page data, device state and disk writes before encoding
 * @param wireBytes bytes written to the connection, framing included
 */
public record EpochTransfer(long rawBytes, long wireBytes) {

    /** Raw over wire bytes; above 1 when encoding saved bytes. */
    public double compressionRatio() {
        return wireBytes == 0 ? 1.0 : (double) rawBytes / wireBytes;
    }
}
