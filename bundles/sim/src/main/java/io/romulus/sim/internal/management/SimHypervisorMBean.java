package io.romulus.sim.internal.management;

import javax.management.DynamicMBean;
import javax.management.NotCompliantMBeanException;
import javax.management.StandardMBean;

import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.management.HypervisorMBean;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** {@code io.romulus:type=Hypervisor,name=sim}. */
@Component(service = {HypervisorMBean.class, DynamicMBean.class},
        property = "jmx.objectname=io.romulus:type=Hypervisor,name=sim")
public class SimHypervisorMBean extends StandardMBean implements HypervisorMBean {

    private final Hypervisor hypervisor;

    @Activate
    public SimHypervisorMBean(@Reference(target = "(" + Hypervisor.BINDING + "=sim)") Hypervisor hypervisor)
            throws NotCompliantMBeanException {
        super(HypervisorMBean.class);
        this.hypervisor = hypervisor;
    }

    @Override
    public String getBinding() {
        return hypervisor.binding();
    }

    @Override
    public boolean isAvailable() {
        return hypervisor.availability().available();
    }

    @Override
    public String getAvailability() {
        return hypervisor.availability().reason();
    }

    @Override
    public String[] getDomains() {
        try {
            return hypervisor.domains().stream().map(d -> d.id() + ": " + d.description())
                    .toArray(String[]::new);
        } catch (HypervisorException e) {
            return new String[] {"error: " + e.getMessage()};
        }
    }

    @Override
    public boolean isDegraded() {
        return false;
    }
}
