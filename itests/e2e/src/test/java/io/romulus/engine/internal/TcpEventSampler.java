package io.romulus.engine.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Where a long client wait of the degraded-link benchmark came from: samples the TCP counters of the primary's and the
 * backup's network namespaces every few milliseconds (through {@code /proc/PID/net/snmp} and {@code netstat} of a
 * process inside each, so without forking a command per sample), and for a wait names the first recovery event that
 * happened on either host while it lasted: a retransmission timeout, a tail-loss probe, a fast retransmission or other
 * retransmission of the primary's stream, a retransmission of the backup's ACKs, or none (then the wait was a loss of
 * a packet the hosts' own stacks do not send, the guest's reply, which waits for the guest's retransmission timeout;
 * or checkpoints queued behind the stream's congestion window).
 */
final class TcpEventSampler implements AutoCloseable {

    /** The counters sampled, as /proc/net/snmp ("Tcp") and /proc/net/netstat ("TcpExt") name them. */
    static final List<String> COUNTERS = List.of("TcpRetransSegs", "TcpExtTCPTimeouts", "TcpExtTCPLossProbes",
            "TcpExtTCPFastRetrans", "TcpExtTCPLostRetransmit", "TcpExtTCPSpuriousRTOs", "TcpExtTCPSackRecovery");

    private static final int PERIOD_MS = 5;

    /** One sample: when (System.nanoTime) and the counters of the primary's and the backup's namespace. */
    private record Sample(long nanos, long[] primary, long[] backup) {
    }

    private final Path primaryNet;
    private final Path backupNet;
    private final List<Sample> samples = new CopyOnWriteArrayList<>();
    private final Thread thread;
    private volatile boolean running = true;

    /** Starts sampling the namespaces of the processes {@code primaryPid} and {@code backupPid}. */
    TcpEventSampler(long primaryPid, long backupPid) {
        this.primaryNet = Path.of("/proc", Long.toString(primaryPid), "net");
        this.backupNet = Path.of("/proc", Long.toString(backupPid), "net");
        thread = new Thread(this::run, "tcp-event-sampler");
        thread.setDaemon(true);
        thread.start();
    }

    /** A process inside {@code netns} (the first {@code ip netns pids} names). */
    static long pidIn(NetLab lab, String netns) throws IOException, InterruptedException {
        String out = lab.run(List.of("ip", "netns", "pids", netns)).strip();
        if (out.isEmpty()) {
            throw new IllegalStateException("no process in " + netns);
        }
        return Long.parseLong(out.split("\\s+")[0]);
    }

    private void run() {
        while (running) {
            try {
                samples.add(new Sample(System.nanoTime(), read(primaryNet), read(backupNet)));
                Thread.sleep(PERIOD_MS);
            } catch (IOException e) {
                return; // the namespace's process ended
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    static long[] read(Path net) throws IOException {
        Map<String, Long> all = new LinkedHashMap<>();
        for (String file : List.of("snmp", "netstat")) {
            List<String> lines = Files.readAllLines(net.resolve(file), StandardCharsets.US_ASCII);
            for (int i = 0; i + 1 < lines.size(); i += 2) {
                String[] names = lines.get(i).split("\\s+");
                String[] values = lines.get(i + 1).split("\\s+");
                String prefix = names[0].substring(0, names[0].length() - 1);
                for (int k = 1; k < Math.min(names.length, values.length); k++) {
                    if (prefix.equals("Tcp") || prefix.equals("TcpExt")) {
                        all.put(prefix + names[k], Long.parseLong(values[k]));
                    }
                }
            }
        }
        long[] v = new long[COUNTERS.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = all.getOrDefault(COUNTERS.get(i), 0L);
        }
        return v;
    }

    /**
     * What happened on the hosts' TCP stacks between {@code fromNanos} and {@code toNanos}: the dearest recovery
     * event's name ("primary RTO", "primary tail-loss probe", "primary fast retransmit", "primary retransmit",
     * "backup retransmit (ACKs)", or "no host retransmit").
     */
    String cause(long fromNanos, long toNanos) {
        Sample first = null;
        Sample last = null;
        for (Sample s : samples) {
            if (s.nanos() <= fromNanos) {
                first = s;
            } else if (s.nanos() <= toNanos + 5_000_000L) {
                last = s;
            }
        }
        if (first == null || last == null) {
            return "not sampled";
        }
        long[] p = diff(first.primary(), last.primary());
        long[] b = diff(first.backup(), last.backup());
        if (p[1] > 0) {
            return "primary RTO";
        }
        if (b[1] > 0) {
            return "backup RTO (ACKs)";
        }
        if (p[2] > 0) {
            return "primary tail-loss probe";
        }
        if (p[3] > 0) {
            return "primary fast retransmit";
        }
        if (p[0] > 0) {
            return "primary retransmit";
        }
        if (b[0] > 0) {
            return "backup retransmit (ACKs)";
        }
        return "no host retransmit (a lost reply of the guest, or a queue)";
    }

    /** The counters' increase between the first and the last sample in the window, per namespace. */
    String totals(long fromNanos, long toNanos) {
        Sample first = null;
        Sample last = null;
        for (Sample s : samples) {
            if (first == null && s.nanos() >= fromNanos) {
                first = s;
            }
            if (s.nanos() <= toNanos) {
                last = s;
            }
        }
        if (first == null || last == null) {
            return "not sampled";
        }
        return "primary " + named(diff(first.primary(), last.primary())) + "; backup "
                + named(diff(first.backup(), last.backup()));
    }

    private static String named(long[] d) {
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < d.length; i++) {
            parts.add(COUNTERS.get(i).replace("TcpExtTCP", "").replace("Tcp", "") + " " + d[i]);
        }
        return String.join(", ", parts).toLowerCase(Locale.ROOT);
    }

    private static long[] diff(long[] a, long[] b) {
        long[] d = new long[a.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = b[i] - a[i];
        }
        return d;
    }

    @Override
    public void close() {
        running = false;
        try {
            thread.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
