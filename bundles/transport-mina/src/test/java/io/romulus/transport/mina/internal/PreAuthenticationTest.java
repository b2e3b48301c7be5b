package io.romulus.transport.mina.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.romulus.api.transport.AckListener;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.DomainTakenOverException;
import io.romulus.api.transport.Hello;

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

    private static Hello hello() {
        return new Hello("node-a", "sim:vm", "sim", 1L << 20, 4096, Map.of());
    }
}
