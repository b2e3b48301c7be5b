package io.romulus.engine.internal;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.TreeSet;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import io.romulus.api.disk.DiskWrite;

/**
 * The primary's checkpoint ledger: how epochs are numbered, which checkpoint was taken and acknowledged last, and what
 * every checkpoint the backup has not acknowledged carried (its pages and disk writes), so that a resumed stream sends
 * them again (ARCHITECTURE.md section 8) and a hand-over passes them on.
 *
 * <p>Epoch numbers only grow for the life of the protection, across reconnections. The loop writes here, the
 * transport's ACK thread acknowledges, the engine reads the status: all under this object's monitor.
 */
final class UnackedCheckpoints {

    @GuardedBy("this")
    private long nextEpoch;
    @GuardedBy("this")
    private long lastCheckpointed = -1;
    @GuardedBy("this")
    private long lastAcked = -1;
    /** Whether the backup holds a replica of this lineage that a new stream can resume. */
    @GuardedBy("this")
    private boolean resumable;
    /** Pages harvested in each checkpoint not yet acknowledged, by epoch. */
    @GuardedBy("this")
    private final NavigableMap<Long, long[]> pages = new TreeMap<>();
    /** Disk writes taken in each checkpoint not yet acknowledged, by epoch, per disk. */
    @GuardedBy("this")
    private final NavigableMap<Long, List<List<DiskWrite>>> writes = new TreeMap<>();
    /** When the pause of each checkpoint not yet acknowledged ended ({@link System#nanoTime()}), for its ACK latency. */
    @GuardedBy("this")
    private final Map<Long, Long> pauseEnds = new HashMap<>();

    /** Goes on where a previous engine stopped. */
    synchronized void restore(PrimaryProtection.HandedOver h) {
        nextEpoch = h.nextEpoch();
        lastAcked = h.lastAcked();
        lastCheckpointed = h.lastCheckpointed();
        resumable = h.resumable();
        pages.putAll(h.unackedPages());
    }

    synchronized long nextEpoch() {
        return nextEpoch;
    }

    synchronized long lastAcked() {
        return lastAcked;
    }

    synchronized long lastCheckpointed() {
        return lastCheckpointed;
    }

    synchronized boolean resumable() {
        return resumable;
    }

    /** How many checkpoints wait for their ACK, counted from {@code base} (a stream's initial epoch) at least. */
    synchronized long lag(long base) {
        return lastCheckpointed < 0 ? 0 : Math.max(0, lastCheckpointed - Math.max(lastAcked, base));
    }

    /** The range a new stream asks the backup to resume from, {@code {lastAcked, lastCheckpointed}}, or null. */
    synchronized long[] resumeRange() {
        if (!resumable || lastAcked < 0) {
            return null;
        }
        return new long[] {lastAcked, Math.max(lastAcked, lastCheckpointed)};
    }

    /**
     * A stream starts with an initial copy, numbered like an epoch: it replaces whatever the backup holds, so nothing
     * earlier needs to go again, and until its first checkpoint commits there is no replica to resume.
     */
    synchronized long startInitialCopy() {
        resumable = false;
        pages.clear();
        writes.clear();
        return nextEpoch++;
    }

    /** What a resumed stream's first checkpoint carries again: pages ascending, and disk writes per disk. */
    static final class Resend {

        /** The new stream's base: the last checkpoint taken before it, or the one resumed from. */
        final long fromEpoch;
        final long[] pages;
        final List<List<DiskWrite>> writes;
        /** How many unacknowledged checkpoints they come from. */
        final int checkpoints;

        Resend(long fromEpoch, long[] pages, List<List<DiskWrite>> writes, int checkpoints) {
            this.fromEpoch = fromEpoch;
            this.pages = pages;
            this.writes = writes;
            this.checkpoints = checkpoints;
        }
    }

    /**
     * The backup resumed its replica at {@code from}: what it committed is acknowledged (its ACK was lost with the
     * stream), and everything after it goes again.
     */
    synchronized Resend resume(long from, int diskCount) {
        if (from > lastAcked) {
            // its output is released with the first ACK of this stream (release is cumulative), never on the
            // strength of the HELLO alone: output leaves on ACKs
            lastAcked = from;
        }
        pages.headMap(from, true).clear();
        writes.headMap(from, true).clear();
        TreeSet<Long> again = new TreeSet<>();
        for (long[] epochPages : pages.values()) {
            for (long pfn : epochPages) {
                again.add(pfn);
            }
        }
        List<List<DiskWrite>> writesAgain = new ArrayList<>();
        for (int i = 0; i < diskCount; i++) {
            writesAgain.add(new ArrayList<>());
        }
        for (List<List<DiskWrite>> epochWrites : writes.values()) {
            for (int i = 0; i < epochWrites.size() && i < diskCount; i++) {
                writesAgain.get(i).addAll(epochWrites.get(i));
            }
        }
        // nothing up to the last checkpoint taken is in flight on the new stream: those epochs go again inside the next
        long initialEpoch = Math.max(from, nextEpoch - 1);
        return new Resend(initialEpoch, again.stream().mapToLong(Long::longValue).toArray(), writesAgain,
                pages.size());
    }

    /** In the pause of {@code epoch}: the pages harvested for it. */
    synchronized void pagesTaken(long epoch, long[] harvested) {
        pages.put(epoch, harvested);
    }

    /** {@code epoch} was sealed but not sent: its number is used up, the next stream's first checkpoint covers it. */
    synchronized void skip(long epoch) {
        nextEpoch = epoch + 1;
    }

    /** {@code epoch} was taken, with {@code diskWrites} (per disk, empty without disks), its pause ending at {@code pauseEnd}. */
    synchronized void checkpointTaken(long epoch, List<List<DiskWrite>> diskWrites, long pauseEnd) {
        if (!diskWrites.isEmpty()) {
            writes.put(epoch, diskWrites);
        }
        pauseEnds.put(epoch, pauseEnd);
        lastCheckpointed = epoch;
        nextEpoch = epoch + 1;
    }

    /**
     * ACK({@code epoch}): it and everything before it are committed on the backup. Returns false when an ACK at least
     * as new came before.
     */
    synchronized boolean acknowledged(long epoch) {
        if (epoch <= lastAcked) {
            return false;
        }
        lastAcked = epoch;
        pages.headMap(epoch, true).clear();
        writes.headMap(epoch, true).clear();
        resumable = true;
        return true;
    }

    /** When the pause of {@code epoch} ended, or null; forgets it and every earlier one. */
    synchronized Long takePauseEnd(long epoch) {
        Long end = pauseEnds.remove(epoch);
        pauseEnds.keySet().removeIf(e -> e < epoch);
        return end;
    }

    /** The disks' write logs ended: the backup's disks can only be brought up to date by a copy. */
    synchronized void diskLogsEnded() {
        resumable = false;
        writes.clear();
    }

    synchronized int unackedCount() {
        return pages.size();
    }

    /** The pages of every unacknowledged checkpoint, for the next engine. */
    synchronized NavigableMap<Long, long[]> unackedPages() {
        return new TreeMap<>(pages);
    }
}
