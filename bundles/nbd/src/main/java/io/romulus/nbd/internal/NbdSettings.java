package io.romulus.nbd.internal;

import java.nio.file.Path;

/**
 * The NBD disk's settings, usable without OSGi.
 *
 * @param socketDir       directory of the NBD server's unix socket
 * @param imageDir        where a backup keeps its copies of the protected disks
 * @param initialChunkKib size of the initial copy's chunks, KiB
 */
public record NbdSettings(Path socketDir, Path imageDir, int initialChunkKib) {

    public static final String DEFAULT_SOCKET_DIR = "/run/romulus/nbd";
    public static final String DEFAULT_IMAGE_DIR = "/var/lib/romulus/disks";
    public static final int DEFAULT_INITIAL_CHUNK_KIB = 1024;
    /** The socket's file name in {@link #socketDir}. */
    public static final String SOCKET_NAME = "nbd.sock";
    /** A unix socket path is at most 107 bytes on Linux. */
    private static final int MAX_SOCKET_PATH = 107;

    public NbdSettings {
        if (socketDir == null || socketDir.toString().isBlank()) {
            throw new IllegalArgumentException("socket.dir must not be empty");
        }
        if (imageDir == null || imageDir.toString().isBlank()) {
            throw new IllegalArgumentException("image.dir must not be empty");
        }
        socketDir = socketDir.toAbsolutePath().normalize();
        imageDir = imageDir.toAbsolutePath().normalize();
        if (socketDir.resolve(SOCKET_NAME).toString().length() > MAX_SOCKET_PATH) {
            throw new IllegalArgumentException("socket.dir is too long for a unix socket path (at most "
                    + (MAX_SOCKET_PATH - SOCKET_NAME.length() - 1) + " characters): " + socketDir);
        }
        if (initialChunkKib < 4 || initialChunkKib > 32768) {
            throw new IllegalArgumentException("initial.chunk.kib must be 4-32768, not " + initialChunkKib);
        }
    }

    /** The defaults. */
    public static NbdSettings defaults() {
        return new NbdSettings(Path.of(DEFAULT_SOCKET_DIR), Path.of(DEFAULT_IMAGE_DIR), DEFAULT_INITIAL_CHUNK_KIB);
    }

    /** From the OSGi configuration. */
    public static NbdSettings of(NbdConfig c) {
        return new NbdSettings(Path.of(c.socket_dir().strip()), Path.of(c.image_dir().strip()),
                c.initial_chunk_kib());
    }

    /** The NBD server's socket. */
    public Path socket() {
        return socketDir.resolve(SOCKET_NAME);
    }

    /** The initial copy's chunk size in bytes. */
    public int initialChunkBytes() {
        return initialChunkKib << 10;
    }
}
