package io.romulus.engine.internal.management;

import javax.management.NotCompliantMBeanException;
import javax.management.StandardMBean;

import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.management.HypervisorMBean;

/** {@code io.romulus:type=Hypervisor,name=<binding>}: one binding, registered by {@link HypervisorMBeans}. */
public class HypervisorMBeanImpl extends StandardMBean implements HypervisorMBean {

    private final Hypervisor hypervisor;

    public HypervisorMBeanImpl(Hypervisor hypervisor) throws NotCompliantMBeanException {
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

    /** A binding whose host prerequisites are missing (no QEMU, no Xen, no guest image) is degraded. */
    @Override
    public boolean isDegraded() {
        return !hypervisor.availability().available();
    }
}
