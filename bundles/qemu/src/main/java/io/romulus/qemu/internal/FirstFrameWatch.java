package io.romulus.qemu.internal;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import com.sun.jna.Memory;

import io.romulus.support.linux.Errno;
import io.romulus.support.linux.LibC;
import io.romulus.support.linux.LibcLoader;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sees the first frame a resumed guest sends, for the FAILOVER alarm's last step (the moment clients can hear from
 * it again): before the guest runs, a thread of its own enters the taps' network namespace and opens a packet socket
 * on each tap that sees only what the guest sends ({@code PACKET_IGNORE_OUTGOING}: what the bridge sends towards the
 * guest, the clients' retransmissions among it, is not the guest's); the first frame that is not a RARP (QEMU's
 * {@code announce-self} and {@link MacAnnouncement} are the binding's, not the guest's) completes {@link #first()}
 * with the {@link System#nanoTime()} it was read at. The watch ends at that frame, or {@link #WATCH_NANOS} after it
 * was {@linkplain #start started} (a guest nobody talks to may send nothing), completing empty. Costs the guest
 * nothing: the sockets only read copies of its frames.
 */
final class FirstFrameWatch {

    private static final Logger LOG = LoggerFactory.getLogger(FirstFrameWatch.class);
    /** How long a guest has to send its first frame before the watch gives up. */
    static final long WATCH_NANOS = TimeUnit.SECONDS.toNanos(2);
    private static final int ETH_P_RARP = 0x8035;
    private static final int SOL_SOCKET = 1;
    private static final int SO_RCVTIMEO = 20;
    private static final int PACKET_IGNORE_OUTGOING = 23;
    /** How long one tap's read waits before the next tap's: a few milliseconds of resolution with several NICs. */
    private static final int READ_WAIT_MICROS = 2_000;
    /** The Ethernet header: enough of a frame to read its type. */
    private static final int HEADER = 14;

    private final CompletableFuture<OptionalLong> first = new CompletableFuture<>();
    private final CountDownLatch ready = new CountDownLatch(1);

    private FirstFrameWatch() {
    }

    /**
     * Starts watching {@code taps} of network namespace {@code netns} (empty: this node's own). Call it before the
     * guest may run, and {@link #awaitReady} before letting it run.
     */
    static FirstFrameWatch start(String netns, List<String> taps) {
        FirstFrameWatch w = new FirstFrameWatch();
        if (taps.isEmpty()) {
            w.first.complete(OptionalLong.empty());
            w.ready.countDown();
            return w;
        }
        Thread t = new Thread(() -> w.watch(netns, taps), "romulus-first-frame");
        t.setDaemon(true);
        t.start();
        return w;
    }

    /** Waits up to {@code millis} for the sockets to be open; a frame sent before that may go unseen. */
    void awaitReady(long millis) throws InterruptedException {
        if (!ready.await(millis, TimeUnit.MILLISECONDS)) {
            LOG.debug("The first-frame watch was not ready in {} ms; the guest runs anyway", millis);
        }
    }

    /** Completes with when the guest's first frame was seen, or empty when none was (or the taps cannot be read). */
    CompletableFuture<OptionalLong> first() {
        return first;
    }

    private void watch(String netns, List<String> taps) {
        long deadline = System.nanoTime() + WATCH_NANOS;
        List<Integer> sockets = new ArrayList<>();
        LibC libc = null;
        try {
            libc = LibcLoader.load("watching a resumed guest's first frame");
            if (!netns.isEmpty()) {
                MacAnnouncement.enter(libc, netns);
            }
            for (String tap : taps) {
                sockets.add(open(libc, tap));
            }
            ready.countDown();
            first.complete(read(libc, sockets, deadline));
        } catch (IOException | RuntimeException e) {
            LOG.info("Cannot watch for the guest's first frame on {}{}: {}", taps,
                    netns.isEmpty() ? "" : " in " + netns, e.getMessage());
            first.complete(OptionalLong.empty());
        } finally {
            ready.countDown();
            for (int fd : sockets) {
                libc.close(fd);
            }
        }
    }

    private static int open(LibC libc, String tap) throws IOException {
        int fd = PacketSockets.open(libc, tap, PacketSockets.ETH_P_ALL, true);
        try (Memory tv = new Memory(16)) {
            PacketSockets.set(libc, fd, PacketSockets.SOL_PACKET, PACKET_IGNORE_OUTGOING, 1,
                    "PACKET_IGNORE_OUTGOING", tap);
            tv.setLong(0, 0);
            tv.setLong(8, READ_WAIT_MICROS);
            if (libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16) != 0) {
                throw new IOException("SO_RCVTIMEO on " + tap + ": " + Errno.text(LibcLoader.lastError()));
            }
            return fd;
        } catch (IOException | RuntimeException e) {
            PacketSockets.closeLater(libc, fd);
            throw e;
        }
    }

    /** Reads the taps in turn until a guest frame comes or {@code deadline} passes. */
    private static OptionalLong read(LibC libc, List<Integer> sockets, long deadline) {
        try (Memory frame = new Memory(HEADER)) {
            while (System.nanoTime() - deadline < 0) {
                for (int fd : sockets) {
                    long n = libc.recv(fd, frame, HEADER, 0);
                    if (n >= HEADER && isGuestFrame(frame.getByteArray(0, HEADER))) {
                        return OptionalLong.of(System.nanoTime());
                    }
                }
            }
        }
        return OptionalLong.empty();
    }

    /** Whether an Ethernet frame starting with {@code header} is the guest's own, not an address announcement. */
    static boolean isGuestFrame(byte[] header) {
        int type = ((header[12] & 0xff) << 8) | (header[13] & 0xff);
        return type != ETH_P_RARP;
    }
}
