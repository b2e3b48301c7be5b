package io.romulus.api.transport;

/**
 * The end of one epoch on the stream.
 *
 * @param epoch            the epoch
 * @param pageCount        pages sent in the epoch
 * @param deviceStateBytes bytes of device state sent in the epoch
 * @param diskWriteCount   disk writes sent in the epoch
 * @param checksum         CRC32C over the decoded content: each page's pfn (8 bytes, big-endian) and data in
 *                         order, then the device state
 * @param initial          whether this ends the initial full copy (epoch 0), which is not a checkpoint
 */
public record EpochEnd(long epoch, int pageCount, int deviceStateBytes, int diskWriteCount, int checksum,
        boolean initial) {
}
