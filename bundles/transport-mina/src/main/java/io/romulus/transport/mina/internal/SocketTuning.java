package io.romulus.transport.mina.internal;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.OptionalInt;

import com.sun.jna.Memory;

import io.romulus.support.linux.LibC;
import io.romulus.support.linux.LibcLoader;
import io.romulus.support.linux.NativeCallException;

/**
 * TCP options of a stream's socket for a lossy link (issue 19), set on both ends of every stream connection: one lost
 * segment on the single connection holds every checkpoint and every ACK behind it until TCP recovers, so recovery must
 * be quick.
 * <ul>
 * <li>{@code TCP_RTO_MIN_US} (Linux 6.15+): the lowest retransmission timeout, 200 ms by default. It also bounds the
 * tail-loss probe of a single segment in flight (the backup's ACK of one checkpoint), which waits two smoothed RTTs
 * plus this minimum.</li>
 * <li>{@code TCP_RTO_MAX_MS} (Linux 6.15+): the highest retransmission timeout after backing off, 120 s by default:
 * a stream that lost a retransmission too must not wait seconds for the next try.</li>
 * <li>{@code TCP_THIN_LINEAR_TIMEOUTS}: while fewer than four segments are in flight (the ACK direction always) the
 * first six timeouts do not back off exponentially.</li>
 * <li>{@code TCP_CONGESTION}: the congestion control. CUBIC (Debian's default) halves its window on every loss: at 1%
 * random loss and 50 ms RTT it cannot carry a checkpoint stream of a few MB/s, which then queues in the socket. BBR
 * paces at the measured bandwidth and does not take random loss for congestion.</li>
 * </ul>
 * Java exposes none of these, and MINA not the socket's descriptor: the descriptor is found in {@code /proc/self} by
 * the connection's addresses (the socket's inode in {@code /proc/self/net/tcp6} or {@code tcp}, then the descriptor
 * that links to it), and the options are set through JNA. An option this kernel does not know is reported, not fatal.
 *
 * @param rtoMinMs           lowest retransmission timeout, ms ({@code 0}: the kernel's or the route's)
 * @param rtoMaxMs           highest retransmission timeout, ms, at least 1000 ({@code 0}: the kernel's)
 * @param thinLinearTimeouts whether thin streams retransmit without exponential backoff
 * @param congestion         the congestion control ({@code ""}: the kernel's default)
 */
public record SocketTuning(int rtoMinMs, int rtoMaxMs, boolean thinLinearTimeouts, String congestion) {

    static final int IPPROTO_TCP = 6;
    static final int TCP_CONGESTION = 13;
    static final int TCP_THIN_LINEAR_TIMEOUTS = 16;
    static final int TCP_RTO_MAX_MS = 44;
    static final int TCP_RTO_MIN_US = 45;

    public static final int DEFAULT_RTO_MIN_MS = 20;
    public static final int DEFAULT_RTO_MAX_MS = 1000;
    public static final String DEFAULT_CONGESTION = "bbr";
    /** TCP_CA_NAME_MAX, with the terminating zero. */
    private static final int CONGESTION_NAME_MAX = 16;

    /** What setting the options on one socket did. */
    record Applied(List<String> set, List<String> refused) {

        @Override
        public String toString() {
            return (set.isEmpty() ? "none set" : String.join(", ", set))
                    + (refused.isEmpty() ? "" : "; refused: " + String.join(", ", refused));
        }
    }

    public SocketTuning {
        if (rtoMinMs < 0 || rtoMinMs > 10_000) {
            throw new IllegalArgumentException("tcp.rto.min.ms must be 0..10000, not " + rtoMinMs);
        }
        if (rtoMaxMs != 0 && (rtoMaxMs < 1000 || rtoMaxMs > 120_000)) {
            throw new IllegalArgumentException("tcp.rto.max.ms must be 0 or 1000..120000, not " + rtoMaxMs);
        }
        congestion = congestion == null ? "" : congestion.strip();
        if (congestion.length() >= CONGESTION_NAME_MAX || !congestion.matches("[a-z0-9_]*")) {
            throw new IllegalArgumentException("tcp.congestion must be a congestion control's name (bbr, cubic), "
                    + "not " + congestion);
        }
    }

    /** The options without a congestion control of their own (the kernel's default). */
    public SocketTuning(int rtoMinMs, int rtoMaxMs, boolean thinLinearTimeouts) {
        this(rtoMinMs, rtoMaxMs, thinLinearTimeouts, "");
    }

    /** The documented defaults: 20 ms, 1 s, thin linear timeouts on, BBR. */
    public static SocketTuning defaults() {
        return new SocketTuning(DEFAULT_RTO_MIN_MS, DEFAULT_RTO_MAX_MS, true, DEFAULT_CONGESTION);
    }

    /** Leaves every socket as the kernel made it. */
    public static SocketTuning none() {
        return new SocketTuning(0, 0, false);
    }

    boolean isNone() {
        return rtoMinMs == 0 && rtoMaxMs == 0 && !thinLinearTimeouts && congestion.isEmpty();
    }

    /** Sets the options on the socket of the TCP connection from {@code local} to {@code remote} in this process. */
    Applied apply(SocketAddress local, SocketAddress remote) throws IOException {
        if (isNone()) {
            return new Applied(List.of(), List.of());
        }
        if (!(local instanceof InetSocketAddress l) || !(remote instanceof InetSocketAddress r)) {
            throw new IOException("not a TCP connection: " + local + " -> " + remote);
        }
        OptionalInt fd = descriptorOf(l, r);
        if (fd.isEmpty()) {
            throw new IOException("no socket descriptor for " + l + " -> " + r + " in /proc/self");
        }
        return apply(fd.getAsInt());
    }

    /** Sets the options on the TCP socket {@code fd}. */
    Applied apply(int fd) throws IOException {
        LibC libc;
        try {
            libc = LibcLoader.load("the stream's TCP options");
        } catch (NativeCallException e) {
            throw new IOException(e.getMessage(), e);
        }
        List<String> set = new ArrayList<>();
        List<String> refused = new ArrayList<>();
        if (rtoMinMs > 0) {
            option(libc, fd, TCP_RTO_MIN_US, rtoMinMs * 1000, "TCP_RTO_MIN_US " + rtoMinMs + " ms", set, refused);
        }
        if (rtoMaxMs > 0) {
            option(libc, fd, TCP_RTO_MAX_MS, rtoMaxMs, "TCP_RTO_MAX_MS " + rtoMaxMs + " ms", set, refused);
        }
        if (thinLinearTimeouts) {
            option(libc, fd, TCP_THIN_LINEAR_TIMEOUTS, 1, "TCP_THIN_LINEAR_TIMEOUTS", set, refused);
        }
        if (!congestion.isEmpty()) {
            byte[] name = congestion.getBytes(StandardCharsets.US_ASCII);
            try (Memory v = new Memory(name.length + 1L)) {
                v.clear();
                v.write(0, name, 0, name.length);
                if (libc.setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, v, name.length) == 0) {
                    set.add("TCP_CONGESTION " + congestion);
                } else {
                    refused.add("TCP_CONGESTION " + congestion + " (errno " + LibcLoader.lastError() + ")");
                }
            }
        }
        return new Applied(List.copyOf(set), List.copyOf(refused));
    }

    private static void option(LibC libc, int fd, int name, int value, String what, List<String> set,
            List<String> refused) {
        try (Memory v = new Memory(4)) {
            v.setInt(0, value);
            if (libc.setsockopt(fd, IPPROTO_TCP, name, v, 4) == 0) {
                set.add(what);
            } else {
                refused.add(what + " (errno " + LibcLoader.lastError() + ")");
            }
        }
    }

    /** The value of the TCP option {@code name} of socket {@code fd}. */
    static int get(int fd, int name) throws IOException {
        try (Memory v = new Memory(4); Memory len = new Memory(4)) {
            len.setInt(0, 4);
            LibC libc = LibcLoader.load("the stream's TCP options");
            if (libc.getsockopt(fd, IPPROTO_TCP, name, v, len) != 0) {
                throw new IOException("getsockopt(" + fd + ", IPPROTO_TCP, " + name + ") failed: errno "
                        + LibcLoader.lastError());
            }
            return v.getInt(0);
        } catch (NativeCallException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /** The congestion control of socket {@code fd}. */
    static String congestion(int fd) throws IOException {
        try (Memory v = new Memory(CONGESTION_NAME_MAX); Memory len = new Memory(4)) {
            v.clear();
            len.setInt(0, CONGESTION_NAME_MAX);
            LibC libc = LibcLoader.load("the stream's TCP options");
            if (libc.getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, v, len) != 0) {
                throw new IOException("getsockopt(" + fd + ", IPPROTO_TCP, TCP_CONGESTION) failed: errno "
                        + LibcLoader.lastError());
            }
            return v.getString(0, StandardCharsets.US_ASCII.name());
        } catch (NativeCallException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /**
     * The descriptor of this process's TCP socket from {@code local} to {@code remote}: its inode from
     * {@code /proc/self/net/tcp6} (Java's sockets are IPv6 ones, IPv4 addresses mapped) or {@code tcp}, then the entry
     * of {@code /proc/self/fd} that links to {@code socket:[inode]}.
     */
    static OptionalInt descriptorOf(InetSocketAddress local, InetSocketAddress remote) throws IOException {
        long inode = -1;
        for (String table : List.of("tcp6", "tcp")) {
            Path p = Path.of("/proc/self/net", table);
            if (Files.isReadable(p)) {
                inode = inodeIn(Files.readAllLines(p, StandardCharsets.US_ASCII), local, remote);
                if (inode > 0) {
                    break;
                }
            }
        }
        if (inode <= 0) {
            return OptionalInt.empty();
        }
        String target = "socket:[" + inode + "]";
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path fd : fds) {
                try {
                    if (Files.readSymbolicLink(fd).toString().equals(target)) {
                        return OptionalInt.of(Integer.parseInt(fd.getFileName().toString()));
                    }
                } catch (IOException e) {
                    // closed meanwhile: not ours
                }
            }
        }
        return OptionalInt.empty();
    }

    /** The inode of the connection in the lines of a {@code /proc/net/tcp} or {@code tcp6} table, or -1. */
    static long inodeIn(List<String> lines, InetSocketAddress local, InetSocketAddress remote) {
        for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
            String[] f = line.strip().split("\\s+");
            if (f.length < 10) {
                continue;
            }
            if (matches(f[1], local) && matches(f[2], remote)) {
                long inode = Long.parseLong(f[9]);
                if (inode > 0) {
                    return inode;
                }
            }
        }
        return -1;
    }

    /** Whether {@code field} ("0100007F:1D3C", or 32 hex digits and a port for tcp6) is {@code address}. */
    static boolean matches(String field, InetSocketAddress address) {
        int colon = field.indexOf(':');
        if (colon < 0 || Integer.parseInt(field.substring(colon + 1), 16) != address.getPort()) {
            return false;
        }
        byte[] raw = HexFormat.of().parseHex(field.substring(0, colon).toLowerCase(Locale.ROOT));
        // each 32-bit word is printed in host order (little-endian on every 64-bit Linux Romulus runs on)
        for (int w = 0; w + 4 <= raw.length; w += 4) {
            for (int i = 0; i < 2; i++) {
                byte t = raw[w + i];
                raw[w + i] = raw[w + 3 - i];
                raw[w + 3 - i] = t;
            }
        }
        InetAddress a = address.getAddress();
        byte[] want = a.getAddress();
        if (raw.length == want.length) {
            return Arrays.equals(raw, want);
        }
        if (raw.length == 16 && a instanceof Inet4Address) {
            byte[] mapped = new byte[16];
            mapped[10] = (byte) 0xff;
            mapped[11] = (byte) 0xff;
            System.arraycopy(want, 0, mapped, 12, 4);
            return Arrays.equals(raw, mapped);
        }
        return false;
    }
}
