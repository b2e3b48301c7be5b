package io.romulus.netbuf.internal.nfqueue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.romulus.support.state.StateFile;
import io.romulus.support.state.StateFileException;

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
    /** JSON through the support library's state file, as every hand-over file of Romulus. */
    private static final StateFile FILE = new StateFile("NFQUEUE hand-over file", 1);

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

    /** Writes {@code holds} for the next provider of this process (replacing the file in one step). */
    static void write(Path file, List<Hold> holds) throws IOException {
        ObjectNode state = FILE.create();
        state.put("pid", ProcessHandle.current().pid());
        ArrayNode list = state.putArray("holds");
        for (Hold h : holds) {
            ObjectNode o = list.addObject();
            o.put("netns", h.socket().netns() == null ? "" : h.socket().netns());
            o.put("dev", h.dev());
            o.put("queue", h.queue());
            o.put("fd", h.socket().fd());
            o.put("socket", h.socket().socket());
            ArrayNode rules = o.putArray("rules");
            for (List<String> rule : h.socket().ruleRemovals()) {
                ArrayNode argv = rules.addArray();
                rule.forEach(argv::add);
            }
            NfqueueOutputBuffer.Ledger l = h.ledger();
            o.put("receivedAny", l.receivedAny());
            o.put("lastReceived", l.lastReceived());
            o.put("lastVerdict", l.lastVerdict());
            o.put("dropOwed", l.dropOwed());
            o.put("dropUpTo", l.dropUpTo());
            o.put("heldPackets", l.heldPackets());
            o.put("heldBytes", l.heldBytes());
        }
        FILE.write(file, state);
    }

    /**
     * The holds in {@code file} that this process can take over (see the class comment), and deletes the file: a
     * descriptor is taken over once. None when there is no file.
     */
    static List<Hold> take(Path file) {
        if (file == null || !Files.isRegularFile(file)) {
            return List.of();
        }
        long pid;
        List<Hold> holds;
        try {
            JsonNode state = FILE.read(file, j -> j);
            pid = StateFile.number(state, "pid");
            holds = new ArrayList<>();
            for (JsonNode o : state.path("holds")) {
                holds.add(hold(o));
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("Cannot read the NFQUEUE hand-over file {}: {}; its queues (if any) are not taken over", file,
                    e.getMessage());
            return List.of();
        } finally {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                LOG.warn("Cannot delete the NFQUEUE hand-over file {}: {}", file, e.toString());
            }
        }
        if (pid != ProcessHandle.current().pid()) {
            LOG.info("The NFQUEUE hand-over file {} is from an earlier process; its queues ended with it", file);
            return List.of();
        }
        List<Hold> out = new ArrayList<>();
        for (Hold h : holds) {
            String now = socketOf(h.socket().fd());
            if (!h.socket().socket().equals(now)) {
                LOG.warn("NFQUEUE {} of {}: descriptor {} is no longer the socket handed over ({} then, {} now); "
                        + "not taken over", h.queue(), h.dev(), h.socket().fd(), h.socket().socket(), now);
                continue;
            }
            out.add(h);
        }
        return out;
    }

    private static Hold hold(JsonNode o) throws StateFileException {
        String netns = StateFile.text(o, "netns");
        List<List<String>> rules = new ArrayList<>();
        for (JsonNode argv : o.path("rules")) {
            List<String> rule = new ArrayList<>();
            argv.forEach(a -> rule.add(a.asText()));
            rules.add(List.copyOf(rule));
        }
        Queue socket = new Queue(netns.isEmpty() ? null : netns, Math.toIntExact(StateFile.number(o, "fd")),
                StateFile.text(o, "socket"), List.copyOf(rules));
        NfqueueOutputBuffer.Ledger ledger = new NfqueueOutputBuffer.Ledger(StateFile.flag(o, "receivedAny"),
                Math.toIntExact(StateFile.number(o, "lastReceived")), Math.toIntExact(StateFile.number(o, "lastVerdict")),
                StateFile.flag(o, "dropOwed"), Math.toIntExact(StateFile.number(o, "dropUpTo")),
                StateFile.number(o, "heldPackets"), StateFile.number(o, "heldBytes"));
        return new Hold(StateFile.text(o, "dev"), Math.toIntExact(StateFile.number(o, "queue")), socket, ledger);
    }
}
