package io.romulus.api.hypervisor;

import java.nio.ByteBuffer;

/**
 * One complete, verified epoch, as the backup applies it to its replica.
 *
 * @param epoch       the epoch number
 * @param pfns        page frame numbers of the pages in this epoch; only the first {@code pageCount} are valid
 * @param pageCount   number of pages
 * @param pages       page contents, {@code pageCount * pageSize} bytes from position 0, in {@code pfns} order
 * @param deviceState the opaque device state captured at the end of the epoch
 */
public record CommittedEpoch(long epoch, long[] pfns, int pageCount, ByteBuffer pages, byte[] deviceState) {
}
