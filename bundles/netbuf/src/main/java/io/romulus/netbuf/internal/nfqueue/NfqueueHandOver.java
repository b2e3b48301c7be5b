package io.romulus.netbuf.internal.nfqueue;

import java.io.IOException;
import java.io.Reader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The queues an NFQUEUE provider hands to the next version of its bundle in the same JVM, as a file in the bundle's
 * data area (plain data, no class crosses the update). The kernel drops what a queue holds when the socket bound to
 * it closes, and no second socket can bind a queue that one has bound; so at a bundle update the old provider does
 * not close its sockets: it stops reading, and writes down each socket's descriptor with the ledger of what the queue
 * holds. The new provider takes the descriptors over and reads on: nothing held is dropped, and what the guest sends
 * meanwhile waits in the queue.
 *
 * <p>A descriptor is taken over only when the file was written by this process and the descriptor still is the
 * socket it was ({@code /proc/self/fd/N} names the same socket inode); a file left by an earlier process is ignored
 * (the kernel destroyed its queues when that process ended).
 */
final class NfqueueHandOver {

    /** The socket of one queue: its descriptor, what {@code /proc/self/fd} says it is, the rules that feed it. */
    record Queue(String netns, int fd, String socket, List<List<String>> ruleRemovals) {
    }

    /** One interface's hold as the old provider left it. */
    record Hold(String dev, int queue, Queue socket, NfqueueOutputBuffer.Ledger ledger) {
        /** The key of the provider's holds: {@code netns/dev}. */
        String key() {
            return (socket.netns() == null ? "" : socket.netns()) + "/" + dev;
        }
    }

    private static final Logger LOG = LoggerFactory.getLogger(NfqueueHandOver.class);
    private static final String ARG_SEPARATOR = "\u001f";

    private NfqueueHandOver() {
    }

    /** What {@code /proc/self/fd/FD} links to ({@code socket:[INODE]}), or null when the descriptor is not open. */
    static String socketOf(int fd) {
        try {
            return Files.readSymbolicLink(Path.of("/proc/self/fd", Integer.toString(fd))).toString();
        } catch (IOException | UnsupportedOperationException e) {
            return null;
        }
    }

    /** Writes {@code holds} for the next provider of this process (replacing the file atomically). */
    static void write(Path file, List<Hold> holds) throws IOException {
        Properties p = new Properties();
        p.setProperty("pid", Long.toString(ProcessHandle.current().pid()));
        p.setProperty("holds", Integer.toString(holds.size()));
        for (int i = 0; i < holds.size(); i++) {
            Hold h = holds.get(i);
            String k = "hold." + i + ".";
            p.setProperty(k + "netns", h.socket().netns() == null ? "" : h.socket().netns());
            p.setProperty(k + "dev", h.dev());
            p.setProperty(k + "queue", Integer.toString(h.queue()));
            p.setProperty(k + "fd", Integer.toString(h.socket().fd()));
            p.setProperty(k + "socket", h.socket().socket());
            List<List<String>> rules = h.socket().ruleRemovals();
            p.setProperty(k + "rules", Integer.toString(rules.size()));
            for (int r = 0; r < rules.size(); r++) {
                p.setProperty(k + "rule." + r, String.join(ARG_SEPARATOR, rules.get(r)));
            }
            NfqueueOutputBuffer.Ledger l = h.ledger();
            p.setProperty(k + "receivedAny", Boolean.toString(l.receivedAny()));
            p.setProperty(k + "lastReceived", Integer.toString(l.lastReceived()));
            p.setProperty(k + "lastVerdict", Integer.toString(l.lastVerdict()));
            p.setProperty(k + "dropOwed", Boolean.toString(l.dropOwed()));
            p.setProperty(k + "dropUpTo", Integer.toString(l.dropUpTo()));
            p.setProperty(k + "heldPackets", Long.toString(l.heldPackets()));
            p.setProperty(k + "heldBytes", Long.toString(l.heldBytes()));
        }
        Files.createDirectories(file.toAbsolutePath().getParent());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (Writer w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            p.store(w, "NFQUEUE sockets handed to the next version of io.romulus.netbuf in this process");
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /**
     * The holds in {@code file} that this process can take over (see the class comment), and deletes the file: a
     * descriptor is taken over once. None when there is no file.
     */
    static List<Hold> take(Path file) {
        if (file == null || !Files.isRegularFile(file)) {
            return List.of();
        }
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            p.load(r);
        } catch (IOException | IllegalArgumentException e) {
            LOG.warn("Cannot read the NFQUEUE hand-over file {}: {}; its queues (if any) are not taken over", file,
                    e.toString());
            return List.of();
        } finally {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                LOG.warn("Cannot delete the NFQUEUE hand-over file {}: {}", file, e.toString());
            }
        }
        List<Hold> out = new ArrayList<>();
        try {
            if (Long.parseLong(p.getProperty("pid", "-1")) != ProcessHandle.current().pid()) {
                LOG.info("The NFQUEUE hand-over file {} is from an earlier process; its queues ended with it", file);
                return List.of();
            }
            int n = Integer.parseInt(p.getProperty("holds", "0"));
            for (int i = 0; i < n; i++) {
                Hold h = hold(p, "hold." + i + ".");
                String now = socketOf(h.socket().fd());
                if (!h.socket().socket().equals(now)) {
                    LOG.warn("NFQUEUE {} of {}: descriptor {} is no longer the socket handed over ({} then, {} now); "
                            + "not taken over", h.queue(), h.dev(), h.socket().fd(), h.socket().socket(), now);
                    continue;
                }
                out.add(h);
            }
        } catch (RuntimeException e) {
            LOG.warn("The NFQUEUE hand-over file {} is malformed ({}); its queues are not taken over", file,
                    e.toString());
            return List.of();
        }
        return out;
    }

    private static Hold hold(Properties p, String k) {
        String netns = p.getProperty(k + "netns", "");
        List<List<String>> rules = new ArrayList<>();
        int n = Integer.parseInt(required(p, k + "rules"));
        for (int r = 0; r < n; r++) {
            rules.add(List.copyOf(Arrays.asList(required(p, k + "rule." + r).split(ARG_SEPARATOR, -1))));
        }
        Queue socket = new Queue(netns.isEmpty() ? null : netns, Integer.parseInt(required(p, k + "fd")),
                required(p, k + "socket"), List.copyOf(rules));
        NfqueueOutputBuffer.Ledger ledger = new NfqueueOutputBuffer.Ledger(
                Boolean.parseBoolean(required(p, k + "receivedAny")), Integer.parseInt(required(p, k + "lastReceived")),
                Integer.parseInt(required(p, k + "lastVerdict")), Boolean.parseBoolean(required(p, k + "dropOwed")),
                Integer.parseInt(required(p, k + "dropUpTo")), Long.parseLong(required(p, k + "heldPackets")),
                Long.parseLong(required(p, k + "heldBytes")));
        return new Hold(required(p, k + "dev"), Integer.parseInt(required(p, k + "queue")), socket, ledger);
    }

    private static String required(Properties p, String key) {
        String v = p.getProperty(key);
        if (v == null) {
            throw new IllegalArgumentException("no " + key);
        }
        return v;
    }
}
