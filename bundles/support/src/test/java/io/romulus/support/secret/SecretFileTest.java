package io.romulus.support.secret;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SecretFileTest {

    @TempDir
    Path dir;

    @Test
    void createsThenReadsTheSameSecret() throws Exception {
        Path file = dir.resolve("etc/stream.secret");
        byte[] first = SecretFile.loadOrCreate(file);
        assertEquals(SecretFile.NEW_SECRET_BYTES, first.length);
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        assertArrayEquals(first, SecretFile.loadOrCreate(file));
        try (var left = Files.list(file.getParent())) {
            assertEquals(1, left.count(), "no temporary file is left behind");
        }
    }

    @Test
    void componentsStartingTogetherReadOneWholeSecret() throws Exception {
        for (int round = 0; round < 20; round++) {
            Path file = dir.resolve("race-" + round + ".secret");
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<byte[]>> reads = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    reads.add(pool.submit((Callable<byte[]>) () -> SecretFile.loadOrCreate(file)));
                }
                byte[] first = reads.get(0).get();
                for (Future<byte[]> r : reads) {
                    assertArrayEquals(first, r.get());
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void refusesAShortOrGarbledSecret() throws Exception {
        Path shortOne = Files.writeString(dir.resolve("short"), "AAAA\n");
        assertThrows(java.io.IOException.class, () -> SecretFile.loadOrCreate(shortOne));
        Path garbled = Files.writeString(dir.resolve("garbled"), "not base64 !!\n");
        assertThrows(java.io.IOException.class, () -> SecretFile.loadOrCreate(garbled));
    }
}
