package io.romulus.engine.internal;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.hypervisor.ProtectedDomain;
import io.romulus.api.witness.Witness;

/**
 * What this node holds of each domain, by role: the domains it protects as primary, the replicas it keeps as a
 * backup, and the replicas it activated that now run here without a backup. The parts of the engine share this
 * table.
 *
 * <p>The maps are concurrent and read without a lock. A change that decides from one map what goes into another
 * (protect, protect back after a failover, take over from the previous engine, fork) holds {@link #lock}, so two of
 * them never interleave on one domain. The lock is reentrant (a fork protects its clone while holding it).
 */
final class DomainRoles {

    /** Held while a domain changes role; see the class comment. */
    final Object lock = new Object();
    final Map<DomainId, PrimaryProtection> primaries = new ConcurrentHashMap<>();
    final Map<DomainId, BackupReplica> replicas = new ConcurrentHashMap<>();
    final Map<DomainId, Activated> activated = new ConcurrentHashMap<>();

    /** A replica this node activated: the running domain, and the witness's lease that came with it. */
    record Activated(ProtectedDomain domain, Witness.Lease lease) {

        /** Stops the domain and gives up the lease. */
        void close() {
            domain.close();
            closeLease();
        }

        void closeLease() {
            if (lease != null) {
                lease.close();
            }
        }
    }
}
