package io.romulus.api.engine;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import io.romulus.api.hypervisor.DomainId;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The replication engine as the shell, the MBeans and tests use it. Every method returns quickly; long work
 * (the initial copy) goes on in the background and shows in {@link #status()}.
 */
@ProviderType
public interface ReplicationEngine {

    /**
     * Starts protecting a domain: opens it, connects to the backup and starts the epoch loop.
     *
     * @throws IllegalArgumentException if the request is wrong (unknown binding, bad option), with the reason
     * @throws IllegalStateException    if the domain is already protected
     * @throws Exception                if the binding or the transport cannot start it
     */
    ProtectionStatus protect(ProtectRequest request) throws Exception;

    /** Stops protecting a domain: the last output is released after the last ACK, and the stream is closed. */
    void unprotect(DomainId domain) throws Exception;

    /** Activates this node's replica of a domain (manual failover). */
    ProtectionStatus failover(DomainId domain) throws Exception;

    /**
     * Planned switchover: moves a domain this node protects as primary to its backup, which becomes the primary, while
     * this node keeps the domain's memory image as a replica and becomes the backup (no full copy either way). The
     * domain pauses for a final checkpoint; once the backup acknowledged it and agreed, this node's copy stops for
     * good and only then does the backup run it. Should anything fail before that, the switchover aborts and the
     * domain runs on here, still protected (an alarm says why). On the backup it asks the primary for the same over
     * the stream. Returns what happened, in one sentence.
     *
     * @throws Exception when the switchover cannot start or was aborted, with why
     * @since 1.5
     */
    default String switchover(DomainId domain) throws Exception {
        throw new UnsupportedOperationException("this engine cannot switch a domain over");
    }

    /**
     * Scale-out: starts {@code clone}, a copy of {@code domain} taken from this node's replica at its last committed
     * epoch (see {@link io.romulus.api.hypervisor.Replica#fork}), and protects it towards {@code backup}. The
     * replica goes on being the backup of {@code domain}.
     *
     * @param overrides binding options that differ from the original's (for example the bridge the clone joins)
     * @param backup    the clone's backup, or {@code null} for the node the replica's primary runs on
     * @throws IllegalArgumentException if this node holds no committed replica of {@code domain}, or the backup is
     *                                  this node
     * @throws IllegalStateException    if {@code clone} is protected here already
     * @throws io.romulus.api.hypervisor.HypervisorException if the binding cannot start the clone (a domain of that
     *                                  name runs here, an override it does not take, ...)
     * @since 1.3
     */
    ProtectionStatus fork(DomainId domain, DomainId clone, Map<String, String> overrides, InetSocketAddress backup)
            throws Exception;

    /**
     * Scale-down: stops protecting a domain this node is primary for (its backup drops the replica, as after
     * {@link #unprotect}) and then stops the domain itself.
     *
     * @throws IllegalArgumentException if this node is not the domain's primary
     * @since 1.3
     */
    void retire(DomainId domain) throws Exception;

    /** Changes a protected domain's epoch interval. */
    void setInterval(DomainId domain, int intervalMs);

    /** All domains this node is primary or backup for. */
    List<ProtectionStatus> status();

    /** The most recent epochs of a domain this node is primary for, newest last. */
    List<EpochStats> epochs(DomainId domain, int limit);

    /** The output buffers of the domains this node is primary for (output commit, invariant I1). */
    List<OutputStatus> outputs();

    /** Domain names this node knows, for completers. */
    List<String> domainNames();

    /** The most recent alarms, newest last. */
    List<Alarm> alarms(int limit);

    /** Calls {@code listener} with every alarm raised from now on (on the thread that raises it; must not block). */
    void addAlarmListener(Consumer<Alarm> listener);

    void removeAlarmListener(Consumer<Alarm> listener);
}
