package io.romulus.netbuf.internal.plug;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

import io.romulus.netbuf.internal.BufferHandle;
import io.romulus.netbuf.internal.netlink.NetlinkException;
import io.romulus.netbuf.internal.netlink.Rtnetlink;
import io.romulus.support.linux.Errno;

import org.junit.jupiter.api.Test;

/**
 * The epoch bookkeeping of the plug output buffer against a model of sch_plug (net/sched/sch_plug.c: a FIFO,
 * {@code pkts_current_epoch}, one {@code pkts_last_epoch}, {@code pkts_to_release}, {@code unplug_indefinite}).
 * The "guest" tags each packet with the epoch it belongs to; whatever leaves the model must belong to a released
 * epoch (invariant I1).
 */
class PlugOutputBufferTest {

    /** sch_plug's counters, as plug_enqueue / plug_dequeue / plug_change keep them. */
    static final class ModelPlug implements PlugOutputBuffer.Kernel {
        final Deque<Long> queue = new ArrayDeque<>();
        final List<Long> sent = new ArrayList<>();
        final List<Integer> actions = new ArrayList<>();
        long current;
        long last;
        long toRelease;
        boolean indefinite;
        int replaced;
        boolean removed;
        boolean left;
        boolean failNext;

        void enqueue(long epoch) {
            queue.addLast(epoch);
            if (!indefinite) {
                current++;
            }
            drain();
        }

        private void drain() {
            while (!queue.isEmpty() && (indefinite || toRelease > 0)) {
                if (!indefinite) {
                    toRelease--;
                }
                sent.add(queue.removeFirst());
            }
        }

        @Override
        public void plug(int action) throws NetlinkException {
            if (failNext) {
                failNext = false;
                throw new NetlinkException("RTM_NEWQDISC", Errno.ENOBUFS, "test");
            }
            actions.add(action);
            switch (action) {
                case Rtnetlink.TCQ_PLUG_BUFFER -> {
                    last = current;
                    current = 0;
                    indefinite = false;
                }
                case Rtnetlink.TCQ_PLUG_RELEASE_ONE -> {
                    toRelease += last;
                    last = 0;
                }
                case Rtnetlink.TCQ_PLUG_RELEASE_INDEFINITE -> {
                    indefinite = true;
                    toRelease = 0;
                    last = 0;
                    current = 0;
                }
                default -> throw new NetlinkException("RTM_NEWQDISC", Errno.EINVAL, "action " + action);
            }
            drain();
        }

        @Override
        public void replaceEmpty() {
            replaced++;
            queue.clear();
            current = 0;
            last = 0;
            toRelease = 0;
            indefinite = false;
        }

        @Override
        public void remove() {
            removed = true;
            queue.clear();
        }

        @Override
        public void leave() {
            left = true;
        }
    }

    private final ModelPlug kernel = new ModelPlug();
    private int closed;
    private final PlugOutputBuffer buffer = new PlugOutputBuffer("tap0", kernel, () -> closed++);

    private void assertNothingEarly(long released) {
        for (long e : kernel.sent) {
            if (e > released) {
                fail("a packet of epoch " + e + " left while only epochs up to " + released + " were released: "
                        + kernel.sent);
            }
        }
    }

    @Test
    void remusRhythmIsOneBufferPerSealAndOneReleasePerAck() {
        for (long e = 1; e <= 5; e++) {
            kernel.enqueue(e);
            kernel.enqueue(e);
            buffer.seal(e);
            assertNothingEarly(e - 1);
            buffer.release(e);
            assertEquals(2 * e, kernel.sent.size(), "epoch " + e + " out once released");
        }
        assertEquals(List.of(0, 1, 0, 1, 0, 1, 0, 1, 0, 1), kernel.actions);
        assertEquals(0, buffer.stats().epochsOutstanding());
    }

    @Test
    void pipelinedEpochsNeverLeaveEarly() {
        int lag = 3;
        long released = 0;
        long epoch = 0;
        for (int round = 0; round < 200; round++) {
            epoch++;
            for (int i = 0; i < 1 + round % 4; i++) {
                kernel.enqueue(epoch);
            }
            buffer.seal(epoch);
            assertNothingEarly(released);
            if (epoch > lag) {
                released = epoch - lag;
                buffer.release(released);
                assertNothingEarly(released);
            }
        }
        assertEquals(lag, buffer.stats().epochsOutstanding());
        buffer.release(epoch);
        // the last sealed epochs share a region with the open epoch: out once the next epoch is sealed and released
        buffer.seal(epoch + 1);
        buffer.release(epoch + 1);
        assertTrue(kernel.queue.isEmpty(), "everything released in the end: " + kernel.queue);
        assertNothingEarly(epoch + 1);
        List<Long> sorted = new ArrayList<>(kernel.sent);
        sorted.sort(null);
        assertEquals(sorted, kernel.sent, "in order");
    }

    @Test
    void aFailedBufferKeepsOutputHeldWithTheNextEpoch() {
        kernel.enqueue(1);
        kernel.failNext = true;
        buffer.seal(1);
        kernel.enqueue(2);
        buffer.release(1); // no region sealed in the kernel: nothing may leave; a boundary is drawn now
        assertTrue(kernel.sent.isEmpty());
        buffer.seal(2);
        buffer.release(2);
        assertEquals(List.of(1L, 2L), kernel.sent);
    }

    @Test
    void passThroughReleasesEverythingAndResumeHoldsAgain() {
        kernel.enqueue(1);
        buffer.seal(1);
        kernel.enqueue(2);
        buffer.passThrough();
        assertTrue(buffer.passingThrough());
        assertEquals(List.of(1L, 2L), kernel.sent);
        kernel.enqueue(3);
        assertEquals(3, kernel.sent.size(), "unheld while passing through");
        buffer.resumeBuffering();
        kernel.enqueue(4);
        buffer.seal(4);
        assertEquals(3, kernel.sent.size(), "held again");
        buffer.release(4);
        assertEquals(List.of(1L, 2L, 3L, 4L), kernel.sent);
    }

    @Test
    void discardReplacesTheQdiscAndDropsWhatItHeld() {
        kernel.enqueue(1);
        buffer.seal(1);
        kernel.enqueue(2);
        buffer.discard();
        assertEquals(1, kernel.replaced);
        assertEquals(0, buffer.stats().epochsOutstanding());
        assertEquals(1, buffer.stats().packetsDropped(), "one discard");
        buffer.release(1);
        assertTrue(kernel.sent.isEmpty(), "discarded output never leaves");
        kernel.enqueue(3);
        buffer.seal(3);
        buffer.release(3);
        assertEquals(List.of(3L), kernel.sent);
    }

    @Test
    void closeRemovesOnceAndReleasesNothing() {
        kernel.enqueue(1);
        buffer.seal(1);
        buffer.close();
        buffer.close();
        assertTrue(kernel.removed);
        assertEquals(1, closed);
        buffer.release(1);
        assertTrue(kernel.sent.isEmpty());
        assertFalse(kernel.actions.contains(Rtnetlink.TCQ_PLUG_RELEASE_ONE));
    }

    @Test
    void detachKeepsEverythingHeldAndTheFirstEpochSealedAfterAdoptionTakesIt() {
        // packets are tagged with the epoch of the adopting engine they belong to: all of the old engine's is 1
        BufferHandle old = new BufferHandle(buffer);
        kernel.enqueue(1);
        old.seal(10);
        kernel.enqueue(1);
        old.seal(11); // the kernel's sealed slot is taken (epoch 10): 11 shares the open region
        kernel.enqueue(1);
        old.detach();
        kernel.enqueue(1);
        old.release(11);
        old.close();
        assertTrue(kernel.sent.isEmpty(), "a detached handle releases nothing: " + kernel.sent);
        assertFalse(kernel.removed, "nor does it remove the hold");
        assertTrue(buffer.detached());

        buffer.adopt();
        BufferHandle adopted = new BufferHandle(buffer);
        kernel.enqueue(1);
        adopted.seal(1); // a lower number than the old engine's: the adopting engine counts afresh
        kernel.enqueue(2);
        assertTrue(kernel.sent.isEmpty(), "nothing leaves before the first adopted epoch is released");
        adopted.release(1);
        assertNothingEarly(1);
        assertFalse(kernel.sent.isEmpty(), "the region the old engine sealed left with epoch 1");
        adopted.seal(2);
        adopted.release(2);
        assertEquals(List.of(1L, 1L, 1L, 1L, 1L, 2L), kernel.sent, "all of it, in order, once released");
    }

    @Test
    void detachWhilePassingThroughHoldsAgain() {
        BufferHandle old = new BufferHandle(buffer);
        old.passThrough();
        kernel.enqueue(0);
        old.detach();
        kernel.enqueue(1);
        assertEquals(List.of(0L), kernel.sent, "after the detach output is held");
        buffer.adopt();
        BufferHandle adopted = new BufferHandle(buffer);
        adopted.seal(1);
        adopted.release(1);
        assertEquals(List.of(0L, 1L), kernel.sent);
    }

    @Test
    void leaveKeepsTheQdiscHoldingAndReleasesNothingMore() {
        kernel.enqueue(1);
        buffer.seal(1);
        buffer.leave();
        buffer.release(1);
        buffer.close();
        assertTrue(kernel.left);
        assertFalse(kernel.removed, "the IFB, redirect and qdisc stay for the next provider");
        assertTrue(kernel.sent.isEmpty());
        assertEquals(1, closed, "the provider forgets it");
    }

    @Test
    void epochsAreSealedInIncreasingOrder() {
        buffer.seal(5);
        assertThrows(IllegalArgumentException.class, () -> buffer.seal(5));
    }
}
