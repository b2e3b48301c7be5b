package io.romulus.detector.internal;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import io.romulus.support.linux.ThreadPriority;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The heartbeat socket: one UDP {@link DatagramChannel} bound to the detector's own port, heartbeats sent from it to
 * each peer and received on it by a thread of its own. Datagrams that are not heartbeats are counted and ignored, and
 * so are heartbeats the {@link HeartbeatGuard} refuses (not authenticated, stale or replayed).
 * The channel stays unconnected, so ICMP errors from a peer that is down never reach the receiver. The receiving
 * thread runs at real-time priority where the node may raise it ({@link ThreadPriority}), so that a busy host does
 * not delay heartbeats into a false suspicion.
 */
public final class UdpHeartbeats implements AutoCloseable {

    /** Told about each well-formed heartbeat, on the receiving thread. */
    @FunctionalInterface
    public interface Receiver {
        void received(Heartbeat heartbeat, InetSocketAddress from);
    }

    private static final Logger LOG = LoggerFactory.getLogger(UdpHeartbeats.class);
    private static final int RECEIVE_BUFFER = 2048;
    /** Least time between two warnings about refused heartbeats; the others are logged at DEBUG. */
    private static final long WARN_EVERY_NANOS = TimeUnit.SECONDS.toNanos(10);

    private final DatagramChannel channel;
    private final InetSocketAddress local;
    private final HeartbeatGuard guard;
    private final Receiver receiver;
    private final Thread thread;
    private final AtomicLong received = new AtomicLong();
    private final AtomicLong malformed = new AtomicLong();
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong sendFailures = new AtomicLong();

    private UdpHeartbeats(DatagramChannel channel, HeartbeatGuard guard, Receiver receiver) throws IOException {
        this.channel = channel;
        this.local = (InetSocketAddress) channel.getLocalAddress();
        this.guard = guard;
        this.receiver = receiver;
        this.thread = new Thread(this::receive, "romulus-detector-receiver-" + local.getPort());
        thread.setDaemon(true);
    }

    /** Binds the socket and starts receiving every well-formed heartbeat, unauthenticated (benchmarks). */
    public static UdpHeartbeats bind(InetSocketAddress address, Receiver receiver) throws IOException {
        return bind(address, new HeartbeatGuard(null, System::currentTimeMillis), receiver);
    }

    /** Binds the socket and starts receiving; {@code guard} judges each well-formed heartbeat. */
    static UdpHeartbeats bind(InetSocketAddress address, HeartbeatGuard guard, Receiver receiver)
            throws IOException {
        if (address.isUnresolved()) {
            throw new IOException("cannot bind the heartbeat socket: unknown host " + address.getHostString());
        }
        DatagramChannel channel = address.getAddress() instanceof Inet4Address
                ? DatagramChannel.open(StandardProtocolFamily.INET)
                : DatagramChannel.open();
        try {
            channel.bind(address);
        } catch (IOException e) {
            channel.close();
            throw new IOException("cannot bind the heartbeat socket to UDP " + address.getHostString() + ":"
                    + address.getPort() + ": " + e.getMessage(), e);
        }
        UdpHeartbeats socket = new UdpHeartbeats(channel, guard, receiver);
        socket.thread.start();
        return socket;
    }

    /** Where the socket is bound (with the port chosen when 0 was asked for). */
    public InetSocketAddress localAddress() {
        return local;
    }

    /** Sends one datagram; a failure is counted and logged, never thrown (the peer may well be down). */
    public boolean send(byte[] datagram, InetSocketAddress to) {
        try {
            channel.send(ByteBuffer.wrap(datagram), to);
            sent.incrementAndGet();
            return true;
        } catch (ClosedChannelException e) {
            return false;
        } catch (IOException | RuntimeException e) {
            sendFailures.incrementAndGet();
            LOG.debug("cannot send a heartbeat to {}: {}", to, e.toString());
            return false;
        }
    }

    /** Well-formed heartbeats received. */
    public long received() {
        return received.get();
    }

    /** Datagrams ignored because they were not heartbeats. */
    public long malformed() {
        return malformed.get();
    }

    /** Heartbeats sent. */
    public long sent() {
        return sent.get();
    }

    /** Heartbeats that could not be sent. */
    public long sendFailures() {
        return sendFailures.get();
    }

    private void receive() {
        LOG.info("heartbeat receiver on {} runs with {}", local,
                ThreadPriority.raiseCurrentThread(UdpFailureDetector.REALTIME_PRIORITY));
        ByteBuffer buffer = ByteBuffer.allocate(RECEIVE_BUFFER);
        long lastWarning = System.nanoTime() - WARN_EVERY_NANOS;
        while (channel.isOpen()) {
            buffer.clear();
            SocketAddress from;
            try {
                from = channel.receive(buffer);
            } catch (ClosedChannelException e) {
                break;
            } catch (IOException e) {
                if (!channel.isOpen()) {
                    break;
                }
                LOG.debug("receiving heartbeats on {}: {}", local, e.toString());
                continue;
            }
            if (from == null) {
                continue;
            }
            buffer.flip();
            int size = buffer.remaining();
            Heartbeat heartbeat;
            try {
                heartbeat = Heartbeat.decode(buffer);
            } catch (Heartbeat.MalformedException e) {
                malformed.incrementAndGet();
                LOG.debug("ignoring a datagram of {} bytes from {} on the heartbeat port: {}", size, from,
                        e.getMessage());
                continue;
            }
            HeartbeatGuard.Verdict verdict = guard.check(heartbeat, buffer.array(), size);
            if (verdict != HeartbeatGuard.Verdict.ACCEPTED) {
                long now = System.nanoTime();
                boolean warn = now - lastWarning >= WARN_EVERY_NANOS;
                if (warn) {
                    lastWarning = now;
                }
                refused(warn, heartbeat, from, verdict);
                continue;
            }
            received.incrementAndGet();
            LOG.trace("heartbeat {} from {}", heartbeat, from);
            try {
                receiver.received(heartbeat, (InetSocketAddress) from);
            } catch (RuntimeException e) {
                LOG.warn("handling heartbeat {} from {} failed", heartbeat, from, e);
            }
        }
        LOG.debug("heartbeat receiver on {} stopped", local);
    }

    /** Logs a refused heartbeat: at WARN at most every 10 s (a peer with another secret sends 100 a second). */
    private void refused(boolean warn, Heartbeat heartbeat, SocketAddress from, HeartbeatGuard.Verdict verdict) {
        String why = switch (verdict) {
            case UNAUTHENTICATED -> "its MAC does not verify under this node's secret (the sender has another secret "
                    + "file, or none, or the heartbeat is forged)";
            case STALE -> "it was sent " + (heartbeat.sentAt() - System.currentTimeMillis()) + " ms from this node's "
                    + "clock, beyond the replay window of " + HeartbeatGuard.WINDOW_MS / 1000 + " s (clocks out of "
                    + "step, or a replay)";
            case REPLAYED, ACCEPTED -> "its sequence " + heartbeat.sequence() + " is not above the last accepted, "
                    + guard.lastSequence(heartbeat.nodeId()) + " (a replay)";
        };
        if (warn) {
            LOG.warn("ignoring a heartbeat of {} from {}: {}; {} heartbeats refused so far (further ones are logged "
                    + "at DEBUG for 10 s)", heartbeat.nodeId(), from, why, guard.rejected());
        } else {
            LOG.debug("ignoring a heartbeat of {} from {}: {}", heartbeat.nodeId(), from, why);
        }
    }

    /** Closes the socket and waits for the receiver to stop. */
    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            LOG.debug("closing the heartbeat socket on {}: {}", local, e.toString());
        }
        if (Thread.currentThread() != thread) {
            try {
                thread.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public String toString() {
        return "heartbeats on UDP " + local.getAddress().getHostAddress() + ":" + local.getPort();
    }
}
