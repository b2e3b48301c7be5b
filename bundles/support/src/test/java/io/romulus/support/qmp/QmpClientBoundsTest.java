package io.romulus.support.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.StringReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What QEMU (or whatever sits on its QMP socket) can cost the client: a line never ends, the greeting trickles in. The
 * client reads at most {@link QmpClient#MAX_LINE_CHARS} of a line and waits for the greeting only as long as it was
 * told to.
 */
class QmpClientBoundsTest {

    @TempDir
    Path dir;
    private ServerSocketChannel server;
    private Thread serving;

    /** What the server does with its one client. */
    @FunctionalInterface
    private interface Peer {
        void serve(SocketChannel client) throws IOException, InterruptedException;
    }

    private Path serve(Peer peer) throws IOException {
        Path socket = dir.resolve("qmp.sock");
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        serving = new Thread(() -> {
            try (SocketChannel client = server.accept()) {
                peer.serve(client);
            } catch (IOException | InterruptedException e) {
                // the client hung up or the test ended
            }
        }, "bounds-qmp");
        serving.setDaemon(true);
        serving.start();
        return socket;
    }

    @AfterEach
    void stop() throws Exception {
        if (server == null) {
            return;
        }
        server.close();
        serving.interrupt();
        serving.join(2000);
    }

    private static void send(SocketChannel client, String text) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
        while (b.hasRemaining()) {
            client.write(b);
        }
    }

    /** Sends one line that never ends, until the client hangs up. */
    private static void endlessLine(SocketChannel client, String start) throws IOException {
        send(client, start);
        byte[] chunk = new byte[64 * 1024];
        Arrays.fill(chunk, (byte) 'x');
        while (true) {
            ByteBuffer b = ByteBuffer.wrap(chunk);
            while (b.hasRemaining()) {
                client.write(b);
            }
        }
    }

    @Test
    void aGreetingThatNeverEndsFailsTheConnectAtTheLineLimit() throws Exception {
        Path socket = serve(client -> endlessLine(client, "{\"QMP\": {\"version\": \""));
        // a timeout far beyond what reading the limit takes: the failure must name the limit, not the timeout
        QmpException e = assertThrows(QmpException.class, () -> QmpClient.connect(socket, Duration.ofMinutes(2)));
        assertTrue(e.getMessage().contains("longer than 4 MiB"), e.getMessage());
    }

    @Test
    void aReplyThatNeverEndsFailsTheCommandAndClosesTheConnection() throws Exception {
        Path socket = serve(client -> {
            BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(client),
                    StandardCharsets.UTF_8));
            send(client, FakeQmpServer.GREETING + "\n");
            in.readLine(); // qmp_capabilities
            send(client, "{\"return\": {}, \"id\": \"romulus-1\"}\n");
            in.readLine(); // query-status
            endlessLine(client, "{\"return\": {\"status\": \"");
        });
        try (QmpClient qmp = QmpClient.connect(socket, Duration.ofMinutes(2))) {
            QmpException e = assertThrows(QmpException.class, () -> qmp.execute("query-status", null));
            assertTrue(e.getMessage().contains("longer than 4 MiB") && e.getMessage().contains("MAX_LINE_CHARS"),
                    e.getMessage());
            assertFalse(qmp.isOpen());
            QmpException next = assertThrows(QmpException.class, () -> qmp.execute("query-status", null));
            assertTrue(next.getMessage().contains("longer than 4 MiB"), next.getMessage());
        }
    }

    @Test
    void aGreetingThatTricklesInFailsTheConnectAtTheTimeout() throws Exception {
        Path socket = serve(client -> {
            for (char c : FakeQmpServer.GREETING.toCharArray()) {
                send(client, String.valueOf(c));
                Thread.sleep(100);
            }
        });
        QmpException e = assertThrows(QmpException.class, () -> QmpClient.connect(socket, Duration.ofSeconds(1)));
        assertTrue(e.getMessage().endsWith("no QMP greeting within 1000 ms"), e.getMessage());
    }

    @Test
    void linesEndAtNewlineWithOrWithoutCarriageReturnUpToTheLimit() throws IOException {
        StringReader in = new StringReader("{\"a\":1}\r\n12345678\n\nlast");
        assertEquals("{\"a\":1}", QmpClient.readLine(in, 8));
        assertEquals("12345678", QmpClient.readLine(in, 8));
        assertEquals("", QmpClient.readLine(in, 8));
        assertEquals("last", QmpClient.readLine(in, 8));
        assertNull(QmpClient.readLine(in, 8));
        QmpException e = assertThrows(QmpException.class, () -> QmpClient.readLine(new StringReader("123456789\n"),
                8));
        assertTrue(e.getMessage().contains("longer than 8 characters"), e.getMessage());
    }
}
