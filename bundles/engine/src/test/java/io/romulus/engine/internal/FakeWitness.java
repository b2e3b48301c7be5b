package io.romulus.engine.internal;

import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import io.romulus.api.witness.Witness;
import io.romulus.api.witness.WitnessException;

/**
 * An in-memory witness shared by several nodes; each node talks to it through {@link #viewOf}. The test cuts a node
 * off from it ({@link #unreachable}) and ends a node's holds ({@link #expire}), as a ZooKeeper session expiry does.
 */
final class FakeWitness {

    private record Hold(String node, long generation) {
    }

    private final Map<String, Hold> holds = new ConcurrentHashMap<>();
    private final AtomicLong generations = new AtomicLong();
    final Set<String> unreachable = ConcurrentHashMap.newKeySet();

    Witness viewOf(String node) {
        return new View(node);
    }

    Optional<String> holder(String domain) {
        Hold h = holds.get(domain);
        return h == null ? Optional.empty() : Optional.of(h.node);
    }

    /** Ends every hold of {@code node} (its session expired). */
    void expire(String node) {
        holds.values().removeIf(h -> h.node.equals(node));
    }

    private final class View implements Witness {

        final String node;

        View(String node) {
            this.node = node;
        }

        private void reach() throws WitnessException {
            if (unreachable.contains(node)) {
                throw new WitnessException("connection to the witness lost (test)");
            }
        }

        @Override
        public String describe() {
            return "test witness";
        }

        @Override
        public Optional<Lease> tryAcquire(String domain, String nodeId) throws WitnessException {
            reach();
            long g = generations.incrementAndGet();
            Hold mine = new Hold(nodeId, g);
            Hold now = holds.putIfAbsent(domain, mine);
            if (now != null) {
                return Optional.empty();
            }
            return Optional.of(new FakeLease(this, domain, mine));
        }

        @Override
        public Optional<String> holder(String domain) throws WitnessException {
            reach();
            return FakeWitness.this.holder(domain);
        }
    }

    private final class FakeLease implements Witness.Lease {

        final View view;
        final String domain;
        final Hold hold;

        FakeLease(View view, String domain, Hold hold) {
            this.view = view;
            this.domain = domain;
            this.hold = hold;
        }

        @Override
        public String domain() {
            return domain;
        }

        @Override
        public String nodeId() {
            return hold.node;
        }

        @Override
        public boolean held() {
            return hold.equals(holds.get(domain));
        }

        @Override
        public boolean confirm() throws WitnessException {
            view.reach();
            return held();
        }

        @Override
        public void close() {
            holds.remove(domain, hold);
        }
    }
}
