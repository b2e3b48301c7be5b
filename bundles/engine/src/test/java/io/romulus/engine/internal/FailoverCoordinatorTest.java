package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import io.romulus.api.detector.FailureDetector;
import io.romulus.api.engine.Alarm;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.witness.Witness;
import io.romulus.api.witness.WitnessException;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The failover decision against a primary heard from again while it is being taken (ARCHITECTURE.md section 6): the
 * detector's verdicts are given by hand, and the engine's activation and the witness's answer are held at the moment
 * the test wants the primary back. Either the decision is abandoned and the log says "no failover", or the failover
 * goes on and the log says the primary was heard from after it began; never both.
 */
class FailoverCoordinatorTest {

    private static final DomainId DEMO = DomainId.parse("sim:demo");

    private final FakeDetector detector = new FakeDetector("node-b");
    private final Alarms alarms = new Alarms();
    private final AtomicInteger activations = new AtomicInteger();
    /** Counted down when the engine starts activating the replica; the activation then waits for {@link #release}. */
    private final CountDownLatch activating = new CountDownLatch(1);
    private final CountDownLatch release = new CountDownLatch(1);
    private volatile Witness witness;
    private FailoverCoordinator coordinator;

    /** What the coordinator logs, besides the usual output. */
    private final ByteArrayOutputStream log = new ByteArrayOutputStream();
    private PrintStream stderr;

    @BeforeEach
    void capture() {
        stderr = System.err;
        // slf4j-simple writes to whatever System.err is at the time
        System.setErr(new PrintStream(new Tee(stderr, log), true, StandardCharsets.UTF_8));
        coordinator = new FailoverCoordinator(new FailoverCoordinator.Engine() {
            @Override
            public EngineSettings settings() {
                return EngineSettings.defaults("node-b").withFailoverMode(EngineSettings.FailoverMode.AUTOMATIC);
            }

            @Override
            public FailureDetector detector() {
                return detector;
            }

            @Override
            public void noDetector(String consequence) {
                throw new AssertionError(consequence);
            }

            @Override
            public Witness witness() {
                return witness;
            }

            @Override
            public Alarms alarms() {
                return alarms;
            }

            @Override
            public boolean canActivate(DomainId id) {
                return true;
            }

            @Override
            public Activation.Outcome activate(DomainId id, Witness.Lease lease) throws Exception {
                activations.incrementAndGet();
                activating.countDown();
                assertTrue(release.await(30, TimeUnit.SECONDS));
                return new Activation.Outcome("", CompletableFuture.completedFuture(OptionalLong.empty()));
            }

            @Override
            public void takeOver(DomainId id, long epoch) {
                throw new AssertionError("no switchover here");
            }
        });
        coordinator.watch(DEMO, "node-a");
    }

    @AfterEach
    void restore() {
        release.countDown();
        coordinator.close();
        System.setErr(stderr);
    }

    private String logged() {
        return log.toString(StandardCharsets.UTF_8);
    }

    @Test
    void aPrimaryHeardFromOnceTheActivationBeganIsFailedOverAndTheLogSaysSo() throws Exception {
        detector.suspect("node-a");
        assertTrue(activating.await(10, TimeUnit.SECONDS), "the replica is being activated");

        detector.recover("node-a");
        release.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> alarms.recent(10).stream()
                .anyMatch(a -> a.kind() == Alarm.Kind.FAILOVER));
        assertEquals(1, activations.get());
        String said = logged();
        assertTrue(said.matches("(?s).*WARN .*Primary node-a of sim:demo is heard from again \\d+ ms after the "
                + "failover began; the failover goes on.*"), said);
        assertFalse(said.contains("no failover"), said);
    }

    @Test
    void aPrimaryHeardFromWhileTheWitnessIsAskedIsNotFailedOver() throws Exception {
        GatedWitness gated = new GatedWitness();
        witness = gated;

        detector.suspect("node-a");
        assertTrue(gated.asked.await(10, TimeUnit.SECONDS), "the witness is asked for the lease");
        detector.recover("node-a");
        gated.answer.countDown();

        // the decision ends either way: the lease given back (abandoned), or the replica activated
        await().atMost(Duration.ofSeconds(10)).until(() -> gated.givenBack() || activations.get() > 0);
        assertEquals(0, activations.get(), "no failover of a primary heard from before the activation began");
        assertTrue(gated.givenBack(), "the lease taken for nothing is given back");
        String said = logged();
        assertTrue(said.contains("Primary node-a of sim:demo is heard from again; no failover"), said);
        assertFalse(said.contains("after the failover began"), said);
        assertTrue(alarms.recent(10).stream().noneMatch(a -> a.kind() == Alarm.Kind.FAILOVER));
    }

    /** The test witness, whose answer to this node waits until the test lets it give it. */
    private static final class GatedWitness implements Witness {

        private final FakeWitness witness = new FakeWitness();
        private final Witness view = witness.viewOf("node-b");
        final CountDownLatch asked = new CountDownLatch(1);
        final CountDownLatch answer = new CountDownLatch(1);
        private volatile boolean granted;

        @Override
        public String describe() {
            return view.describe();
        }

        @Override
        public Optional<Lease> tryAcquire(String domain, String nodeId) throws WitnessException {
            asked.countDown();
            try {
                if (!answer.await(30, TimeUnit.SECONDS)) {
                    throw new WitnessException("the test never let the witness answer");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new WitnessException("interrupted", e);
            }
            Optional<Lease> lease = view.tryAcquire(domain, nodeId);
            granted = lease.isPresent();
            return lease;
        }

        @Override
        public Optional<String> holder(String domain) throws WitnessException {
            return view.holder(domain);
        }

        /** Whether this node was granted the lease of sim:demo, and gave it back since. */
        boolean givenBack() {
            return granted && witness.holder(DEMO.toString()).isEmpty();
        }
    }

    /** Writes to the usual output and into the captured log. */
    private static final class Tee extends OutputStream {

        private final PrintStream usual;
        private final ByteArrayOutputStream captured;

        Tee(PrintStream usual, ByteArrayOutputStream captured) {
            this.usual = usual;
            this.captured = captured;
        }

        @Override
        public void write(int b) {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            captured.write(b, off, len);
            usual.write(b, off, len);
        }

        @Override
        public void flush() {
            usual.flush();
        }
    }
}
