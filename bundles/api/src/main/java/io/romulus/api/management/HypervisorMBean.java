package io.romulus.api.management;

/**
 * {@code io.romulus:type=Hypervisor,name=<binding>}: one hypervisor binding.
 */
public interface HypervisorMBean {

    String getBinding();

    boolean isAvailable();

    /** Why the binding cannot run here, or {@code available}. */
    String getAvailability();

    /** Names of the domains the binding sees. */
    String[] getDomains();

    /** Whether the binding's component started without its native prerequisites. */
    boolean isDegraded();
}
