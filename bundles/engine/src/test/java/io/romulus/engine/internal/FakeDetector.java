package io.romulus.engine.internal;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

import io.romulus.api.detector.FailureDetector;

/** A failure detector whose verdicts the test gives: {@link #suspect} and {@link #recover}. */
final class FakeDetector implements FailureDetector {

    private final String nodeId;
    final List<Watched> monitors = new CopyOnWriteArrayList<>();

    FakeDetector(String nodeId) {
        this.nodeId = nodeId;
    }

    @Override
    public String nodeId() {
        return nodeId;
    }

    @Override
    public Monitor monitor(String peerId, InetSocketAddress heartbeatAddress, Listener listener) {
        Watched w = new Watched(peerId, heartbeatAddress, listener);
        monitors.add(w);
        return w;
    }

    void suspect(String peerId) {
        for (Watched w : monitors) {
            if (w.peerId.equals(peerId) && !w.suspected) {
                w.suspected = true;
                w.listener.suspected(peerId, 12.0);
            }
        }
    }

    void recover(String peerId) {
        for (Watched w : monitors) {
            if (w.peerId.equals(peerId) && w.suspected) {
                w.suspected = false;
                w.listener.recovered(peerId);
            }
        }
    }

    boolean watches(String peerId) {
        return monitors.stream().anyMatch(w -> w.peerId.equals(peerId));
    }

    final class Watched implements Monitor {

        final String peerId;
        final InetSocketAddress address;
        final Listener listener;
        volatile boolean suspected;
        /** What {@link #silenceMillis()} says: NaN (not known) unless the test sets it. */
        volatile double silence = Double.NaN;
        final AtomicLong alive = new AtomicLong();

        Watched(String peerId, InetSocketAddress address, Listener listener) {
            this.peerId = peerId;
            this.address = address;
            this.listener = listener;
        }

        @Override
        public double phi() {
            return suspected ? 12.0 : 0.1;
        }

        @Override
        public boolean suspected() {
            return suspected;
        }

        @Override
        public void alive() {
            alive.incrementAndGet();
        }

        @Override
        public double silenceMillis() {
            return silence;
        }

        @Override
        public void close() {
            monitors.remove(this);
        }
    }
}
