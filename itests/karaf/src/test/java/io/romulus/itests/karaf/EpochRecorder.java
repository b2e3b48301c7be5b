package io.romulus.itests.karaf;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Polls the primary's Engine MBean through Jolokia, often enough that none of the epochs it keeps (the last 1024,
 * about 25 s at 40 Hz) is missed: every checkpoint's pause and ACK delay, and the domain's protection state, with
 * the time they were seen. Polls that fail (Jolokia gone while Hawtio is reinstalled) are counted, not fatal.
 */
final class EpochRecorder implements AutoCloseable {

    static final String ENGINE = "io.romulus:type=Engine,name=engine";

    /** One checkpoint as the Engine MBean's epochs operation shows it. */
    record Epoch(long epoch, long startedMillis, long runMicros, long pauseMicros, long ackMicros) {
        boolean acknowledged() {
            return ackMicros >= 0;
        }

        /** Wall-clock time the backup's ACK arrived: the end of the run, the pause, then the ACK delay. */
        long committedMillis() {
            return startedMillis + (runMicros + pauseMicros + ackMicros) / 1000;
        }
    }

    /** The domain's state on the primary at a time: PROTECTED, DEGRADED..., "absent" (no row), "unreachable". */
    record State(long millis, String state) {
    }

    private final KarafNode primary;
    private final String domain;
    private final Map<String, Epoch> epochs = new ConcurrentHashMap<>();
    private final List<State> states = new CopyOnWriteArrayList<>();
    private final Thread thread;
    private volatile boolean running = true;
    private volatile int failedPolls;

    EpochRecorder(KarafNode primary, String domain) {
        this.primary = primary;
        this.domain = domain;
        this.thread = new Thread(this::loop, "epoch-recorder");
        thread.setDaemon(true);
        thread.start();
    }

    private void loop() {
        while (running) {
            poll();
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** One poll now; also called by the test when it wants the latest state. */
    synchronized String poll() {
        long now = System.currentTimeMillis();
        try {
            JsonNode answers = primary.jolokiaBulk(com.fasterxml.jackson.databind.node.JsonNodeFactory.instance
                    .arrayNode().add(KarafNode.exec(ENGINE, "epochs", domain, 200))
                    .add(KarafNode.read(ENGINE, "Status")));
            if (answers.get(0).path("status").asInt() == 200) {
                for (JsonNode e : KarafNode.rows(answers.get(0).path("value"), "epoch")) {
                    Epoch epoch = new Epoch(e.path("epoch").asLong(), e.path("startedMillis").asLong(),
                            e.path("runMicros").asLong(), e.path("pauseMicros").asLong(),
                            e.path("ackMicros").asLong(-1));
                    epochs.put(epoch.startedMillis() + "/" + epoch.epoch(), epoch);
                }
            }
            String state = "absent";
            if (answers.get(1).path("status").asInt() == 200) {
                state = KarafNode.state(answers.get(1).path("value"), domain, "PRIMARY").orElse(state);
            } else {
                state = "unreachable";
            }
            states.add(new State(now, state));
            return state;
        } catch (Exception e) {
            failedPolls++;
            states.add(new State(now, "unreachable"));
            return "unreachable";
        }
    }

    int failedPolls() {
        return failedPolls;
    }

    List<Epoch> epochs() {
        List<Epoch> all = new ArrayList<>(epochs.values());
        all.sort((a, b) -> Long.compare(a.startedMillis(), b.startedMillis()));
        return all;
    }

    /** Whether a checkpoint that started after {@code millis} has been acknowledged (polls now). */
    boolean committedSince(long millis) {
        poll();
        return epochs.values().stream().anyMatch(e -> e.startedMillis() > millis && e.acknowledged());
    }

    /** The states the domain was seen in between two times. */
    NavigableSet<String> statesBetween(long fromMillis, long toMillis) {
        TreeSet<String> out = new TreeSet<>();
        for (State s : states) {
            if (s.millis() >= fromMillis && s.millis() <= toMillis) {
                out.add(s.state());
            }
        }
        return out;
    }

    /** Longest pause of the checkpoints that started in the window, microseconds (-1: none seen). */
    long longestPauseMicros(long fromMillis, long toMillis) {
        return epochs.values().stream().filter(e -> e.startedMillis() >= fromMillis && e.startedMillis() <= toMillis)
                .mapToLong(Epoch::pauseMicros).max().orElse(-1);
    }

    /** Checkpoints that started in the window. */
    long epochsIn(long fromMillis, long toMillis) {
        return epochs.values().stream()
                .filter(e -> e.startedMillis() >= fromMillis && e.startedMillis() <= toMillis).count();
    }

    /**
     * The longest time without a committed checkpoint that overlaps the window, milliseconds: between two
     * consecutive ACKs, or from the last ACK to the window's end when none came after it.
     */
    long longestCommitGapMillis(long fromMillis, long toMillis) {
        TreeMap<Long, Epoch> commits = new TreeMap<>();
        for (Epoch e : epochs.values()) {
            if (e.acknowledged()) {
                commits.put(e.committedMillis(), e);
            }
        }
        long gap = 0;
        Long previous = commits.floorKey(fromMillis);
        for (long t : commits.subMap(fromMillis, false, toMillis, true).keySet()) {
            if (previous != null) {
                gap = Math.max(gap, t - previous);
            }
            previous = t;
        }
        Long next = commits.higherKey(toMillis);
        if (previous != null) {
            gap = Math.max(gap, (next != null ? next : toMillis) - previous);
        } else if (next != null) {
            gap = Math.max(gap, next - fromMillis);
        }
        return gap;
    }

    /**
     * The fastest commit of any acknowledged checkpoint: its pause plus its ACK delay, microseconds. Output produced
     * in an epoch waits at least that long (it is released on the ACK), so a client reply faster than this cannot
     * have waited for one.
     */
    long fastestCommitMicros() {
        return epochs.values().stream().filter(Epoch::acknowledged).mapToLong(e -> e.pauseMicros() + e.ackMicros())
                .min().orElse(-1);
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
    }
}
