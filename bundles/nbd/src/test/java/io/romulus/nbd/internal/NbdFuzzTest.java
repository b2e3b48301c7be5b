package io.romulus.nbd.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Fuzzes the NBD server with what a client sends: the option negotiation and the requests of the transmission phase
 * ({@link NbdConnection}), against two exports of {@value #EXPORT_BYTES} bytes, one writable, one read-only. For every
 * input: no exception escapes the connection (a protocol violation ends it, as it does for a socket), the server's
 * first bytes are its greeting, no write or zeroing lands outside an export (the images keep their size) and the
 * read-only image is never changed. The seeds (.../NbdFuzzTestInputs/session/) are client sessions as qemu-nbd and
 * the kernel's nbd client speak them ({@link NbdSeeds}). Run by execution {@code fuzz} of the parent pom
 * (docs/developing.md).
 */
class NbdFuzzTest {

    static final int EXPORT_BYTES = 64 << 10;
    private static final Path DIR;
    private static final NbdServer SERVER;
    private static final byte[] READ_ONLY_DIGEST;

    static {
        try {
            // in memory when it can be: a FUA write or a flush syncs the image
            Path shm = Path.of("/dev/shm");
            DIR = Files.isDirectory(shm) ? Files.createTempDirectory(shm, "nbd-fuzz")
                    : Files.createTempDirectory("nbd-fuzz");
            SERVER = NbdServer.start(DIR.resolve("nbd.sock"));
            Path disk = DIR.resolve("disk0.img");
            Path readOnly = DIR.resolve("ro.img");
            // deleted in the reverse order: the files, then the directory
            for (Path p : new Path[] {DIR, DIR.resolve("nbd.sock"), disk, readOnly}) {
                p.toFile().deleteOnExit();
            }
            byte[] content = new byte[EXPORT_BYTES];
            for (int i = 0; i < content.length; i++) {
                content[i] = (byte) (i * 31);
            }
            Files.write(disk, new byte[EXPORT_BYTES]);
            Files.write(readOnly, content);
            READ_ONLY_DIGEST = digest(readOnly);
            SERVER.add(NbdExport.open("disk0", disk, false));
            SERVER.add(NbdExport.open("ro", readOnly, true));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @FuzzTest
    void session(byte[] input) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new NbdConnection(SERVER, new ByteArrayInputStream(input), out, () -> { }, 1).run();
        byte[] sent = out.toByteArray();
        ByteBuffer greeting = ByteBuffer.allocate(18).putLong(NbdProtocol.NBD_MAGIC).putLong(NbdProtocol.IHAVEOPT)
                .putShort((short) (NbdProtocol.FLAG_FIXED_NEWSTYLE | NbdProtocol.FLAG_NO_ZEROES));
        assertArrayEquals(greeting.array(), java.util.Arrays.copyOf(sent, 18));
        assertEquals(EXPORT_BYTES, Files.size(DIR.resolve("disk0.img")));
        assertEquals(EXPORT_BYTES, Files.size(DIR.resolve("ro.img")));
        assertArrayEquals(READ_ONLY_DIGEST, digest(DIR.resolve("ro.img")));
    }

    private static byte[] digest(Path file) throws IOException {
        try {
            return MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
