package io.romulus.engine.internal;

import java.nio.ByteBuffer;
import java.util.List;

import io.romulus.api.hypervisor.DomainInfo;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;

/** A protected domain as it is, for the tests' witnesses and fault injectors to override one method each. */
class ForwardingDomain implements ProtectedDomain {

    final ProtectedDomain d;

    ForwardingDomain(ProtectedDomain d) {
        this.d = d;
    }

    @Override
    public DomainInfo info() {
        return d.info();
    }

    @Override
    public void pause() throws HypervisorException {
        d.pause();
    }

    @Override
    public void resume() throws HypervisorException {
        d.resume();
    }

    @Override
    public void startDirtyLog() throws HypervisorException {
        d.startDirtyLog();
    }

    @Override
    public long[] harvestDirty() throws HypervisorException {
        return d.harvestDirty();
    }

    @Override
    public void stopDirtyLog() throws HypervisorException {
        d.stopDirtyLog();
    }

    @Override
    public void copyPages(long[] pfns, int from, int count, ByteBuffer staging) throws HypervisorException {
        d.copyPages(pfns, from, count, staging);
    }

    @Override
    public byte[] captureDeviceState() throws HypervisorException {
        return d.captureDeviceState();
    }

    @Override
    public long takeHandOffNanos() {
        return d.takeHandOffNanos();
    }

    @Override
    public long writeFaultsOfLastHarvest() {
        return d.writeFaultsOfLastHarvest();
    }

    @Override
    public List<GuestInterface> networkInterfaces() {
        return d.networkInterfaces();
    }

    @Override
    public List<GuestDisk> disks() {
        return d.disks();
    }

    @Override
    public java.util.Optional<java.util.Map<String, String>> replicaOptions() {
        return d.replicaOptions();
    }

    @Override
    public String activationDetail() {
        return d.activationDetail();
    }

    @Override
    public java.util.concurrent.CompletionStage<java.util.OptionalLong> firstFrameAfterActivation() {
        return d.firstFrameAfterActivation();
    }

    @Override
    public void announce() throws HypervisorException {
        d.announce();
    }

    @Override
    public io.romulus.api.hypervisor.Replica stopAsReplica(io.romulus.api.hypervisor.ReplicaSpec spec, long epoch)
            throws HypervisorException {
        return d.stopAsReplica(spec, epoch);
    }

    @Override
    public void keepInbound() {
        d.keepInbound();
    }

    @Override
    public List<io.romulus.api.hypervisor.InboundFrame> takeInbound() {
        return d.takeInbound();
    }

    @Override
    public int deliverInbound(List<io.romulus.api.hypervisor.InboundFrame> frames) {
        return d.deliverInbound(frames);
    }

    @Override
    public void detach() {
        d.detach();
    }

    @Override
    public void close() {
        d.close();
    }
}
