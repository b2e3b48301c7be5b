package io.romulus.transport.mina.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.romulus.api.transport.AckListener;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.DomainTakenOverException;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.RecordType;

/** What a peer that has not proved the pre-shared secret can and cannot make a node do. */
class PreAuthenticationTest {

    @TempDir
    Path dir;

    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : toClose) {
            c.close();
        }
    }

    private Path secret() throws IOException {
        Path p = dir.resolve("stream.secret");
        if (!Files.exists(p)) {
            Files.writeString(p, Base64.getEncoder().encodeToString(SharedSecret.nonce()));
        }
        return p;
    }

    private MinaCheckpointTransport start(TransportSettings s) throws IOException {
        MinaCheckpointTransport t = MinaCheckpointTransport.create(s);
        toClose.add(t);
        return t;
    }

    private static final AckListener IGNORE = new AckListener() {
        @Override
        public void acknowledged(long epoch) {
        }

        @Override
        public void closed(Throwable cause) {
        }
    };

    /** A "backup" that knows no secret and answers the primary's HELLO with {@code answer}. */
    private static CompletableFuture<Void> impostor(ServerSocket server, Record answer) {
        return CompletableFuture.runAsync(() -> {
            RecordCodec codec = new RecordCodec(RecordCodec.DEFAULT_MAX_RECORD_BYTES);
            try (Socket s = server.accept()) {
                DataInputStream in = new DataInputStream(s.getInputStream());
                byte[] header = new byte[RecordCodec.HEADER_BYTES];
                in.readFully(header);
                in.readFully(new byte[ByteBuffer.wrap(header).getInt(4) + RecordCodec.TRAILER_BYTES]);
                OutputStream out = s.getOutputStream();
                out.write(codec.encode(answer));
                out.flush();
                s.setSoTimeout(5000);
                while (in.read() >= 0) {
                    // until the primary hangs up
                }
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    @Test
    void anUnauthenticatedTakenOverNeverMakesThePrimaryGiveUpItsDomain() throws Exception {
        MinaCheckpointTransport primary = start(TransportSettings.defaults().withListen(null, 0)
                .withSecretFile(secret()).withConnectTimeoutMs(3000));
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<Void> done = impostor(server, Messages.error("vm runs here now", true));
            CheckpointException e = assertThrows(CheckpointException.class, () -> primary.connect(
                    (InetSocketAddress) server.getLocalSocketAddress(), hello(), IGNORE));
            assertFalse(e instanceof DomainTakenOverException, "an impostor's TAKEN_OVER is obeyed: " + e);
            assertTrue(e.getMessage().contains("refused before authenticating: vm runs here now"), e.getMessage());
            done.get(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void anyOtherRecordInsteadOfTheChallengeIsRefused() throws Exception {
        MinaCheckpointTransport primary = start(TransportSettings.defaults().withListen(null, 0)
                .withSecretFile(secret()).withConnectTimeoutMs(3000));
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<Void> done = impostor(server, Messages.ack(0));
            CheckpointException e = assertThrows(CheckpointException.class, () -> primary.connect(
                    (InetSocketAddress) server.getLocalSocketAddress(), hello(), IGNORE));
            assertTrue(e.getMessage().contains("expected the backup's HELLO, got ACK"), e.getMessage());
            done.get(5, TimeUnit.SECONDS);
        }
        assertEquals(1, primary.stats().rejectedConnections());
    }

    @Test
    void anOversizedRecordInsteadOfTheChallengeIsRefusedBeforeItIsBuffered() throws Exception {
        MinaCheckpointTransport primary = start(TransportSettings.defaults().withListen(null, 0)
                .withSecretFile(secret()).withConnectTimeoutMs(3000));
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<Void> done = impostor(server, new Record(RecordType.HELLO, Messages.HELLO_CHALLENGE, 0,
                    new byte[100_000]));
            CheckpointException e = assertThrows(CheckpointException.class, () -> primary.connect(
                    (InetSocketAddress) server.getLocalSocketAddress(), hello(), IGNORE));
            assertTrue(e.getMessage().contains("handshake.max.record.bytes=65536"), e.getMessage());
            done.get(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void oneAddressHoldsAtMostItsShareOfThePendingHandshakesAndAnotherStillGetsIn() throws Exception {
        MinaCheckpointTransport backup = backup(new TransportSettings.Limits(20_000, 20_000, 64, 16, 65536, 3));
        InetAddress attacker = InetAddress.getByName("127.0.0.2");
        List<Socket> idle = new ArrayList<>();
        try {
            for (int i = 0; i < 10; i++) {
                Socket s = new Socket(backup.listenAddress().getAddress(), backup.listenAddress().getPort(), attacker,
                        0);
                idle.add(s);
            }
            // 3 from 127.0.0.2 wait in their handshake, the other 7 are closed on arrival
            await().atMost(Duration.ofSeconds(10)).until(() -> backup.stats().refusedConnections() == 7);
            assertEquals(3, backup.connections().size(), "at most max.pending.handshakes.per.address held");
            // the primary, from another address, still completes its handshake while they wait
            MinaCheckpointTransport primary = start(TransportSettings.defaults().withListen(null, 0)
                    .withSecretFile(secret()));
            primary.connect(backup.listenAddress(), hello(), IGNORE).close();
        } finally {
            for (Socket s : idle) {
                s.close();
            }
        }
    }

    private MinaCheckpointTransport backup(TransportSettings.Limits limits) throws IOException {
        MinaCheckpointTransport backup = start(TransportSettings.defaults().withListen("127.0.0.1", 0)
                .withSecretFile(secret()).withLimits(limits));
        backup.setAcceptor(new RecordingSink(4096));
        return backup;
    }

    private static Socket connect(MinaCheckpointTransport backup) throws IOException {
        Socket s = new Socket(backup.listenAddress().getAddress(), backup.listenAddress().getPort());
        s.setSoTimeout(5000);
        return s;
    }

    /** Milliseconds until the backup closes {@code s} (reads and drops what it sends, an ERROR, until the end). */
    private static long millisUntilClosed(Socket s, long since) throws IOException {
        InputStream in = s.getInputStream();
        while (in.read() >= 0) {
            // the ERROR that comes before the end
        }
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - since);
    }

    @Test
    void aSilentPeerIsDroppedAfterTheIdleTimeoutAndASlowOneAfterTheHandshakeTimeout() throws Exception {
        MinaCheckpointTransport backup = backup(new TransportSettings.Limits(1500, 600, 64, 16, 65536));
        long start = System.nanoTime();
        try (Socket silent = connect(backup); Socket slow = connect(backup)) {
            // the slow one sends its HELLO a byte at a time, never quiet for long, never done in time
            byte[] hello = new RecordCodec(RecordCodec.DEFAULT_MAX_RECORD_BYTES).encode(Messages.clientHello(
                    new Messages.ClientHello(Messages.PROTOCOL_VERSION, hello(), 0, SharedSecret.nonce(),
                            StreamProtection.ENCRYPTED)));
            CompletableFuture<Void> trickle = CompletableFuture.runAsync(() -> {
                try {
                    OutputStream out = slow.getOutputStream();
                    for (int i = 0; i < hello.length - 1 && !slow.isClosed(); i++) {
                        out.write(hello[i]);
                        out.flush();
                        Thread.sleep(50);
                    }
                } catch (IOException e) {
                    // closed by the backup, as it should
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            long silentMs = millisUntilClosed(silent, start);
            long slowMs = millisUntilClosed(slow, start);
            assertTrue(silentMs >= 550 && silentMs < 1450, "the silent peer was dropped after " + silentMs + " ms");
            assertTrue(slowMs >= 1450 && slowMs < 4500, "the slow peer was dropped after " + slowMs + " ms");
            trickle.cancel(true);
        }
        assertEquals(2, backup.stats().rejectedConnections());
        await().atMost(Duration.ofSeconds(5)).until(() -> backup.connections().isEmpty());
    }

    @Test
    void hundredsOfIdleConnectionsAreClosedBeyondTheCapsAndABackupStillServesItsPrimaryAfterThem()
            throws Exception {
        MinaCheckpointTransport backup = backup(new TransportSettings.Limits(20_000, 20_000, 64, 16, 65536));
        List<Socket> idle = new ArrayList<>();
        try {
            for (int i = 0; i < 300; i++) {
                Socket s = connect(backup);
                idle.add(s);
                // each announces a HELLO as long as allowed before the handshake, and sends most of it
                try {
                    s.getOutputStream().write(ByteBuffer.allocate(RecordCodec.HEADER_BYTES + 60_000)
                            .putShort((short) RecordType.HELLO.code()).putShort((short) Messages.HELLO_CLIENT)
                            .putInt(65_536).putLong(0).array());
                } catch (IOException e) {
                    // closed on arrival already
                }
            }
            // 16 wait in their handshake (the backup holds at most 64 KiB for each), every other one is closed
            int closed = 0;
            for (Socket s : idle) {
                s.setSoTimeout(100);
                try {
                    assertEquals(-1, s.getInputStream().read(), "nothing but the end of the stream");
                    closed++;
                } catch (SocketTimeoutException e) {
                    // waiting in its handshake
                }
            }
            assertEquals(300 - 16, closed);
            assertEquals(16, backup.connections().size(), "at most max.pending.handshakes held");
            assertEquals(300 - 16, backup.stats().refusedConnections());
            assertEquals(0, backup.stats().rejectedConnections());
        } finally {
            for (Socket s : idle) {
                s.close();
            }
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> backup.connections().isEmpty());
        MinaCheckpointTransport primary = start(TransportSettings.defaults().withListen(null, 0)
                .withSecretFile(secret()));
        primary.connect(backup.listenAddress(), hello(), IGNORE).close();
    }

    @Test
    void anOversizedRecordBeforeTheHandshakeClosesTheConnectionBeforeItIsBuffered() throws Exception {
        MinaCheckpointTransport backup = backup(TransportSettings.Limits.defaults());
        try (Socket s = connect(backup)) {
            // a length under max.record.bytes (16 MiB) but over the handshake's limit: refused on its header alone
            s.getOutputStream().write(ByteBuffer.allocate(RecordCodec.HEADER_BYTES)
                    .putShort((short) RecordType.HELLO.code()).putShort((short) Messages.HELLO_CLIENT)
                    .putInt(1 << 20).putLong(0).array());
            DataInputStream in = new DataInputStream(s.getInputStream());
            byte[] header = new byte[RecordCodec.HEADER_BYTES];
            in.readFully(header);
            byte[] rest = new byte[ByteBuffer.wrap(header).getInt(4) + RecordCodec.TRAILER_BYTES];
            in.readFully(rest);
            Record error = new RecordCodec(RecordCodec.DEFAULT_MAX_RECORD_BYTES).decode(
                    ByteBuffer.allocate(header.length + rest.length).put(header).put(rest).flip());
            assertEquals(RecordType.ERROR, error.type());
            assertTrue(Messages.parseError(error.body()).contains("exceeds the limit before the handshake "
                    + "completes, handshake.max.record.bytes=65536"), Messages.parseError(error.body()));
            assertEquals(-1, in.read());
        }
        assertEquals(1, backup.stats().rejectedConnections());
    }

    private static Hello hello() {
        return new Hello("node-a", "sim:vm", "sim", 1L << 20, 4096, Map.of());
    }
}
