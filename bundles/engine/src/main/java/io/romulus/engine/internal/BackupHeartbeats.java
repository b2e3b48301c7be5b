package io.romulus.engine.internal;

import java.net.InetSocketAddress;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import io.romulus.api.detector.FailureDetector;
import io.romulus.api.hypervisor.DomainId;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Heartbeats to the backup's failure detector, so that the backup can watch this node (and fail over when it goes
 * silent); ACKs count as the backup's liveness. The detector's bundle may be updated: the monitor then moves to the
 * new one.
 */
final class BackupHeartbeats {

    private static final Logger LOG = LoggerFactory.getLogger(BackupHeartbeats.class);

    private final DomainId id;
    /** Where the backup's failure detector listens. */
    private final InetSocketAddress heartbeat;
    private final PrimaryProtection.Node node;
    @GuardedBy("this")
    private FailureDetector.Monitor monitor;
    /** The backup's node id, once a stream reached it. */
    @GuardedBy("this")
    private String backupNode;

    BackupHeartbeats(DomainId id, InetSocketAddress heartbeat, PrimaryProtection.Node node) {
        this.id = id;
        this.heartbeat = heartbeat;
        this.node = node;
    }

    /** Starts heartbeats to {@code backup}, unless they run already. */
    synchronized void watch(String backup) {
        backupNode = backup;
        if (monitor != null) {
            return;
        }
        FailureDetector d = node.detector();
        if (d == null) {
            node.noDetector("the backup of " + id + " gets no heartbeats, so it cannot fail over on its own");
            return;
        }
        monitor = d.monitor(backup, heartbeat, new FailureDetector.Listener() {
            @Override
            public void suspected(String peerId, double phi) {
                LOG.warn("Backup {} of {} is suspected (phi {})", peerId, id, String.format("%.1f", phi));
            }

            @Override
            public void recovered(String peerId) {
                LOG.info("Backup {} of {} is heard from again", peerId, id);
            }
        });
    }

    /** An ACK: the backup is alive. */
    void alive() {
        FailureDetector.Monitor m;
        synchronized (this) {
            m = monitor;
        }
        if (m != null) {
            m.alive();
        }
    }

    /**
     * Whether the backup's failure detector was heard from within the last {@code millis} (its heartbeats, or an
     * ACK): the backup and the path to it are alive, whatever the stream does. False without a detector, or one that
     * cannot tell.
     */
    boolean heardWithin(long millis) {
        FailureDetector.Monitor m;
        synchronized (this) {
            m = monitor;
        }
        return m != null && m.silenceMillis() < millis; // NaN (not known) compares false
    }

    /** The failure detector changed: heartbeats go through the new one, unless the protection is stopping. */
    void detectorChanged(boolean stopping) {
        FailureDetector.Monitor m;
        String backup;
        synchronized (this) {
            m = monitor;
            monitor = null;
            backup = backupNode;
        }
        if (m != null) {
            try {
                m.close();
            } catch (RuntimeException e) {
                LOG.debug("Closing a monitor of the old failure detector failed", e);
            }
        }
        if (backup != null && !stopping) {
            watch(backup);
        }
    }

    /** Stops the heartbeats. */
    void close() {
        FailureDetector.Monitor m;
        synchronized (this) {
            m = monitor;
            monitor = null;
        }
        if (m != null) {
            m.close();
        }
    }
}
