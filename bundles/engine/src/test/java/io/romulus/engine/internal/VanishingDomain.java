package io.romulus.engine.internal;

import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;

/**
 * A protected domain that goes away under the engine, as a binding reports it once the domain was stopped behind the
 * engine's back (the QEMU binding's "no longer open here"): from its next pause on, every pause fails.
 */
final class VanishingDomain extends ForwardingDomain {

    private final DomainId id;
    /** Set by the test: the domain is gone. */
    volatile boolean gone;
    /** When set, the next pause waits until it opens, and the domain is gone by then. */
    volatile CountDownLatch holdNextPause;
    /** Opens when a pause waits on {@link #holdNextPause}. */
    final CountDownLatch pausing = new CountDownLatch(1);
    /** When set, the next pause throws it (a fault the binding does not report as a HypervisorException). */
    volatile Error breakNextPause;

    private VanishingDomain(DomainId id, ProtectedDomain d) {
        super(d);
        this.id = id;
    }

    /** {@code h}, whose domains opened for protection go into {@code opened} as vanishing ones. */
    static Hypervisor binding(Hypervisor h, AtomicReference<VanishingDomain> opened) {
        return new ForwardingHypervisor(h) {
            @Override
            public ProtectedDomain open(DomainId id, Map<String, String> options) throws HypervisorException {
                VanishingDomain d = new VanishingDomain(id, super.open(id, options));
                opened.set(d);
                return d;
            }
        };
    }

    @Override
    public void pause() throws HypervisorException {
        Error fault = breakNextPause;
        if (fault != null) {
            breakNextPause = null;
            throw fault;
        }
        CountDownLatch hold = holdNextPause;
        if (hold != null) {
            pausing.countDown();
            try {
                hold.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            gone = true;
        }
        if (gone) {
            throw new HypervisorException(id + " is no longer open here");
        }
        super.pause();
    }
}
