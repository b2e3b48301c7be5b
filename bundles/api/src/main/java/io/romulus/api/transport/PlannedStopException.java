package io.romulus.api.transport;

/**
 * The primary ended the stream because a part of it is being updated or restarted (its engine or its transport), not
 * because protection ended or broke down: it is alive and resumes the stream shortly. The backup keeps its replica
 * and holds back an automatic failover for a grace period, since the primary's heartbeats may pause meanwhile.
 *
 * @since 1.4
 */
public class PlannedStopException extends CheckpointException {

    private static final long serialVersionUID = 1L;

    public PlannedStopException(String message) {
        super(message);
    }
}
