package io.romulus.api.disk;

/**
 * One write to a protected disk.
 *
 * @param offset byte offset in the disk
 * @param data   the bytes written
 */
public record DiskWrite(long offset, byte[] data) {
}
