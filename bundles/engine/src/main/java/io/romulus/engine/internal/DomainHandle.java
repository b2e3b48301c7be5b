package io.romulus.engine.internal;

import java.util.concurrent.locks.ReentrantLock;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The protected domain, as the loop may use it while its binding's bundle is updated (hot swap). The loop locks it
 * for each use; a binding going away waits for that use to end and lets go of the handle, which the binding keeps
 * for its next version; no checkpoint is taken until the next version adopts the domain.
 */
final class DomainHandle {

    private static final Logger LOG = LoggerFactory.getLogger(DomainHandle.class);

    private final DomainId id;
    private final String binding;
    private final ReentrantLock lock = new ReentrantLock();
    /** The domain, or null while its binding is being updated. */
    @GuardedBy("lock")
    private ProtectedDomain domain;

    DomainHandle(DomainId id, ProtectedDomain domain) {
        this.id = id;
        this.binding = id.binding();
        this.domain = domain;
    }

    String binding() {
        return binding;
    }

    /**
     * Locks the domain for one use by the loop, which ends it with {@link #unlock()}. While no binding holds it, a
     * stream cannot go on with an initial copy, so it ends (and the next one starts when the domain is back).
     */
    ProtectedDomain lock(String during) throws LinkLostException {
        ProtectedDomain d = lockIfPresent();
        if (d == null) {
            throw new LinkLostException("the '" + binding + "' binding went away during " + during);
        }
        return d;
    }

    /** Locks the domain for one use by the loop and returns it, or returns null (not locked) while it is away. */
    ProtectedDomain lockIfPresent() {
        lock.lock();
        boolean locked = false;
        try {
            ProtectedDomain d = domain;
            locked = d != null;
            return d;
        } finally {
            if (!locked) {
                lock.unlock();
            }
        }
    }

    /** Ends one use of the domain by the loop. */
    void unlock() {
        lock.unlock();
    }

    /** Protection starts: every page written from here on shows up in a harvest. */
    void startDirtyLog() throws HypervisorException {
        lock.lock();
        try {
            if (domain != null) {
                domain.startDirtyLog();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Whether a binding holds the domain. */
    boolean present() {
        lock.lock();
        try {
            return domain != null;
        } finally {
            lock.unlock();
        }
    }

    /** The binding is going away: waits for the loop to leave the domain and lets go of the handle. */
    void bindingGone() {
        lock.lock();
        try {
            if (domain != null) {
                domain = null;
                LOG.info("{}: the '{}' binding went away; checkpoints wait for its next version, output is held", id,
                        binding);
            }
        } finally {
            lock.unlock();
        }
    }

    /** A new version of the binding adopted the domain. */
    void adopt(ProtectedDomain adopted) {
        lock.lock();
        try {
            domain = adopted;
        } finally {
            lock.unlock();
        }
    }

    /** Protection ended: the dirty log stops, and the domain is released, or with {@code destroy} stopped. */
    void end(boolean destroy) {
        lock.lock();
        try {
            ProtectedDomain d = domain;
            if (d == null) {
                return;
            }
            try {
                d.stopDirtyLog();
            } catch (HypervisorException | RuntimeException e) {
                LOG.warn("Stopping the dirty log of {} failed", id, e);
            }
            if (destroy) {
                try {
                    d.destroy();
                    LOG.info("{} retired: its protection ended and the domain is stopped", id);
                } catch (HypervisorException | RuntimeException e) {
                    LOG.warn("Stopping the retired {} failed; it may still run unprotected", id, e);
                    d.close();
                }
            } else {
                d.close();
            }
        } finally {
            lock.unlock();
        }
    }

    /** The engine is being updated: the domain keeps running with its dirty log, for the next engine to adopt. */
    void detach() {
        lock.lock();
        try {
            if (domain != null) {
                domain.detach();
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Switchover: the paused domain stops for good and its image is kept as a replica committed at {@code epoch}
     * ({@link ProtectedDomain#stopAsReplica}); the handle lets go of it.
     */
    Replica keepAsReplica(ReplicaSpec spec, long epoch) throws HypervisorException {
        lock.lock();
        try {
            if (domain == null) {
                throw new HypervisorException("its '" + binding + "' binding is away (bundle update)");
            }
            Replica r = domain.stopAsReplica(spec, epoch);
            domain = null;
            return r;
        } finally {
            lock.unlock();
        }
    }

    /** Switchover where the binding keeps no image: the domain stops for good, and the handle lets go of it. */
    void destroyAndForget() throws HypervisorException {
        lock.lock();
        try {
            destroy();
            domain = null;
        } finally {
            lock.unlock();
        }
    }

    /** Another node runs the domain: this copy is stopped. */
    void destroy() throws HypervisorException {
        lock.lock();
        try {
            if (domain == null) {
                throw new HypervisorException("its '" + binding + "' binding is away (bundle update)");
            }
            domain.destroy();
        } finally {
            lock.unlock();
        }
    }
}
