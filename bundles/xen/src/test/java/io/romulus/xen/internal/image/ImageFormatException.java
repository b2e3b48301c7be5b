package io.romulus.xen.internal.image;

/** A Xen domain save image breaks the specification (or what restore checks) at a given file offset. */
public final class ImageFormatException extends Exception {

    private final long offset;

    public ImageFormatException(long offset, String problem) {
        super(String.format("offset %d (0x%x): %s", offset, offset, problem));
        this.offset = offset;
    }

    /** Where in the file the offending field starts. */
    public long offset() {
        return offset;
    }
}
