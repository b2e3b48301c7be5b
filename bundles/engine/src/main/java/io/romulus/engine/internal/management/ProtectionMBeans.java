package io.romulus.engine.internal.management;

import java.util.Dictionary;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

import javax.management.DynamicMBean;
import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.ReplicationEngine;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.management.ProtectionMBean;

import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps one {@code io.romulus:type=Protection,domain="binding:name"} MBean for every domain in
 * {@link ReplicationEngine#status()}, primary or backup: it compares the MBeans with the status every
 * {@value #PERIOD_MILLIS} ms, registers those of new domains and unregisters those of domains that are gone. In Karaf
 * the MBeans are services with {@code jmx.objectname} (Karaf's JMX whiteboard); tests give their own
 * {@link Registrar}.
 */
@Component(service = {}, immediate = true)
public final class ProtectionMBeans {

    private static final Logger LOG = LoggerFactory.getLogger(ProtectionMBeans.class);
    static final long PERIOD_MILLIS = 1000;

    /** Where the MBeans go: an MBeanServer, or the OSGi service registry. */
    public interface Registrar {
        /** Registers {@code mbean} under {@code name}; returns what unregisters it. */
        Runnable register(ObjectName name, ProtectionMBeanImpl mbean) throws Exception;
    }

    private final ReplicationEngine engine;
    private final Registrar registrar;
    private final ScheduledExecutorService timer;
    private final ScheduledFuture<?> task;
    @GuardedBy("this")
    private final Map<String, Runnable> registered = new HashMap<>();

    @Activate
    public ProtectionMBeans(@Reference ReplicationEngine engine, BundleContext context) {
        this(engine, (name, mbean) -> {
            @SuppressWarnings("JdkObsolete") // OSGi's registerService takes a Dictionary
            Dictionary<String, Object> props = new Hashtable<>();
            // type first, as written: Karaf finds the ACL by the key properties in this order
            // (jmx.acl.io.romulus.Protection), so not the canonical name, which sorts them
            props.put("jmx.objectname", name.toString());
            ServiceRegistration<?> r = context.registerService(new String[] {ProtectionMBean.class.getName(),
                DynamicMBean.class.getName()}, mbean, props);
            return r::unregister;
        });
    }

    /** Starts comparing every {@value #PERIOD_MILLIS} ms; {@link #close()} stops and unregisters every MBean. */
    public ProtectionMBeans(ReplicationEngine engine, Registrar registrar) {
        this.engine = engine;
        this.registrar = registrar;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "romulus-protection-mbeans");
            t.setDaemon(true);
            return t;
        });
        this.task = timer.scheduleWithFixedDelay(this::syncQuietly, 0, PERIOD_MILLIS, TimeUnit.MILLISECONDS);
    }

    /** The object name of a domain's MBean: the domain quoted, since {@code binding:name} has a colon. */
    public static ObjectName objectName(String domain) throws MalformedObjectNameException {
        return new ObjectName("io.romulus:type=Protection,domain=" + ObjectName.quote(domain));
    }

    /** A domain's row of the status: the primary's when this node holds both. */
    static ProtectionStatus row(List<ProtectionStatus> status, String domain) {
        ProtectionStatus found = null;
        for (ProtectionStatus s : status) {
            if (s.domain().equals(domain) && (found == null || s.role() == Role.PRIMARY)) {
                found = s;
            }
        }
        return found;
    }

    private void syncQuietly() {
        try {
            sync();
        } catch (RuntimeException e) {
            LOG.warn("Updating the Protection MBeans failed", e);
        }
    }

    /** Registers the MBeans of new domains and unregisters those of domains that are gone. */
    synchronized void sync() {
        Set<String> domains = new HashSet<>();
        for (ProtectionStatus s : engine.status()) {
            domains.add(s.domain());
        }
        registered.entrySet().removeIf(e -> {
            if (domains.contains(e.getKey())) {
                return false;
            }
            e.getValue().run();
            return true;
        });
        for (String d : domains) {
            if (!registered.containsKey(d)) {
                try {
                    registered.put(d, registrar.register(objectName(d),
                            new ProtectionMBeanImpl(engine, DomainId.parse(d))));
                } catch (Exception e) {
                    LOG.warn("Could not register the Protection MBean of {}", d, e);
                }
            }
        }
    }

    @Deactivate
    public void close() {
        task.cancel(false);
        timer.shutdown();
        synchronized (this) {
            registered.values().forEach(Runnable::run);
            registered.clear();
        }
    }
}
