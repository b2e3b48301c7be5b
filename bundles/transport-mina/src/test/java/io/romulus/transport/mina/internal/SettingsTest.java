package io.romulus.transport.mina.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SettingsTest {

    @TempDir
    Path dir;

    @Test
    void secretFileResolvesKarafEtc() throws IOException {
        String old = System.getProperty("karaf.etc");
        System.setProperty("karaf.etc", dir.toString());
        try {
            assertEquals(dir.resolve("romulus-stream.secret"),
                    MinaCheckpointTransport.resolveSecretFile("${karaf.etc}/romulus-stream.secret"));
            assertEquals(dir.resolve("romulus-stream.secret"), MinaCheckpointTransport.resolveSecretFile(""));
        } finally {
            if (old == null) {
                System.clearProperty("karaf.etc");
            } else {
                System.setProperty("karaf.etc", old);
            }
        }
        assertEquals(Path.of("/srv/s"), MinaCheckpointTransport.resolveSecretFile("/srv/s"));
    }

    @Test
    void secretFileThatIsNotBase64IsRefusedClearly() throws IOException {
        Path f = dir.resolve("bad.secret");
        Files.writeString(f, "not base64 !!!");
        IOException e = assertThrows(IOException.class, () -> SharedSecret.loadOrCreate(f));
        assertTrue(e.getMessage().contains("does not hold base64 text"), e.getMessage());
    }

    @Test
    void nonsenseSettingsAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TransportSettings.defaults().withMaxRecordBytes(10));
        assertTrue(e.getMessage().contains("max.record.bytes"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TransportSettings.defaults().withListen("x", 70000));
        assertThrows(IllegalArgumentException.class, () -> TransportSettings.defaults().withHighWatermark(0));
    }

    @Test
    void tlsIsVersion13UnlessTls12IsAddedAndNothingOlder() {
        assertEquals(List.of("TLSv1.3"), TransportSettings.defaults().tlsProtocols());
        assertEquals(List.of("TLSv1.3", "TLSv1.2"), TransportSettings.defaults()
                .withTlsProtocols(TransportSettings.tlsProtocols(" TLSv1.3, TLSv1.2")).tlsProtocols());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TransportSettings.defaults().withTlsProtocols(List.of("TLSv1.3", "TLSv1.1")));
        assertTrue(e.getMessage().contains("tls.protocols: TLSv1.1 is not one of [TLSv1.3, TLSv1.2]"), e.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> TransportSettings.defaults().withTlsProtocols(TransportSettings.tlsProtocols(" ")));
    }
}
