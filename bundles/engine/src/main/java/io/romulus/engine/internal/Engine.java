package io.romulus.engine.internal;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;

import io.romulus.api.detector.FailureDetector;
import io.romulus.api.disk.DiskReplicator;
import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.OutputStatus;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.ReplicationEngine;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.hypervisor.Replica;
import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.api.transport.CheckpointException;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.api.transport.Hello;
import io.romulus.api.transport.ReplicaAcceptor;
import io.romulus.api.witness.Witness;

/**
 * The replication engine of one node, without OSGi: primary protections (epoch loops) and backup replicas
 * (committers). Its helpers (hypervisor bindings, the transport, output buffers) come and go at run time, as bundles
 * are updated; while one is missing, protections keep their state and wait (output stays held, invariant I1).
 *
 * <p>This class is the façade: it holds the settings and wires the parts, each of which does one job.
 * <ul>
 * <li>{@link HelperRegistry}: which helpers are installed, and which one serves a domain, a disk or an interface;</li>
 * <li>{@link DomainRoles}: what this node holds of each domain (primary, replica, activated) and the lock under
 * which a domain changes role;</li>
 * <li>{@link Primaries}: protect, unprotect and retune domains this node runs;</li>
 * <li>{@link ReplicaIntake}: answer a primary's HELLO with a new or resumed replica;</li>
 * <li>{@link Activation}: failover, fork and retire;</li>
 * <li>{@link EngineStatus}: what {@code romulus:status} and the MBeans show;</li>
 * <li>{@link EngineHandOver}: hand-over to the next engine on a bundle update, and shutdown.</li>
 * </ul>
 * The methods below say what happens when a helper comes or goes; the rest delegate.
 */
public final class Engine implements ReplicationEngine, ReplicaAcceptor, PrimaryProtection.Node,
        FailoverCoordinator.Engine {

    /** Replaced whole by {@link #update}, read without a lock by every part: one reference, hence volatile. */
    private volatile EngineSettings settings;
    private final Alarms alarms = new Alarms();
    private final HelperRegistry helpers = new HelperRegistry();
    private final DomainRoles roles = new DomainRoles();
    private final FailoverCoordinator failovers;
    private final Primaries primaries;
    private final ReplicaIntake intake;
    private final Activation activation;
    private final EngineStatus status;
    private final EngineHandOver handOver;

    private final long stagingSegmentBytes;

    public Engine(EngineSettings settings) {
        this(settings, StagingBuffer.DEFAULT_SEGMENT_BYTES);
    }

    /**
     * @param stagingSegmentBytes the size of a segment of the staging of checkpoints on both sides
     *                            ({@link StagingBuffer}); tests lower it so that small checkpoints travel in parts
     */
    Engine(EngineSettings settings, long stagingSegmentBytes) {
        this.settings = settings;
        this.stagingSegmentBytes = stagingSegmentBytes;
        this.failovers = new FailoverCoordinator(this);
        this.primaries = new Primaries(this, helpers, roles, failovers);
        this.intake = new ReplicaIntake(this::settings, helpers, roles, failovers, alarms,
                stagingSegmentBytes);
        this.activation = new Activation(this, helpers, roles, failovers, primaries);
        this.status = new EngineStatus(helpers, roles);
        this.handOver = new EngineHandOver(this, helpers, roles, failovers, intake);
    }

    @Override
    public EngineSettings settings() {
        return settings;
    }

    @Override
    public long stagingSegmentBytes() {
        return stagingSegmentBytes;
    }

    /** New settings apply to new protections; running ones keep their interval. */
    public void update(EngineSettings newSettings) {
        this.settings = newSettings;
    }

    // ------------------------------------------------------------------------------------------------ helpers

    public void addHypervisor(Hypervisor h) {
        helpers.addHypervisor(h);
        primaries.bindingArrived(h);
        intake.bindingArrived(h);
        handOver.restorePending();
    }

    public void removeHypervisor(Hypervisor h) {
        if (helpers.removeHypervisor(h)) {
            primaries.bindingGone(h.binding());
            intake.bindingGone(h.binding());
        }
    }

    /**
     * Adds a way to hold output. For each interface the engine takes the highest-ranked provider that supports it
     * (OSGi {@code service.ranking}; the first added wins a tie).
     */
    public void addOutputBufferProvider(OutputBufferProvider p, int ranking) {
        helpers.addOutputBufferProvider(p, ranking);
        primaries.outputProviderArrived();
        handOver.restorePending();
    }

    public void removeOutputBufferProvider(OutputBufferProvider p) {
        helpers.removeOutputBufferProvider(p);
        primaries.outputProviderGone(p);
    }

    /**
     * Adds a way to replicate disks of kind {@code kind} (the service property {@value DiskReplicator#KIND}). For
     * each disk the primary takes the highest-ranked replicator of the disk's kind that supports it; the backup the
     * highest-ranked of the announced kind. Protections already running keep theirs until their next stream.
     */
    public void addDiskReplicator(DiskReplicator r, String kind, int ranking) {
        helpers.addDiskReplicator(r, kind, ranking);
    }

    public void removeDiskReplicator(DiskReplicator r) {
        helpers.removeDiskReplicator(r);
    }

    public void setTransport(CheckpointTransport t) {
        helpers.setTransport(t);
        t.setAcceptor(this);
        handOver.restorePending();
    }

    public void unsetTransport(CheckpointTransport t) {
        helpers.unsetTransport(t);
    }

    /** The failure detector: backups watch their primaries with it, primaries send their backups heartbeats. */
    public void setDetector(FailureDetector d) {
        helpers.setDetector(d, settings.nodeId());
        failovers.detectorChanged();
        primaries.detectorChanged();
    }

    public void unsetDetector(FailureDetector d) {
        if (helpers.unsetDetector(d)) {
            failovers.detectorChanged();
            primaries.detectorChanged();
        }
    }

    /** The witness that decides which node may run a domain (split-brain protection); none is a valid setup. */
    public void setWitness(Witness w) {
        helpers.setWitness(w);
    }

    public void unsetWitness(Witness w) {
        helpers.unsetWitness(w);
    }

    @Override
    public CheckpointTransport transport() {
        return helpers.transport();
    }

    @Override
    public FailureDetector detector() {
        return helpers.detector();
    }

    @Override
    public void noDetector(String consequence) {
        helpers.noDetector(consequence);
    }

    @Override
    public Witness witness() {
        return helpers.witness();
    }

    @Override
    public Alarms alarms() {
        return alarms;
    }

    @Override
    public DiskReplicator diskReplicator(GuestDisk disk) {
        return helpers.diskReplicator(disk);
    }

    /** Why no disk replicator takes {@code disk}, naming what is installed. */
    @Override
    public String noDiskReplicator(GuestDisk disk) {
        return helpers.noDiskReplicator(disk);
    }

    @Override
    public PrimaryProtection.Output attachOutput(GuestInterface nic) throws OutputBufferException {
        return helpers.attachOutput(nic);
    }

    // ------------------------------------------------------------------------------------------------ primary

    @Override
    public ProtectionStatus protect(ProtectRequest request) throws Exception {
        return primaries.protect(request);
    }

    @Override
    public void unprotect(DomainId domain) throws Exception {
        primaries.unprotect(domain);
    }

    @Override
    public void setInterval(DomainId domain, int intervalMs) {
        primaries.setInterval(domain, intervalMs);
    }

    @Override
    public List<EpochStats> epochs(DomainId domain, int limit) {
        return primaries.epochs(domain, limit);
    }

    // ------------------------------------------------------------------------------------------------ backup

    @Override
    public Accepted accept(Hello hello) throws CheckpointException {
        return intake.accept(hello, handOver);
    }

    /** The transport's form: an answer held by a switchover under way is given later, on a thread of its own. */
    @Override
    public CompletionStage<Accepted> acceptAsync(Hello hello) {
        return intake.acceptLater(hello, handOver);
    }

    // ------------------------------------------------------------------------------------------------ activation

    @Override
    public ProtectionStatus failover(DomainId domain) throws Exception {
        return activation.failover(domain);
    }

    @Override
    public ProtectionStatus fork(DomainId domain, DomainId clone, Map<String, String> overrides,
            InetSocketAddress backup) throws Exception {
        return activation.fork(domain, clone, overrides, backup);
    }

    @Override
    public void retire(DomainId domain) throws Exception {
        activation.retire(domain);
    }

    @Override
    public String switchover(DomainId domain) throws Exception {
        return primaries.switchover(domain);
    }

    @Override
    public void takeOver(DomainId id, long epoch) {
        activation.takeOver(id, epoch);
    }

    @Override
    public void keepAsBackup(BackupReplica.HandedOver state, Replica replica, List<BackupReplica.ReplicaDisk> disks) {
        // the kept replica is in place before the primary leaves: the new primary's stream back, opened at "prepare",
        // finds one or the other (held while the primary is there, resumed once it is gone), never neither, which
        // would start a new replica and a full copy (QemuSwitchoverTest, 1 run in 5 once the old copy stopped fast)
        if (replica != null) {
            intake.keepSwitchedOver(state, replica, disks);
        }
        roles.primaries.remove(state.id());
    }

    @Override
    public boolean canActivate(DomainId id) {
        return activation.canActivate(id);
    }

    @Override
    public Activation.Outcome activate(DomainId id, Witness.Lease lease) throws Exception {
        return activation.activate(id, lease);
    }

    // ------------------------------------------------------------------------------------------------ status

    @Override
    public List<Alarm> alarms(int limit) {
        return alarms.recent(limit);
    }

    @Override
    public void addAlarmListener(Consumer<Alarm> listener) {
        alarms.add(listener);
    }

    @Override
    public void removeAlarmListener(Consumer<Alarm> listener) {
        alarms.remove(listener);
    }

    @Override
    public List<ProtectionStatus> status() {
        return status.status();
    }

    @Override
    public List<OutputStatus> outputs() {
        return status.outputs();
    }

    @Override
    public List<String> domainNames() {
        return status.domainNames();
    }

    /** Number of domains this node is primary for and that are not stopped. */
    public int protectedCount() {
        return status.protectedCount();
    }

    // ------------------------------------------------------------------------------------------------ hand-over

    /** The engine bundle is being updated: see {@link EngineHandOver#handOver(Path)}. */
    public void handOver(Path state) {
        handOver.handOver(state);
    }

    /** Takes over what the previous engine handed over: see {@link EngineHandOver#restore(Path)}. */
    public void restore(Path state) {
        handOver.restore(state);
    }

    /** Stops every protection and drops every replica (the engine is going away). */
    public void shutdown() {
        handOver.shutdown();
    }
}
