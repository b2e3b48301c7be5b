package io.romulus.transport.mina.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;

import org.junit.jupiter.api.Test;

import io.romulus.api.transport.AckListener;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.Hello;

/**
 * The stream's sockets get the TCP options for lossy links on both ends (issue 19): checked with getsockopt on the
 * real sockets of a transport, against a transport that leaves them as the kernel made them.
 */
class SocketTuningTest {

    /** Reno: every Linux has it, and it is not the default anywhere Romulus runs, so the change shows. */
    private static final SocketTuning TUNING = new SocketTuning(20, 2000, true, "reno");

    /** TCP_RTO_MIN_US and TCP_RTO_MAX_MS came with Linux 6.15; CI's kernel has them. */
    private static boolean kernelHasRtoOptions() {
        String[] v = System.getProperty("os.version").split("[.-]");
        int major = Integer.parseInt(v[0]);
        int minor = Integer.parseInt(v[1]);
        return major > 6 || (major == 6 && minor >= 15);
    }

    @Test
    void findsTheDescriptorOfAConnectionAndSetsTheOptions() throws Exception {
        try (ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
                SocketChannel client = SocketChannel.open(server.getLocalAddress());
                SocketChannel accepted = server.accept()) {
            int fd = descriptor((InetSocketAddress) client.getLocalAddress(),
                    (InetSocketAddress) client.getRemoteAddress());
            int other = descriptor((InetSocketAddress) accepted.getLocalAddress(),
                    (InetSocketAddress) accepted.getRemoteAddress());
            assertTrue(fd != other, "each end has its own descriptor");
            assertEquals(0, SocketTuning.get(fd, SocketTuning.TCP_THIN_LINEAR_TIMEOUTS), "untouched socket");

            SocketTuning.Applied applied = TUNING.apply(client.getLocalAddress(), client.getRemoteAddress());

            assertEquals(1, SocketTuning.get(fd, SocketTuning.TCP_THIN_LINEAR_TIMEOUTS), applied.toString());
            assertEquals(0, SocketTuning.get(other, SocketTuning.TCP_THIN_LINEAR_TIMEOUTS), "only that socket");
            assertEquals("reno", SocketTuning.congestion(fd));
            assertFalse(SocketTuning.congestion(other).equals("reno"), "the other keeps the host's default");
            SocketTuning.Applied unknown = new SocketTuning(0, 0, false, "nosuchcc").apply(client.getLocalAddress(),
                    client.getRemoteAddress());
            assertEquals(1, unknown.refused().size(), "reported, not thrown: " + unknown);
            assertEquals("reno", SocketTuning.congestion(fd), "an unknown name changes nothing");
            if (kernelHasRtoOptions()) {
                assertEquals(List.of(), applied.refused());
                assertEquals(20_000, SocketTuning.get(fd, SocketTuning.TCP_RTO_MIN_US));
                assertEquals(2000, SocketTuning.get(fd, SocketTuning.TCP_RTO_MAX_MS));
                assertEquals(200_000, SocketTuning.get(other, SocketTuning.TCP_RTO_MIN_US), "the kernel's minimum");
            } else {
                assertEquals(2, applied.refused().size(), "an older kernel refuses the RTO options: " + applied);
            }
        }
    }

    @Test
    void theBackupsAcceptedSocketIsTuned() throws Exception {
        for (SocketTuning tuning : List.of(TUNING, SocketTuning.none())) {
            try (MinaCheckpointTransport backup = MinaCheckpointTransport.create(TransportSettings.defaults()
                    .withListen("127.0.0.1", 0), tuning);
                    SocketChannel primary = SocketChannel.open(backup.listenAddress())) {
                await().atMost(Duration.ofSeconds(10)).until(() -> backup.connections().size() == 1);
                int fd = descriptor(backup.listenAddress(), (InetSocketAddress) primary.getLocalAddress());
                int expected = tuning.thinLinearTimeouts() ? 1 : 0;
                // the options are set right after the connection is counted
                await().atMost(Duration.ofSeconds(10))
                        .until(() -> SocketTuning.get(fd, SocketTuning.TCP_THIN_LINEAR_TIMEOUTS) == expected);
                assertEquals(tuning.isNone(), !SocketTuning.congestion(fd).equals("reno"), tuning.toString());
                if (kernelHasRtoOptions()) {
                    assertEquals(tuning.isNone() ? 200_000 : 20_000, SocketTuning.get(fd, SocketTuning.TCP_RTO_MIN_US));
                }
            }
        }
    }

    @Test
    void thePrimarysConnectingSocketIsTuned() throws Exception {
        try (MinaCheckpointTransport primary = MinaCheckpointTransport.create(TransportSettings.defaults()
                .withListen(null, 0).withConnectTimeoutMs(10_000), TUNING);
                ServerSocketChannel backup = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
            InetSocketAddress at = (InetSocketAddress) backup.getLocalAddress();
            CompletableFuture<Throwable> connect = CompletableFuture.supplyAsync(() -> {
                try {
                    primary.connect(at, new Hello("a", "sim:vm", "sim", 1L << 20, 4096, Map.of()), new AckListener() {
                        @Override
                        public void acknowledged(long epoch) {
                        }

                        @Override
                        public void closed(Throwable cause) {
                        }
                    });
                    return null;
                } catch (CheckpointException e) {
                    return e;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return e;
                }
            });
            try (SocketChannel accepted = backup.accept()) {
                // the HELLO arrives after the session was created, so after its options were set
                assertTrue(accepted.read(ByteBuffer.allocate(65536)) > 0, "the primary's HELLO");
                int fd = descriptor((InetSocketAddress) accepted.getRemoteAddress(), at);
                assertEquals(1, SocketTuning.get(fd, SocketTuning.TCP_THIN_LINEAR_TIMEOUTS));
                assertEquals("reno", SocketTuning.congestion(fd));
                if (kernelHasRtoOptions()) {
                    assertEquals(20_000, SocketTuning.get(fd, SocketTuning.TCP_RTO_MIN_US));
                    assertEquals(2000, SocketTuning.get(fd, SocketTuning.TCP_RTO_MAX_MS));
                }
            }
            assertTrue(connect.get() instanceof CheckpointException, "no backup answered the HELLO");
        }
    }

    @Test
    void readsTheKernelsConnectionTables() {
        InetSocketAddress local = new InetSocketAddress(InetAddress.getLoopbackAddress(), 7480);
        InetSocketAddress remote = new InetSocketAddress("10.77.0.2", 41000);
        String header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
                + "inode";
        List<String> tcp = List.of(header,
                "   0: 0100007F:1D38 02004D0A:A028 01 00000000:00000000 00:00000000 00000000     0        0 4242 1",
                "   1: 0100007F:1D38 03004D0A:A028 01 00000000:00000000 00:00000000 00000000     0        0 4343 1");
        assertEquals(4242, SocketTuning.inodeIn(tcp, local, remote));
        List<String> tcp6 = List.of(header, "   0: 0000000000000000FFFF00000100007F:1D38 "
                + "0000000000000000FFFF000002004D0A:A028 01 00000000:00000000 00:00000000 00000000     0        0 "
                + "77 1");
        assertEquals(77, SocketTuning.inodeIn(tcp6, local, remote), "IPv4 addresses mapped into IPv6");
        assertEquals(-1, SocketTuning.inodeIn(tcp6, local, new InetSocketAddress("10.77.0.2", 41001)));
        assertFalse(SocketTuning.matches("0100007F:1D38", new InetSocketAddress("127.0.0.2", 7480)));
    }

    @Test
    void refusesTimeoutsOutsideTheKernelsRange() {
        assertThrows(IllegalArgumentException.class, () -> new SocketTuning(-1, 0, true));
        assertThrows(IllegalArgumentException.class, () -> new SocketTuning(20, 500, true));
        assertThrows(IllegalArgumentException.class, () -> new SocketTuning(20, 1000, true, "bbr; rm -rf"));
        assertThrows(IllegalArgumentException.class, () -> new SocketTuning(20, 1000, true, "x".repeat(16)));
        assertTrue(SocketTuning.none().isNone());
        assertFalse(new SocketTuning(0, 0, false, "bbr").isNone());
        assertEquals(new SocketTuning(20, 1000, true, "bbr"), SocketTuning.defaults());
    }

    private static int descriptor(InetSocketAddress local, InetSocketAddress remote) throws IOException {
        OptionalInt fd = SocketTuning.descriptorOf(local, remote);
        assertTrue(fd.isPresent(), "a descriptor for " + local + " -> " + remote);
        return fd.getAsInt();
    }
}
