package io.romulus.netbuf.internal.netlink;

import java.io.Closeable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import com.sun.jna.Memory;

import io.romulus.support.linux.Errno;

/**
 * A netlink socket ({@code AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC}) of one protocol, possibly created inside a named
 * network namespace, with reusable native send and receive buffers.
 *
 * <p>Threading: {@link #send} may be called from any thread (it is serialized); {@link #receive} and
 * {@link #request} read from the socket and must be used by one thread at a time. {@link #close} only when no other
 * thread uses the socket.
 */
public final class NetlinkSocket implements Closeable {

    /** Writes one (or a batch of) message(s) with the given sequence number. */
    @FunctionalInterface
    public interface Message {
        void write(NetlinkMessageWriter w, int seq);
    }

    /** Sees the messages that arrive while {@link #request} waits for its ack and are not that ack. */
    @FunctionalInterface
    public interface Handler {
        void handle(NetlinkMessageReader message) throws NetlinkException;
    }

    private static final int SEND_CAPACITY = 64 * 1024;
    private static final int RECEIVE_CAPACITY = 256 * 1024;

    private final LinuxNetlink lib;
    private final int fd;
    private final int protocol;
    private final String netns;
    private final int portId;
    private final Memory sendMemory = new Memory(SEND_CAPACITY);
    private final NetlinkMessageWriter writer;
    private final Memory receiveMemory = new Memory(RECEIVE_CAPACITY);
    private final ByteBuffer received;
    private final NetlinkMessageReader requestReader = new NetlinkMessageReader();
    private final NetlinkAttributes errorAttributes = new NetlinkAttributes(Netlink.NLMSGERR_ATTR_OFFS);
    private int seq = (int) (System.nanoTime() & 0x3fffffff);
    private long receiveTimeoutMillis;
    private boolean closed;

    private NetlinkSocket(LinuxNetlink lib, int fd, int protocol, String netns, boolean bound)
            throws NetlinkException {
        this.lib = lib;
        this.fd = fd;
        this.protocol = protocol;
        this.netns = netns;
        this.portId = bound ? lib.netlinkPort(fd) : lib.bindNetlink(fd);
        this.writer = new NetlinkMessageWriter(sendMemory.getByteBuffer(0, SEND_CAPACITY));
        this.received = receiveMemory.getByteBuffer(0, RECEIVE_CAPACITY).order(ByteOrder.nativeOrder());
    }

    /**
     * Opens a socket of {@code protocol} ({@link Netlink#NETLINK_NETFILTER}, {@link Netlink#NETLINK_ROUTE}) in
     * network namespace {@code netns} (null: the caller's), bound to a port the kernel assigns.
     */
    public static NetlinkSocket open(LinuxNetlink lib, int protocol, String netns) throws NetlinkException {
        int fd;
        try {
            fd = NetworkNamespace.call(lib, netns, () -> lib.netlinkSocket(protocol));
        } catch (NetlinkException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new NetlinkException("socket(AF_NETLINK)", 0, "cannot create a netlink socket in network namespace "
                    + netns + ": " + e, e);
        }
        try {
            return new NetlinkSocket(lib, fd, protocol, netns, false);
        } catch (NetlinkException e) {
            try {
                lib.close(fd);
            } catch (NetlinkException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /**
     * Takes over a socket that an earlier owner in this process {@linkplain #handOver() handed over}: descriptor
     * {@code fd}, bound already, with its options and its queue bindings as they were.
     */
    public static NetlinkSocket inherit(LinuxNetlink lib, int fd, int protocol, String netns) throws NetlinkException {
        return new NetlinkSocket(lib, fd, protocol, netns, true);
    }

    /**
     * Lets go of the socket without closing it, for a later {@link #inherit} in this process: this object sends and
     * receives nothing more and frees its buffers; the descriptor, returned, stays open. Only when no other thread
     * uses the socket.
     */
    public synchronized int handOver() {
        if (closed) {
            throw new IllegalStateException(this + " is closed");
        }
        closed = true;
        sendMemory.close();
        receiveMemory.close();
        return fd;
    }

    /** The port id the kernel assigned ({@code nl_pid}). */
    public int portId() {
        return portId;
    }

    public int protocol() {
        return protocol;
    }

    /** The namespace the socket lives in, or null for the one this JVM started in. */
    public String netns() {
        return netns;
    }

    /** Sets the receive buffer: {@code SO_RCVBUFFORCE} (root may exceed rmem_max), else {@code SO_RCVBUF}. */
    public void setReceiveBufferSize(int bytes) throws NetlinkException {
        try {
            lib.setIntOption(fd, Netlink.SOL_SOCKET, Netlink.SO_RCVBUFFORCE, bytes, "SO_RCVBUFFORCE");
        } catch (NetlinkException e) {
            lib.setIntOption(fd, Netlink.SOL_SOCKET, Netlink.SO_RCVBUF, bytes, "SO_RCVBUF");
        }
    }

    /** How long {@link #receive} blocks before it returns 0. */
    public void setReceiveTimeout(long millis) throws NetlinkException {
        lib.setReceiveTimeout(fd, millis);
        receiveTimeoutMillis = millis;
    }

    /** Asks for capped acks with the kernel's extended-ack messages (NETLINK_CAP_ACK, NETLINK_EXT_ACK). */
    public void requestExtendedAcks() throws NetlinkException {
        lib.setIntOption(fd, Netlink.SOL_NETLINK, Netlink.NETLINK_CAP_ACK, 1, "NETLINK_CAP_ACK");
        lib.setIntOption(fd, Netlink.SOL_NETLINK, Netlink.NETLINK_EXT_ACK, 1, "NETLINK_EXT_ACK");
    }

    /** Writes and sends a message; returns its sequence number. */
    public synchronized int send(Message message) throws NetlinkException {
        if (closed) {
            throw new NetlinkException("send", Errno.EBADF, "netlink socket is closed");
        }
        int s = ++seq;
        writer.reset();
        message.write(writer, s);
        lib.send(fd, sendMemory, writer.length());
        return s;
    }

    /**
     * Sends a request (which must carry {@code NLM_F_ACK}) and waits for its ack; an error answer is thrown with the
     * kernel's errno and extended-ack message. Other messages that arrive meanwhile go to {@code others} (may be null).
     */
    public void request(String what, Message message, long timeoutMillis, Handler others) throws NetlinkException {
        int s = send(message);
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        while (true) {
            int n = receive();
            if (n == 0) {
                if (receiveTimeoutMillis == 0) {
                    throw new IllegalStateException("request() needs a receive timeout");
                }
                if (System.nanoTime() - deadline > 0) {
                    throw new NetlinkException(what, 0, "the kernel did not answer " + what + " within "
                            + timeoutMillis + " ms");
                }
                continue;
            }
            requestReader.reset(received, n);
            while (requestReader.next()) {
                if (requestReader.isError() && requestReader.errorRequestSeq() == s) {
                    int errno = requestReader.errorCode();
                    if (errno == 0) {
                        return;
                    }
                    String ext = requestReader.errorMessage(errorAttributes);
                    throw new NetlinkException(what, errno, "the kernel refused " + what
                            + (ext == null ? "" : " (" + ext + ")"));
                }
                if (others != null) {
                    others.handle(requestReader);
                }
            }
        }
    }

    /** Receives one datagram into {@link #received()}: its length, or 0 when the receive timeout expired. */
    public int receive() throws NetlinkException {
        return lib.recv(fd, receiveMemory, RECEIVE_CAPACITY);
    }

    /** The receive buffer (host byte order); valid until the next {@link #receive}. */
    public ByteBuffer received() {
        return received;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            lib.close(fd);
        } catch (NetlinkException e) {
            // a close that fails means the descriptor was not ours any more; nothing left to release
        }
        sendMemory.close();
        receiveMemory.close();
    }

    @Override
    public String toString() {
        return "netlink socket " + fd + " (protocol " + protocol + ", port " + Integer.toUnsignedString(portId)
                + (netns == null ? "" : ", netns " + netns) + ")";
    }
}
