package io.romulus.engine.internal.management;

import java.util.Dictionary;
import java.util.Hashtable;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import javax.management.DynamicMBean;
import javax.management.NotCompliantMBeanException;

import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.management.HypervisorMBean;

import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Registers one {@code io.romulus:type=Hypervisor,name=<binding>} MBean for every hypervisor binding that comes up
 * (through Karaf's JMX whiteboard), and removes it when the binding goes: one adapter for all bindings.
 */
@Component(immediate = true)
public class HypervisorMBeans {

    private static final Logger LOG = LoggerFactory.getLogger(HypervisorMBeans.class);

    private final Set<Hypervisor> bound = ConcurrentHashMap.newKeySet();
    private final Map<Hypervisor, ServiceRegistration<?>> registered = new ConcurrentHashMap<>();
    private volatile BundleContext context;

    @Activate
    void activate(BundleContext bundleContext) {
        this.context = bundleContext;
        bound.forEach(this::register);
    }

    @Deactivate
    void deactivate() {
        context = null;
        registered.values().forEach(ServiceRegistration::unregister);
        registered.clear();
    }

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC)
    void addHypervisor(Hypervisor h) {
        bound.add(h);
        if (context != null) {
            register(h);
        }
    }

    void removeHypervisor(Hypervisor h) {
        bound.remove(h);
        ServiceRegistration<?> r = registered.remove(h);
        if (r != null) {
            r.unregister();
        }
    }

    private void register(Hypervisor h) {
        BundleContext c = context;
        if (c == null) {
            return;
        }
        @SuppressWarnings("JdkObsolete") // OSGi's registerService takes a Dictionary
        Dictionary<String, Object> props = new Hashtable<>();
        props.put("jmx.objectname", "io.romulus:type=Hypervisor,name=" + h.binding());
        try {
            registered.put(h, c.registerService(new String[] {HypervisorMBean.class.getName(),
                DynamicMBean.class.getName()}, new HypervisorMBeanImpl(h), props));
        } catch (NotCompliantMBeanException e) {
            LOG.error("The Hypervisor MBean of {} is not compliant", h.binding(), e);
        }
    }
}
