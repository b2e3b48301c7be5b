package io.romulus.xen.internal.dm;

import io.romulus.api.hypervisor.HypervisorException;

/**
 * The device model of an HVM domain (QEMU, run by libxl in dom0): it emulates devices outside the vCPUs, so a
 * checkpoint stops it with the vCPUs and saves its state next to Xen's HVM context. PVH domains have none.
 */
public interface DeviceModel extends AutoCloseable {

    /** Stops emulation (QMP {@code stop}); called right after the vCPUs are paused. */
    void stop() throws HypervisorException;

    /** The device model's state ({@code xen-save-devices-state}), as libxl's {@code EMULATOR_CONTEXT} carries it. */
    byte[] saveState() throws HypervisorException;

    /**
     * Makes the device model report the guest memory it writes (DMA of emulated devices) to Xen's dirty log
     * (QMP {@code xen-set-global-dirty-log}); without it a checkpoint would miss those pages.
     */
    void setGlobalDirtyLog(boolean enable) throws HypervisorException;

    /** Lets emulation run again (QMP {@code cont}); called right before the vCPUs are unpaused. */
    void cont() throws HypervisorException;

    @Override
    void close();
}
