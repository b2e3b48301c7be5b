package io.romulus.engine.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.api.netbuf.OutputBufferException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The output buffers of a switchover's new primary, attached at "prepare" to the interfaces the prepared activation
 * will run with ({@link io.romulus.api.hypervisor.Replica#preparedInterfaces()}), on a thread of their own: the
 * backup answers "ready" without waiting for them, and they are ready by the time "go" comes, so that attaching them
 * (forks of {@code iptables} for NFQUEUE) costs the blackout nothing. They hold nothing until the domain runs. The
 * protection of the activated domain takes those whose interface it has ({@link #take}); whatever is not taken, or
 * when the preparation is taken back, is closed ({@link #close}): nothing stays attached.
 */
final class PreparedOutputs {

    private static final Logger LOG = LoggerFactory.getLogger(PreparedOutputs.class);

    /** Attaches the best output buffer for one interface (the engine's {@link HelperRegistry#attachOutput}). */
    @FunctionalInterface
    interface Attacher {
        PrimaryProtection.Output attach(GuestInterface nic) throws OutputBufferException;
    }

    private final DomainId id;
    private final CompletableFuture<List<PrimaryProtection.Output>> attached = new CompletableFuture<>();
    /** Taken by the protection, or closed: whichever comes first owns the buffers. */
    private final AtomicBoolean claimed = new AtomicBoolean();

    private PreparedOutputs(DomainId id) {
        this.id = id;
    }

    /** Starts attaching a buffer to each of {@code nics}; returns at once. */
    static PreparedOutputs attach(DomainId id, List<GuestInterface> nics, Attacher attacher) {
        PreparedOutputs p = new PreparedOutputs(id);
        Thread attaching = new Thread(() -> p.attachAll(List.copyOf(nics), attacher),
                "romulus-switchover-outputs-" + id);
        attaching.setDaemon(true);
        attaching.start();
        return p;
    }

    private void attachAll(List<GuestInterface> nics, Attacher attacher) {
        long start = System.nanoTime();
        List<PrimaryProtection.Output> outputs = new ArrayList<>();
        try {
            for (GuestInterface nic : nics) {
                outputs.add(attacher.attach(nic));
            }
        } catch (OutputBufferException | RuntimeException e) {
            outputs.forEach(o -> o.each(OutputBuffer::close));
            LOG.warn("{}: attaching the output buffers at the switchover's \"prepare\" failed ({}); they are attached "
                    + "after \"go\"", id, e.getMessage());
            attached.completeExceptionally(e);
            return;
        }
        LOG.info("{}: output buffers of {} attached at the switchover's \"prepare\" in {} ms", id,
                String.join(", ", nics.stream().map(GuestInterface::hostDevice).toList()),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
        attached.complete(outputs);
    }

    /**
     * The buffers attached, once they are (waiting up to {@code timeoutMs}), for the caller to own; empty when
     * attaching failed or took longer (then they are closed once attached, and the caller attaches its own), or when
     * they were taken or closed already.
     */
    List<PrimaryProtection.Output> take(long timeoutMs) throws InterruptedException {
        if (!claimed.compareAndSet(false, true)) {
            return List.of();
        }
        try {
            return attached.get(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            return List.of();
        } catch (TimeoutException e) {
            closeWhenAttached("not attached within " + timeoutMs + " ms");
            return List.of();
        }
    }

    /** Not taken: every buffer is closed as soon as it is attached (they held nothing). */
    void close(String why) {
        if (claimed.compareAndSet(false, true)) {
            closeWhenAttached(why);
        }
    }

    private void closeWhenAttached(String why) {
        Future<?> unused = attached.whenComplete((outputs, failed) -> {
            if (outputs == null || outputs.isEmpty()) {
                return;
            }
            LOG.info("{}: the output buffers attached at the switchover's \"prepare\" are not used ({}); closing them",
                    id, why);
            for (PrimaryProtection.Output o : outputs) {
                o.each(PreparedOutputs::closeQuietly);
            }
        });
    }

    private static void closeQuietly(OutputBuffer b) {
        try {
            b.close();
        } catch (RuntimeException e) {
            LOG.warn("Closing the output buffer of {} failed", b.interfaceName(), e);
        }
    }
}
