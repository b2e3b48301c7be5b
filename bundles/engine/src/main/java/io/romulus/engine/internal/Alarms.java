package io.romulus.engine.internal;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

import io.romulus.api.engine.Alarm;
import io.romulus.api.hypervisor.DomainId;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The engine's alarms: each is logged once, kept in a short history and handed to listeners (the Engine MBean). */
final class Alarms {

    private static final Logger LOG = LoggerFactory.getLogger(Alarms.class);
    private static final int KEPT = 256;

    private final Deque<Alarm> recent = new ArrayDeque<>();
    private final List<Consumer<Alarm>> listeners = new CopyOnWriteArrayList<>();

    /** Raises an alarm: logged at WARN, except PROTECTED (the all-clear), at INFO. */
    void raise(Alarm.Kind kind, DomainId domain, String message) {
        if (kind == Alarm.Kind.PROTECTED) {
            LOG.info("ALARM CLEARED {} {}: {}", kind, domain, message);
        } else {
            LOG.warn("ALARM {} {}: {}", kind, domain, message);
        }
        record(kind, domain, message);
    }

    /**
     * Raises the alarm of something the operator asked for (a failover by romulus:failover): listeners and the
     * history get it as any other, and the log says it at INFO, like the operator's other actions.
     */
    void raiseAsked(Alarm.Kind kind, DomainId domain, String message) {
        LOG.info("ALARM {} {}: {}", kind, domain, message);
        record(kind, domain, message);
    }

    private void record(Alarm.Kind kind, DomainId domain, String message) {
        Alarm alarm = new Alarm(System.currentTimeMillis(), kind, domain.toString(), message);
        synchronized (recent) {
            recent.addLast(alarm);
            while (recent.size() > KEPT) {
                recent.removeFirst();
            }
        }
        for (Consumer<Alarm> l : listeners) {
            try {
                l.accept(alarm);
            } catch (RuntimeException e) {
                LOG.warn("An alarm listener failed on {}", alarm, e);
            }
        }
    }

    List<Alarm> recent(int limit) {
        synchronized (recent) {
            List<Alarm> all = new ArrayList<>(recent);
            return List.copyOf(all.subList(Math.max(0, all.size() - Math.max(1, limit)), all.size()));
        }
    }

    void add(Consumer<Alarm> listener) {
        listeners.add(listener);
    }

    void remove(Consumer<Alarm> listener) {
        listeners.remove(listener);
    }
}
