package io.romulus.engine.internal;

import java.util.ArrayList;
import java.util.List;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import io.romulus.api.engine.OutputStatus;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.netbuf.OutputBufferProvider;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Output commit across the guest's interfaces (ARCHITECTURE.md section 3): each interface's buffer seals epoch N just
 * before its pause and releases it on ACK(N). Without a backup the output passes (I4) or, when another node runs the
 * domain, what is held is dropped (I5). Buffers come and go with their providers' bundles; one attached meanwhile
 * follows whether output passes.
 */
final class OutputCommit {

    private static final Logger LOG = LoggerFactory.getLogger(OutputCommit.class);

    private final DomainId id;
    private final List<PrimaryProtection.Output> outputs;
    /** Whether output passes unbuffered (no backup, I4); a buffer attached meanwhile must follow it. */
    @GuardedBy("this")
    private boolean passing;

    OutputCommit(DomainId id, List<PrimaryProtection.Output> outputs) {
        this.id = id;
        this.outputs = List.copyOf(outputs);
    }

    /** Seals epoch {@code epoch} on every interface: what the guest sends from now on belongs to the next one. */
    void seal(long epoch) {
        outputs.forEach(o -> o.each(b -> b.seal(epoch)));
    }

    /** ACK({@code epoch}): the output of every epoch up to it leaves. */
    void release(long epoch) {
        outputs.forEach(o -> o.each(b -> b.release(epoch)));
    }

    /** Holds output again (a backup is back, or the witness did not confirm the lease). */
    synchronized void hold() {
        outputs.forEach(o -> o.each(OutputBuffer::resumeBuffering));
        passing = false;
    }

    /** Lets output pass: no backup, and nothing stops it (I4). */
    synchronized void pass() {
        outputs.forEach(o -> o.each(OutputBuffer::passThrough));
        passing = true;
    }

    synchronized boolean passing() {
        return passing;
    }

    /** Packets held so far on every interface, a running count (interfaces whose buffer cannot count add 0). */
    long packetsHeld() {
        long n = 0;
        for (PrimaryProtection.Output o : outputs) {
            OutputBuffer b = o.buffer;
            if (b != null) {
                n += b.stats().packetsQueued();
            }
        }
        return n;
    }

    /** The buffers while the protection runs. */
    List<OutputStatus> statuses() {
        List<OutputStatus> out = new ArrayList<>();
        for (PrimaryProtection.Output o : outputs) {
            OutputBuffer b = o.buffer;
            if (b != null) {
                out.add(new OutputStatus(id.toString(), b.interfaceName(), b.stats()));
            }
        }
        return out;
    }

    /**
     * An output buffer provider is going away: the buffers from it are dropped, not closed (the provider leaves its
     * hold in the kernel for its next version). Until {@link #attachMissing} the kernel holds or drops the
     * interface's output; nothing is released.
     */
    void providerGone(OutputBufferProvider p) {
        for (PrimaryProtection.Output o : outputs) {
            if (o.provider == p && o.buffer != null) {
                o.buffer = null;
                LOG.info("{}: the output buffer of {} ('{}') went away; its output is held by the kernel until a "
                        + "provider adopts it", id, o.nic.name(), p.name());
            }
        }
    }

    /** Attaches every interface whose buffer went away to the best provider now (which adopts the hold). */
    void attachMissing(PrimaryProtection.Node node) {
        for (PrimaryProtection.Output o : outputs) {
            if (o.buffer != null) {
                continue;
            }
            try {
                PrimaryProtection.Output attached = node.attachOutput(o.nic);
                synchronized (this) {
                    if (passing) {
                        attached.buffer.passThrough();
                    }
                    o.provider = attached.provider;
                    o.buffer = attached.buffer;
                }
                LOG.info("{}: output of {} held by '{}' again", id, o.nic.name(), attached.provider.name());
            } catch (OutputBufferException | RuntimeException e) {
                LOG.warn("{}: no output buffer for {} yet: {}", id, o.nic.name(), e.getMessage());
            }
        }
    }

    /** The engine is being updated: the holds stay in the kernel for the next engine. */
    void detach() {
        outputs.forEach(o -> o.each(OutputBuffer::detach));
    }

    /** Drops whatever is held, keeping the buffers attached: what the guest still sends is held, never released. */
    void discard() {
        outputs.forEach(o -> o.each(OutputBuffer::discard));
    }

    /**
     * Protection ended: each buffer lets its output pass and closes, or, with {@code dropHeld}, first drops what it
     * holds (output the backup never acknowledged must not leave once it may be activated, I3/I5).
     */
    void close(boolean dropHeld) {
        for (PrimaryProtection.Output slot : outputs) {
            OutputBuffer o = slot.buffer;
            if (o == null) {
                continue;
            }
            try {
                if (dropHeld) {
                    o.discard();
                } else {
                    o.passThrough();
                }
                o.close();
            } catch (RuntimeException e) {
                LOG.warn("Closing the output buffer of {} on {} failed", id, o.interfaceName(), e);
            }
        }
    }
}
