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
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
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

/**
 * TLS 1.3 with mutual authentication and the peer's node id checked against its certificate. The certificates are made
 * here with the JDK's keytool: a test CA, certificates it signs for the node ids {@code primary} and
 * {@code backup-node} (the id {@link RecordingSink} answers with) and for a third node {@code node-c} (signed by the
 * same CA, so trusted, but for another node), and a self-signed {@code rogue} that nobody trusts.
 */
class TlsTransportTest {

    private static final String PASS = "changeit";
    private static final int PAGE = 4096;
    private static final String BACKUP_ID = "backup-node";

    @TempDir
    static Path dir;

    private final List<MinaCheckpointTransport> transports = new ArrayList<>();

    @BeforeAll
    static void keystores() throws Exception {
        keytool("-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname", "secp256r1", "-dname",
                "CN=romulus test CA", "-ext", "bc:c", "-validity", "2", "-storetype", "PKCS12", "-keystore",
                file("ca.p12"), "-storepass", PASS, "-keypass", PASS);
        Certificate ca = load("ca.p12").getCertificate("ca");
        for (String node : List.of("primary", BACKUP_ID, "node-c")) {
            // keytool signs with a key of the same key store: the node's starts as a copy of the CA's, which then
            // leaves it
            Files.copy(dir.resolve("ca.p12"), dir.resolve(node + ".p12"));
            keytool("-genkeypair", "-alias", node, "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=" + node,
                    "-ext", "SAN=dns:" + node, "-signer", "ca", "-signerkeypass", PASS, "-validity", "2",
                    "-keystore", file(node + ".p12"), "-storepass", PASS, "-keypass", PASS);
            KeyStore ks = load(node + ".p12");
            ks.deleteEntry("ca");
            store(ks, node + ".p12");
        }
        store(trusting(Map.of("ca", ca)), "trust.p12");
        // the rogue's certificate is self-signed (for both node ids) and trusted by nobody but the rogue
        keytool("-genkeypair", "-alias", "rogue", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=primary",
                "-ext", "SAN=dns:primary,dns:" + BACKUP_ID, "-validity", "2", "-storetype", "PKCS12", "-keystore",
                file("rogue.p12"), "-storepass", PASS, "-keypass", PASS);
        store(trusting(Map.of("ca", ca, "rogue", load("rogue.p12").getCertificate("rogue"))), "rogue-trust.p12");
    }

    private static String file(String name) {
        return dir.resolve(name).toString();
    }

    private static KeyStore load(String name) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(dir.resolve(name))) {
            ks.load(in, PASS.toCharArray());
        }
        return ks;
    }

    private static KeyStore trusting(Map<String, Certificate> certificates) throws Exception {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        for (Map.Entry<String, Certificate> e : certificates.entrySet()) {
            ks.setCertificateEntry(e.getKey(), e.getValue());
        }
        return ks;
    }

    private static void store(KeyStore ks, String name) throws Exception {
        try (OutputStream out = Files.newOutputStream(dir.resolve(name))) {
            ks.store(out, PASS.toCharArray());
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
        return start(keystore, truststore, listen, TransportSettings.DEFAULT_TLS_PROTOCOLS);
    }

    /** The backup (listening) answers as {@value #BACKUP_ID}, the primary as {@code primary}. */
    private MinaCheckpointTransport start(String keystore, String truststore, boolean listen, List<String> protocols)
            throws IOException {
        TransportSettings s = TransportSettings.defaults().withListen(listen ? "127.0.0.1" : null, 0)
                .withNodeId(listen ? BACKUP_ID : "primary").withConnectTimeoutMs(5000)
                .withTls(dir.resolve(keystore + ".p12"), PASS, dir.resolve(truststore + ".p12"), PASS)
                .withTlsProtocols(protocols);
        MinaCheckpointTransport t = MinaCheckpointTransport.create(s);
        transports.add(t);
        return t;
    }

    private static Hello hello() {
        return new Hello("primary", "sim:tls", "sim", 1 << 20, PAGE, Map.of());
    }

    /** A listening node with key store {@code keystore}, whose streams go to {@code sink}. */
    private MinaCheckpointTransport backup(String keystore, String truststore, RecordingSink sink,
            List<String> protocols) throws IOException {
        MinaCheckpointTransport backup = start(keystore, truststore, true, protocols);
        backup.setAcceptor(sink);
        return backup;
    }

    private MinaCheckpointTransport backup(String keystore, String truststore, RecordingSink sink)
            throws IOException {
        return backup(keystore, truststore, sink, TransportSettings.DEFAULT_TLS_PROTOCOLS);
    }

    /** The stream from {@code primary} to {@code backup} does not come up; how it failed. */
    private static CheckpointException refused(MinaCheckpointTransport primary, MinaCheckpointTransport backup) {
        return assertThrows(CheckpointException.class, () -> primary.connect(backup.listenAddress(), hello(),
                new TransportTest.Acks()));
    }

    @Test
    void mutuallyAuthenticatedPeersStreamAnEpoch() throws Exception {
        RecordingSink sink = new RecordingSink(PAGE);
        MinaCheckpointTransport backup = backup(BACKUP_ID, "trust", sink);
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
                .withListen("127.0.0.1", 0).withNodeId(BACKUP_ID).withSecretFile(secret)
                .withTls(dir.resolve(BACKUP_ID + ".p12"), PASS, dir.resolve("trust.p12"), PASS));
        transports.add(backup);
        RecordingSink sink = new RecordingSink(PAGE);
        backup.setAcceptor(sink);
        MinaCheckpointTransport primary = MinaCheckpointTransport.create(TransportSettings.defaults()
                .withListen(null, 0).withNodeId("primary").withSecretFile(secret)
                .withTls(dir.resolve("primary.p12"), PASS, dir.resolve("trust.p12"), PASS));
        transports.add(primary);
        CheckpointChannel channel = primary.connect(backup.listenAddress(), hello(), new TransportTest.Acks());
        assertTrue(channel.isOpen());
        assertEquals(1, sink.accepted.get());
        channel.close();

        MinaCheckpointTransport wrongSecret = MinaCheckpointTransport.create(TransportSettings.defaults()
                .withListen(null, 0).withNodeId("primary").withSecretFile(dir.resolve("other.secret"))
                .withTls(dir.resolve("primary.p12"), PASS, dir.resolve("trust.p12"), PASS));
        transports.add(wrongSecret);
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> wrongSecret.connect(backup.listenAddress(), hello(), new TransportTest.Acks()));
        assertTrue(e.getMessage().contains("authentication failed"), e.getMessage());
        assertEquals(1, sink.accepted.get());
    }

    @Test
    void primaryWithoutATrustedCertificateIsRefused() throws Exception {
        RecordingSink sink = new RecordingSink(PAGE);
        MinaCheckpointTransport backup = backup(BACKUP_ID, "trust", sink);
        refused(start("rogue", "rogue-trust", false), backup);
        await().atMost(Duration.ofSeconds(5)).until(() -> backup.stats().rejectedConnections() == 1);
        assertEquals(0, sink.accepted.get(), "no sink for an unauthenticated peer");
    }

    @Test
    void backupWithoutATrustedCertificateIsRefused() throws Exception {
        RecordingSink sink = new RecordingSink(PAGE);
        refused(start("primary", "trust", false), backup("rogue", "rogue-trust", sink));
        assertEquals(0, sink.accepted.get());
    }

    @Test
    void aPeerOfferingOnlyTls12IsRefusedEitherWay() throws Exception {
        RecordingSink sink = new RecordingSink(PAGE);
        MinaCheckpointTransport old = start("primary", "trust", false, List.of("TLSv1.2"));
        refused(old, backup(BACKUP_ID, "trust", sink));
        refused(start("primary", "trust", false), backup(BACKUP_ID, "trust", sink, List.of("TLSv1.2")));
        assertEquals(0, sink.accepted.get(), "no stream over TLS 1.2 when TLS 1.3 is configured");
        // the same TLS 1.2 peer gets through where TLS 1.2 is allowed: what refused it above was the version
        MinaCheckpointTransport lenient = backup(BACKUP_ID, "trust", sink, List.of("TLSv1.3", "TLSv1.2"));
        old.connect(lenient.listenAddress(), hello(), new TransportTest.Acks()).close();
        assertEquals(1, sink.accepted.get());
    }

    @Test
    void aPrimaryWithTheCertificateOfAnotherNodeIsRefused() throws Exception {
        RecordingSink sink = new RecordingSink(PAGE);
        MinaCheckpointTransport backup = backup(BACKUP_ID, "trust", sink);
        // node-c's certificate is signed by the trusted CA, but the HELLO says the primary is node "primary"
        CheckpointException e = refused(start("node-c", "trust", false), backup);
        assertTrue(e.getMessage().contains("TLS peer identity: the peer announces node id 'primary' but its "
                + "certificate") && e.getMessage().contains("[node-c]"), e.getMessage());
        await().atMost(Duration.ofSeconds(5)).until(() -> backup.stats().rejectedConnections() == 1);
        assertEquals(0, sink.accepted.get(), "no sink for a primary that is not who it says");
    }

    @Test
    void aBackupWithTheCertificateOfAnotherNodeIsRefused() throws Exception {
        RecordingSink sink = new RecordingSink(PAGE);
        MinaCheckpointTransport primary = start("primary", "trust", false);
        // node-c's certificate is signed by the trusted CA, but the backup answers as BACKUP_ID
        CheckpointException e = refused(primary, backup("node-c", "trust", sink));
        assertTrue(e.getMessage().contains("TLS peer identity: the peer announces node id '" + BACKUP_ID + "'")
                && e.getMessage().contains("[node-c]"), e.getMessage());
        assertEquals(1, primary.stats().rejectedConnections());
        assertEquals(0, sink.accepted.get(), "the primary sent no proof and no page to the wrong node");
    }

    @Test
    void repeatedTls13HandshakesDoNotStall() throws Exception {
        RecordingSink sink = new RecordingSink(PAGE);
        MinaCheckpointTransport backup = backup(BACKUP_ID, "trust", sink);
        MinaCheckpointTransport primary = start("primary", "trust", false);
        for (int i = 1; i <= 20; i++) {
            primary.connect(backup.listenAddress(), hello(), new TransportTest.Acks()).close();
            assertEquals(i, sink.accepted.get());
        }
    }
}
