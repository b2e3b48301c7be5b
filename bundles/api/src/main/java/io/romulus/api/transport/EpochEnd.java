package io.romulus.api.transport;

/**
 * The end of one epoch on the stream.
 *
 * @param epoch            the epoch
 * @param pageCount        pages sent in the epoch
 * @param deviceStateBytes bytes of device state sent in the epoch
 * @param diskWriteCount   disk writes sent in the epoch, as they travel (a transport may split a long write into
 *                         several of consecutive ranges)
 * @param checksum         CRC32C over the decoded content of the epoch in stream order: each page's pfn (8 bytes,
 *                         big-endian) and data, the device state, and each disk write's disk index (4 bytes),
 *                         offset (8 bytes) and length (4 bytes), big-endian, and its data
 * @param initial          whether this ends the initial full copy (epoch 0), which is not a checkpoint
 */
public record EpochEnd(long epoch, int pageCount, int deviceStateBytes, int diskWriteCount, int checksum,
        boolean initial) {
}
