package io.romulus.engine.internal;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;

import io.romulus.api.hypervisor.CommittedEpoch;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.hypervisor.ReplicaSpec;

/** A replica as it is, for the tests' witnesses to override one method each. */
class ForwardingReplica implements Replica {

    final Replica r;

    ForwardingReplica(Replica r) {
        this.r = r;
    }

    @Override
    public ReplicaSpec spec() {
        return r.spec();
    }

    @Override
    public void writeInitial(long[] pfns, int from, int count, ByteBuffer pages) throws HypervisorException {
        r.writeInitial(pfns, from, count, pages);
    }

    @Override
    public void applyCommitted(CommittedEpoch epoch) throws HypervisorException {
        r.applyCommitted(epoch);
    }

    @Override
    public long committedEpoch() {
        return r.committedEpoch();
    }

    @Override
    public void readPage(long pfn, ByteBuffer dst) throws HypervisorException {
        r.readPage(pfn, dst);
    }

    @Override
    public ProtectedDomain activate() throws HypervisorException {
        return r.activate();
    }

    @Override
    public ProtectedDomain activatePaused(List<GuestDisk> disks) throws HypervisorException {
        return r.activatePaused(disks);
    }

    @Override
    public boolean prepareActivation(List<GuestDisk> disks) throws HypervisorException {
        return r.prepareActivation(disks);
    }

    @Override
    public boolean prepareActivation(List<GuestDisk> disks, Runnable addressesMoved) throws HypervisorException {
        return r.prepareActivation(disks, addressesMoved);
    }

    @Override
    public List<GuestInterface> preparedInterfaces() {
        return r.preparedInterfaces();
    }

    @Override
    public void unprepare() {
        r.unprepare();
    }

    @Override
    public ProtectedDomain fork(DomainId clone, Map<String, String> overrides) throws HypervisorException {
        return r.fork(clone, overrides);
    }

    @Override
    public void standby(List<GuestDisk> disks) {
        r.standby(disks);
    }

    @Override
    public void detach() {
        r.detach();
    }

    @Override
    public void close() {
        r.close();
    }
}
