package io.romulus.transport.mina.internal;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.Hello;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TLS with mutual authentication, keystores made with the JDK's keytool. */
class TlsTransportTest {

    private static final String PASS = "changeit";
    private static final int PAGE = 4096;

    @TempDir
    static Path dir;

    private final List<MinaCheckpointTransport> transports = new ArrayList<>();

    @BeforeAll
    static void keystores() throws Exception {
        for (String node : List.of("backup", "primary", "rogue")) {
            keytool("-genkeypair", "-alias", node, "-keyalg", "EC", "-groupname", "secp256r1", "-dname",
                    "CN=" + node + ".romulus.test", "-validity", "2", "-storetype", "PKCS12", "-keystore",
                    dir.resolve(node + ".p12").toString(), "-storepass", PASS, "-keypass", PASS);
            keytool("-exportcert", "-alias", node, "-keystore", dir.resolve(node + ".p12").toString(), "-storepass",
                    PASS, "-file", dir.resolve(node + ".cer").toString());
        }
        for (String node : List.of("backup", "primary")) {
            keytool("-importcert", "-noprompt", "-alias", node, "-file", dir.resolve(node + ".cer").toString(),
                    "-storetype", "PKCS12", "-keystore", dir.resolve("trust.p12").toString(), "-storepass", PASS);
        }
        // the rogue trusts everyone, but nobody trusts it
        for (String node : List.of("backup", "primary", "rogue")) {
            keytool("-importcert", "-noprompt", "-alias", node, "-file", dir.resolve(node + ".cer").toString(),
                    "-storetype", "PKCS12", "-keystore", dir.resolve("rogue-trust.p12").toString(), "-storepass",
                    PASS);
        }
    }

    private static void keytool(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), "keytool " + String.join(" ", args) + ": " + out);
    }

    @AfterEach
    void close() {
        transports.forEach(MinaCheckpointTransport::close);
    }

    private MinaCheckpointTransport start(String keystore, String truststore, boolean listen) throws IOException {
        TransportSettings s = TransportSettings.defaults().withListen(listen ? "127.0.0.1" : null, 0)
                .withConnectTimeoutMs(5000)
                .withTls(dir.resolve(keystore + ".p12"), PASS, dir.resolve(truststore + ".p12"), PASS);
        MinaCheckpointTransport t = MinaCheckpointTransport.create(s);
        transports.add(t);
        return t;
    }

    private static Hello hello() {
        return new Hello("primary", "sim:tls", "sim", 1 << 20, PAGE, Map.of());
    }

    @Test
    void mutuallyAuthenticatedPeersStreamAnEpoch() throws Exception {
        MinaCheckpointTransport backup = start("backup", "trust", true);
        RecordingSink sink = new RecordingSink(PAGE);
        backup.setAcceptor(sink);
        MinaCheckpointTransport primary = start("primary", "trust", false);
        TransportTest.Acks acks = new TransportTest.Acks();
        CheckpointChannel channel = primary.connect(backup.listenAddress(), hello(), acks);
        byte[] data = new byte[8 * PAGE];
        new Random(1).nextBytes(data);
        long[] pfns = {0, 1, 2, 3, 4, 5, 6, 7};
        channel.sendPages(0, pfns, 0, 8, ByteBuffer.wrap(data));
        channel.endEpoch(0, true);
        await().atMost(Duration.ofSeconds(5)).until(() -> acks.acked.contains(0L));
        for (int i = 0; i < 8; i++) {
            byte[] expected = new byte[PAGE];
            System.arraycopy(data, i * PAGE, expected, 0, PAGE);
            assertArrayEquals(expected, sink.page(i));
        }
        channel.close();
    }

    @Test
    void tlsAndPreSharedSecretTogether() throws Exception {
        Path secret = dir.resolve("both.secret");
        MinaCheckpointTransport backup = MinaCheckpointTransport.create(TransportSettings.defaults()
                .withListen("127.0.0.1", 0).withSecretFile(secret)
                .withTls(dir.resolve("backup.p12"), PASS, dir.resolve("trust.p12"), PASS));
        transports.add(backup);
        RecordingSink sink = new RecordingSink(PAGE);
        backup.setAcceptor(sink);
        MinaCheckpointTransport primary = MinaCheckpointTransport.create(TransportSettings.defaults()
                .withListen(null, 0).withSecretFile(secret)
                .withTls(dir.resolve("primary.p12"), PASS, dir.resolve("trust.p12"), PASS));
        transports.add(primary);
        CheckpointChannel channel = primary.connect(backup.listenAddress(), hello(), new TransportTest.Acks());
        assertTrue(channel.isOpen());
        assertEquals(1, sink.accepted.get());
        channel.close();

        MinaCheckpointTransport wrongSecret = MinaCheckpointTransport.create(TransportSettings.defaults()
                .withListen(null, 0).withSecretFile(dir.resolve("other.secret"))
                .withTls(dir.resolve("primary.p12"), PASS, dir.resolve("trust.p12"), PASS));
        transports.add(wrongSecret);
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> wrongSecret.connect(backup.listenAddress(), hello(), new TransportTest.Acks()));
        assertTrue(e.getMessage().contains("authentication failed"), e.getMessage());
        assertEquals(1, sink.accepted.get());
    }

    @Test
    void primaryWithoutATrustedCertificateIsRefused() throws Exception {
        MinaCheckpointTransport backup = start("backup", "trust", true);
        RecordingSink sink = new RecordingSink(PAGE);
        backup.setAcceptor(sink);
        MinaCheckpointTransport rogue = start("rogue", "rogue-trust", false);
        assertThrows(CheckpointException.class, () -> rogue.connect(backup.listenAddress(), hello(),
                new TransportTest.Acks()));
        await().atMost(Duration.ofSeconds(5)).until(() -> backup.stats().rejectedConnections() == 1);
        assertEquals(0, sink.accepted.get(), "no sink for an unauthenticated peer");
    }

    @Test
    void backupWithoutATrustedCertificateIsRefused() throws Exception {
        MinaCheckpointTransport backup = start("rogue", "rogue-trust", true);
        RecordingSink sink = new RecordingSink(PAGE);
        backup.setAcceptor(sink);
        MinaCheckpointTransport primary = start("primary", "trust", false);
        assertThrows(CheckpointException.class, () -> primary.connect(backup.listenAddress(), hello(),
                new TransportTest.Acks()));
        assertEquals(0, sink.accepted.get());
    }
}
