package io.romulus.qemu.internal.dirty;

/**
 * Where a process maps a file: the virtual address range, the file offset it starts at, and whether the
 * mapping is shared (writes reach the file) or private.
 */
public record RamMapping(long start, long length, long fileOffset, boolean shared) {

    public long end() {
        return start + length;
    }

    @Override
    public String toString() {
        return String.format("[0x%x, 0x%x) offset 0x%x %s", start, end(), fileOffset, shared ? "shared" : "private");
    }
}
