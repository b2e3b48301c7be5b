package io.romulus.xen.internal.xc;

/**
 * One domain as {@code xc_domain_getinfolist} reports it ({@code struct xen_domctl_getdomaininfo}).
 *
 * @param domid         the domain id
 * @param flags         {@code XEN_DOMINF_*}
 * @param totPages      pages the domain owns
 * @param maxPages      its memory limit in pages
 * @param cpuTimeNs     CPU time used
 * @param onlineVcpus   vCPUs online
 * @param maxVcpuId     the highest vCPU id
 * @param handle        the domain's UUID, 16 bytes
 */
public record XenDomainInfo(int domid, int flags, long totPages, long maxPages, long cpuTimeNs, int onlineVcpus,
                            int maxVcpuId, byte[] handle) {

    public static final int DYING = 1;
    public static final int HVM_GUEST = 1 << 1;
    public static final int SHUTDOWN = 1 << 2;
    public static final int PAUSED = 1 << 3;
    public static final int BLOCKED = 1 << 4;
    public static final int RUNNING = 1 << 5;
    public static final int DEBUGGED = 1 << 6;
    public static final int XS_DOMAIN = 1 << 7;
    public static final int HAP = 1 << 8;

    public boolean hvm() {
        return (flags & HVM_GUEST) != 0;
    }

    public boolean paused() {
        return (flags & PAUSED) != 0;
    }

    public boolean dying() {
        return (flags & DYING) != 0;
    }

    public boolean shutdown() {
        return (flags & SHUTDOWN) != 0;
    }

    /** The guest's shutdown code ({@code SHUTDOWN_*}), valid when {@link #shutdown()}. */
    public int shutdownCode() {
        return (flags >>> XenAbi.XEN_DOMINF_SHUTDOWNSHIFT) & XenAbi.XEN_DOMINF_SHUTDOWNMASK;
    }
}
