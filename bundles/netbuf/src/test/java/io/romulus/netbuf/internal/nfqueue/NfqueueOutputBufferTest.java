package io.romulus.netbuf.internal.nfqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import io.romulus.api.netbuf.OutputBufferStats;
import io.romulus.netbuf.internal.BufferHandle;
import io.romulus.netbuf.internal.netlink.Nfqueue;

import org.junit.jupiter.api.Test;

/** The epoch ledger of the NFQUEUE buffer, with the kernel replaced by a recorder of verdicts. */
class NfqueueOutputBufferTest {

    private final List<String> log = new ArrayList<>();
    private boolean failNext;

    private final NfqueueOutputBuffer.Verdicts verdicts = (verdict, upTo) -> {
        if (failNext) {
            failNext = false;
            log.add("failed " + name(verdict) + " " + upTo);
            throw new IOException("ENOBUFS (test)");
        }
        log.add(name(verdict) + " " + upTo);
    };

    private final NfqueueOutputBuffer.Attachment attachment = new NfqueueOutputBuffer.Attachment() {
        @Override
        public void stopIntake() {
            log.add("stopIntake");
        }

        @Override
        public void shutdown() {
            log.add("shutdown");
        }

        @Override
        public void abandon() {
            log.add("abandon");
        }

        @Override
        public NfqueueHandOver.Queue handOver() {
            log.add("handOver");
            return new NfqueueHandOver.Queue("ns", 42, "socket:[4242]", List.of(List.of("iptables", "-D", "X")));
        }
    };

    private final NfqueueOutputBuffer buffer = new NfqueueOutputBuffer("rt0", 7, verdicts, attachment);

    private static String name(int verdict) {
        return verdict == Nfqueue.NF_ACCEPT ? "ACCEPT" : "DROP";
    }

    private void receive(int from, int to) {
        for (int id = from; id <= to; id++) {
            buffer.received(id, 100);
        }
        buffer.receivedAll();
    }

    @Test
    void releaseAcceptsUpToTheBoundaryOfTheNewestReleasedEpoch() {
        receive(1, 3);
        buffer.seal(1);
        receive(4, 5);
        buffer.seal(2);
        receive(6, 6);
        buffer.seal(3);
        assertEquals(List.of(), log, "nothing leaves before an ack");
        assertEquals(3, buffer.stats().epochsOutstanding());

        buffer.release(2);
        assertEquals(List.of("ACCEPT 5"), log, "one batch verdict for epochs 1 and 2");
        buffer.release(3);
        assertEquals(List.of("ACCEPT 5", "ACCEPT 6"), log);

        OutputBufferStats s = buffer.stats();
        assertEquals(6, s.packetsQueued());
        assertEquals(600, s.bytesQueued());
        assertEquals(6, s.packetsReleased());
        assertEquals(600, s.bytesReleased());
        assertEquals(0, s.epochsOutstanding());
    }

    @Test
    void packetsAfterTheSealBelongToTheNextEpoch() {
        receive(1, 2);
        buffer.seal(1);
        receive(3, 4); // queued by the kernel before seal(1) perhaps, received after: epoch 2
        buffer.release(1);
        assertEquals(List.of("ACCEPT 2"), log);
        buffer.release(1);
        assertEquals(List.of("ACCEPT 2"), log, "a repeated release sends nothing");
    }

    @Test
    void emptyEpochsSendNoVerdict() {
        buffer.seal(1);
        buffer.seal(2);
        buffer.release(2);
        assertEquals(List.of(), log);
        assertEquals(0, buffer.stats().epochsOutstanding());
    }

    @Test
    void epochsMustGrow() {
        buffer.seal(5);
        assertThrows(IllegalArgumentException.class, () -> buffer.seal(5));
    }

    @Test
    void discardDropsEverythingHeld() {
        receive(1, 3);
        buffer.seal(1);
        receive(4, 4);
        buffer.discard();
        assertEquals(List.of("DROP 4"), log);
        assertEquals(4, buffer.stats().packetsDropped());
        buffer.release(1);
        assertEquals(List.of("DROP 4"), log, "a discarded epoch is never released");
        receive(5, 5);
        buffer.seal(2);
        buffer.release(2);
        assertEquals(List.of("DROP 4", "ACCEPT 5"), log);
    }

    @Test
    void anAcceptNeverOvertakesAFailedDrop() {
        receive(1, 3);
        failNext = true;
        buffer.discard();
        receive(4, 5);
        buffer.seal(1);
        buffer.release(1);
        assertEquals(List.of("failed DROP 3", "DROP 3", "ACCEPT 5"), log,
                "the owed drop goes first, otherwise the batch accept would release 1-3");
    }

    @Test
    void aFailedAcceptKeepsTheEpochHeldAndIsRetried() {
        receive(1, 2);
        buffer.seal(1);
        failNext = true;
        buffer.release(1);
        assertEquals(1, buffer.stats().epochsOutstanding());
        assertEquals(1, buffer.verdictFailures());
        receive(3, 3);
        buffer.seal(2);
        buffer.release(1);
        assertEquals(List.of("failed ACCEPT 2", "ACCEPT 2"), log);
        assertEquals(1, buffer.stats().epochsOutstanding());
    }

    @Test
    void passThroughReleasesHeldAndLaterOutputAtOnce() {
        receive(1, 2);
        buffer.seal(1);
        receive(3, 3);
        buffer.passThrough();
        assertEquals(List.of("ACCEPT 3"), log);
        receive(4, 6);
        assertEquals(List.of("ACCEPT 3", "ACCEPT 6"), log, "one verdict per receive while passing through");
        buffer.resumeBuffering();
        receive(7, 8);
        buffer.seal(2);
        assertEquals(List.of("ACCEPT 3", "ACCEPT 6"), log, "held again");
        buffer.release(2);
        assertEquals(List.of("ACCEPT 3", "ACCEPT 6", "ACCEPT 8"), log);
        assertEquals(8, buffer.stats().packetsReleased());
        assertEquals(5, buffer.stats().packetsQueued(), "packets that passed through were never held");
    }

    @Test
    void closeStopsIntakeThenDropsThenShutsDown() {
        receive(1, 3);
        buffer.seal(1);
        receive(4, 4);
        buffer.close();
        assertEquals(List.of("stopIntake", "DROP 4", "shutdown"), log);
        buffer.release(1);
        buffer.close();
        assertEquals(List.of("stopIntake", "DROP 4", "shutdown"), log, "closed: nothing is ever released");
        assertEquals(4, buffer.stats().packetsDropped());
    }

    @Test
    void detachHoldsEverythingForTheFirstEpochSealedAfterAdoption() {
        BufferHandle old = new BufferHandle(buffer);
        receive(1, 2);
        old.seal(10);
        receive(3, 3);
        old.seal(11);
        receive(4, 4);
        old.detach();
        receive(5, 6); // the guest goes on sending while no engine drives the buffer
        old.release(11);
        old.discard();
        old.close();
        assertEquals(List.of(), log, "a detached handle decides nothing, not even at close");
        assertTrue(buffer.detached());
        assertEquals(0, buffer.stats().epochsOutstanding(), "the old engine's epochs are forgotten");

        buffer.adopt();
        BufferHandle adopted = new BufferHandle(buffer);
        receive(7, 7);
        adopted.seal(1); // the adopting engine counts afresh
        receive(8, 8);
        assertEquals(List.of(), log, "held until the first adopted epoch is released");
        adopted.release(1);
        assertEquals(List.of("ACCEPT 7"), log, "everything held at the detach and since, in one verdict");
        assertEquals(7, buffer.stats().packetsReleased());
        adopted.seal(2);
        adopted.release(2);
        assertEquals(List.of("ACCEPT 7", "ACCEPT 8"), log);
    }

    @Test
    void detachEndsPassThrough() {
        BufferHandle old = new BufferHandle(buffer);
        old.passThrough();
        receive(1, 2);
        old.detach();
        receive(3, 4);
        assertEquals(List.of("ACCEPT 2"), log, "what passed through before the detach went; later output is held");
        buffer.adopt();
        BufferHandle adopted = new BufferHandle(buffer);
        adopted.seal(1);
        adopted.release(1);
        assertEquals(List.of("ACCEPT 2", "ACCEPT 4"), log);
    }

    @Test
    void abandonLeavesTheRuleAndDecidesNothing() {
        receive(1, 3);
        buffer.seal(1);
        buffer.abandon();
        buffer.release(1);
        buffer.close();
        assertEquals(List.of("abandon"), log, "no verdict, no rule removal: the kernel drops what the queue held");
        assertFalse(buffer.detached());
    }

    @Test
    void handOverLetsNothingGoButWhatPassedAndTheNextProviderReleasesAllWithItsFirstEpoch() throws Exception {
        buffer.passThrough();
        receive(1, 2); // passed: accepted at once
        buffer.resumeBuffering();
        receive(3, 5);
        buffer.seal(1);
        receive(6, 7);
        buffer.seal(2);
        buffer.release(1); // ACK(1): up to 5 leaves
        receive(8, 8);
        assertEquals(List.of("ACCEPT 2", "ACCEPT 5"), log);

        NfqueueHandOver.Hold hold = buffer.handOver();
        buffer.release(2); // a late ACK from an engine that still held this buffer
        buffer.close();
        assertEquals(List.of("ACCEPT 2", "ACCEPT 5", "handOver"), log, "no verdict after the hand-over (I1)");
        assertEquals(new NfqueueOutputBuffer.Ledger(true, 8, 5, false, 0, 3, 300), hold.ledger(),
                "epoch 2 and the open region, merged: 6 to 8 held");
        assertEquals("ns/rt0", hold.key());
        assertEquals(7, hold.queue());

        List<String> next = new ArrayList<>();
        NfqueueOutputBuffer inherited = new NfqueueOutputBuffer("rt0", 7,
                (verdict, upTo) -> next.add(name(verdict) + " " + upTo), attachment);
        inherited.inherit(hold.ledger());
        assertTrue(inherited.detached(), "waits for the engine's next attach");
        inherited.received(9, 100); // queued while nobody read the queue
        BufferHandle adopted = BufferHandle.adoptDetached(java.util.Map.of("ns/rt0", inherited), "ns/rt0", "rt0");
        adopted.seal(40); // the engine's epoch numbers go on
        inherited.received(10, 100);
        assertEquals(List.of(), next, "held until the first epoch sealed after the adoption is acknowledged");
        adopted.release(40);
        assertEquals(List.of("ACCEPT 9"), next, "what the old provider held goes with that epoch, 10 waits for the "
                + "next; nothing dropped");
        OutputBufferStats s = inherited.stats();
        assertEquals(List.of(5L, 4L, 0L), List.of(s.packetsQueued(), s.packetsReleased(), s.packetsDropped()),
                "6 to 9 released, 10 held: " + s);
    }

    @Test
    void aDropOwedIsHandedOverAndSentBeforeAnyAccept() {
        receive(1, 3);
        buffer.seal(1);
        failNext = true;
        buffer.discard(); // the drop verdict fails: owed
        NfqueueHandOver.Hold hold = buffer.handOver();
        assertEquals(new NfqueueOutputBuffer.Ledger(true, 3, 0, true, 3, 0, 0), hold.ledger());

        List<String> next = new ArrayList<>();
        NfqueueOutputBuffer inherited = new NfqueueOutputBuffer("rt0", 7,
                (verdict, upTo) -> next.add(name(verdict) + " " + upTo), attachment);
        inherited.inherit(hold.ledger());
        inherited.adopt();
        inherited.received(4, 100);
        inherited.seal(1);
        inherited.release(1);
        assertEquals(List.of("DROP 3", "ACCEPT 4"), next, "the discarded packets never leave");
    }

    @Test
    void idsWrapAroundTwoToTheThirtyTwo() {
        buffer.received(0xfffffffe, 10);
        buffer.received(0xffffffff, 10);
        buffer.seal(1);
        buffer.received(0, 10);
        buffer.received(1, 10);
        buffer.seal(2);
        buffer.release(1);
        buffer.release(2);
        assertEquals(List.of("ACCEPT -1", "ACCEPT 1"), log);
        assertTrue(NfqueueOutputBuffer.after(1, 0xffffffff));
    }
}
