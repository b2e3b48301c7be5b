package io.romulus.engine.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Queue;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.transport.AckListener;
import io.romulus.api.transport.CheckpointChannel;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.CheckpointTransport;

/**
 * I1 as a client sees it, from outside the engine: when each checkpoint's pause began and when its ACK reached the
 * primary (System.nanoTime, CLOCK_MONOTONIC), against when the client sent each request and received its reply (the
 * same clock, in another process). A reply to a request sent at {@code s} is produced after {@code s}, so it may only
 * arrive after the ACK of a checkpoint whose pause began after {@code s}.
 */
final class OutputCommitWitness {

    /** One answer as the client saw it. */
    record Reply(long value, long sentNanos, long receivedNanos) {
    }

    private final Queue<Long> pauseStarts = new ConcurrentLinkedQueue<>();
    private final Map<Long, Long> pauseStartOfEpoch = new ConcurrentHashMap<>();
    private final Map<Long, Long> ackOfEpoch = new ConcurrentHashMap<>();

    Hypervisor binding(Hypervisor h) {
        return new ForwardingHypervisor(h) {
            @Override
            public ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
                return new ForwardingDomain(h.open(id, options)) {
                    private long pauseStarted;

                    @Override
                    public void pause() throws HypervisorException {
                        pauseStarted = System.nanoTime();
                        super.pause();
                    }

                    @Override
                    public byte[] captureDeviceState() throws HypervisorException {
                        byte[] state = super.captureDeviceState();
                        // checkpoints only, and only captured ones: their device states go out in order
                        pauseStarts.add(pauseStarted);
                        return state;
                    }
                };
            }
        };
    }

    CheckpointTransport transport(CheckpointTransport t) {
        return new ForwardingTransport(t) {
            @Override
            CheckpointChannel channel(CheckpointChannel c) {
                // a new stream (after a lost link) starts with a full copy: checkpoints captured for the old one and
                // never sent must not be taken for this one's
                pauseStarts.clear();
                return new ForwardingTransport.Channel(c) {
                    @Override
                    public void sendDeviceState(long epoch, byte[] state)
                            throws CheckpointException, InterruptedException {
                        Long started = pauseStarts.poll();
                        if (started != null) {
                            pauseStartOfEpoch.put(epoch, started);
                        }
                        super.sendDeviceState(epoch, state);
                    }
                };
            }

            @Override
            AckListener acks(AckListener l) {
                return new AckListener() {
                    @Override
                    public void acknowledged(long epoch) {
                        ackOfEpoch.putIfAbsent(epoch, System.nanoTime());
                        l.acknowledged(epoch);
                    }

                    @Override
                    public void closed(Throwable cause) {
                        l.closed(cause);
                    }
                };
            }
        };
    }

    /** The replies that arrived before the ACK of any checkpoint that could hold them; empty when I1 held. */
    List<String> violations(List<Reply> replies) {
        NavigableMap<Long, Long> earliestAckByPauseStart = new TreeMap<>();
        for (Map.Entry<Long, Long> e : pauseStartOfEpoch.entrySet()) {
            Long ack = ackOfEpoch.get(e.getKey());
            if (ack != null) {
                earliestAckByPauseStart.merge(e.getValue(), ack, Math::min);
            }
        }
        // the earliest ACK among checkpoints whose pause began at or after a given time
        NavigableMap<Long, Long> earliestFrom = new TreeMap<>();
        long min = Long.MAX_VALUE;
        for (Map.Entry<Long, Long> e : earliestAckByPauseStart.descendingMap().entrySet()) {
            min = Math.min(min, e.getValue());
            earliestFrom.put(e.getKey(), min);
        }
        List<String> out = new ArrayList<>();
        for (Reply r : replies) {
            Map.Entry<Long, Long> first = earliestFrom.higherEntry(r.sentNanos());
            if (first == null || first.getValue() > r.receivedNanos()) {
                out.add("reply " + r.value() + " arrived " + (r.receivedNanos() - r.sentNanos()) / 1000
                        + " us after its request, before the ACK of any checkpoint taken after the request");
            }
        }
        return out;
    }

    int checkpointsSeen() {
        return ackOfEpoch.size();
    }
}
