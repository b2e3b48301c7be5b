package io.romulus.engine.internal;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
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
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.api.node.NodeIdentity;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.api.witness.Witness;
import io.romulus.support.host.HostName;

import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;
import org.osgi.service.component.annotations.ReferencePolicyOption;
import org.osgi.service.metatype.annotations.Designate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine as an OSGi component. Its helpers are dynamic, greedy references: a bundle update of a binding, the
 * transport or an output buffer rebinds them without stopping the engine. The node id is the node's one
 * ({@link NodeIdentity}, PID {@value NodeIdentity#PID}), read when the engine starts and on every change of its
 * configuration.
 */
@Component(service = ReplicationEngine.class, configurationPid = EngineComponent.PID, immediate = true)
@Designate(ocd = EngineConfig.class)
public class EngineComponent implements ReplicationEngine {

    static final String PID = "io.romulus.engine";

    private static final Logger LOG = LoggerFactory.getLogger(EngineComponent.class);

    private final Engine engine;

    private final ConfigurationAdmin configurations;

    /** Where the engine hands its protections to its next version (the bundle's data area survives updates). */
    private final java.nio.file.Path handoverFile;

    @Activate
    public EngineComponent(EngineConfig config, BundleContext context, @Reference ConfigurationAdmin configurations)
            throws IOException {
        this.configurations = configurations;
        this.engine = new Engine(settings(config, nodeId(configurations)));
        java.io.File data = context.getDataFile(HANDOVER_FILE);
        this.handoverFile = data != null ? data.toPath()
                : java.nio.file.Path.of(System.getProperty("karaf.data", "."), "romulus", HANDOVER_FILE);
        java.nio.file.Path legacy = handoverFile.resolveSibling(LEGACY_HANDOVER_FILE);
        engine.restore(java.nio.file.Files.exists(legacy) && !java.nio.file.Files.exists(handoverFile) ? legacy
                : handoverFile);
    }

    static final String HANDOVER_FILE = "engine-handover.json";
    /** Where engines before the JSON hand-over state wrote theirs: read (and deleted) once after the update. */
    static final String LEGACY_HANDOVER_FILE = "engine-handover.properties";

    /**
     * The node id: {@value NodeIdentity#KEY} of {@value NodeIdentity#PID}, or (deprecated, logged) the engine's own
     * {@value NodeIdentity#KEY}, or the host name.
     */
    static String nodeId(ConfigurationAdmin configurations) throws IOException {
        NodeIdentity.Resolved r = NodeIdentity.read(configurations, PID);
        if (!r.warning().isEmpty()) {
            LOG.warn("{}", r.warning());
        }
        return r.nodeId().isEmpty() ? HostName.get() : r.nodeId();
    }

    static EngineSettings settings(EngineConfig c, String node) {
        return new EngineSettings(node, c.interval_ms(), c.interval_min_ms(), c.interval_max_ms(), c.history_size(),
                c.link_timeout_ms(), c.reconnect_delay_ms(), c.max_inflight_epochs(), c.initial_copy_batch(),
                EngineSettings.FailoverMode.parse(c.failover_mode()), c.peer_heartbeat_port(),
                c.failover_reprotect(), c.handover_grace_ms(), new EngineSettings.IntervalPolicy(
                        EngineSettings.IntervalPolicy.parseMode(c.interval_mode()), c.interval_adaptive_min_ms(),
                        c.interval_adaptive_max_ms()));
    }

    @Modified
    void modified(EngineConfig config) throws IOException {
        engine.update(settings(config, nodeId(configurations)));
    }

    /**
     * The engine goes away: a bundle update, a refresh, the node's shutdown. None of them ends a protection, so the
     * engine hands its protections and replicas over to its next version (ARCHITECTURE.md section 8) instead of
     * stopping them: domains run on with output held, replicas are kept. {@code romulus:unprotect} ends a protection.
     */
    @Deactivate
    void deactivate() {
        engine.handOver(handoverFile);
    }

    Engine engine() {
        return engine;
    }

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    void addHypervisor(Hypervisor h) {
        engine.addHypervisor(h);
    }

    void removeHypervisor(Hypervisor h) {
        engine.removeHypervisor(h);
    }

    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    void addOutputBufferProvider(OutputBufferProvider p, Map<String, Object> properties) {
        Object ranking = properties.get(Constants.SERVICE_RANKING);
        engine.addOutputBufferProvider(p, ranking instanceof Integer i ? i : 0);
    }

    void removeOutputBufferProvider(OutputBufferProvider p) {
        engine.removeOutputBufferProvider(p);
    }

    /**
     * Disk replicators, by the kind of disk they serve (service property {@value DiskReplicator#KIND}, the
     * replicator's name when it is missing). While none serves a disk of a protected domain, its next stream waits
     * with output held.
     */
    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    void addDiskReplicator(DiskReplicator r, Map<String, Object> properties) {
        Object kind = properties.get(DiskReplicator.KIND);
        Object ranking = properties.get(Constants.SERVICE_RANKING);
        engine.addDiskReplicator(r, kind instanceof String k && !k.isBlank() ? k : r.name(),
                ranking instanceof Integer i ? i : 0);
    }

    void removeDiskReplicator(DiskReplicator r) {
        engine.removeDiskReplicator(r);
    }

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    void setTransport(CheckpointTransport t) {
        engine.setTransport(t);
    }

    void unsetTransport(CheckpointTransport t) {
        engine.unsetTransport(t);
    }

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    void setDetector(FailureDetector d) {
        engine.setDetector(d);
    }

    void unsetDetector(FailureDetector d) {
        engine.unsetDetector(d);
    }

    @Reference(cardinality = ReferenceCardinality.OPTIONAL, policy = ReferencePolicy.DYNAMIC,
            policyOption = ReferencePolicyOption.GREEDY)
    void setWitness(Witness w) {
        engine.setWitness(w);
    }

    void unsetWitness(Witness w) {
        engine.unsetWitness(w);
    }

    @Override
    public List<Alarm> alarms(int limit) {
        return engine.alarms(limit);
    }

    @Override
    public void addAlarmListener(Consumer<Alarm> listener) {
        engine.addAlarmListener(listener);
    }

    @Override
    public void removeAlarmListener(Consumer<Alarm> listener) {
        engine.removeAlarmListener(listener);
    }

    @Override
    public ProtectionStatus protect(ProtectRequest request) throws Exception {
        return engine.protect(request);
    }

    @Override
    public void unprotect(DomainId domain) throws Exception {
        engine.unprotect(domain);
    }

    @Override
    public ProtectionStatus failover(DomainId domain) throws Exception {
        return engine.failover(domain);
    }

    @Override
    public String switchover(DomainId domain) throws Exception {
        return engine.switchover(domain);
    }

    @Override
    public ProtectionStatus fork(DomainId domain, DomainId clone, Map<String, String> overrides,
            InetSocketAddress backup) throws Exception {
        return engine.fork(domain, clone, overrides, backup);
    }

    @Override
    public void retire(DomainId domain) throws Exception {
        engine.retire(domain);
    }

    @Override
    public void setInterval(DomainId domain, int intervalMs) {
        engine.setInterval(domain, intervalMs);
    }

    @Override
    public List<ProtectionStatus> status() {
        return engine.status();
    }

    @Override
    public List<EpochStats> epochs(DomainId domain, int limit) {
        return engine.epochs(domain, limit);
    }

    @Override
    public List<OutputStatus> outputs() {
        return engine.outputs();
    }

    @Override
    public List<String> domainNames() {
        return engine.domainNames();
    }
}
