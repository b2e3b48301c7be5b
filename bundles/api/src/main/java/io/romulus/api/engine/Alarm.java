package io.romulus.api.engine;

/**
 * Something an operator must know about, raised by the engine: logged, sent as a JMX notification by the Engine MBean
 * (type {@code io.romulus.alarm.<kind>}), and listed by {@code romulus:status --alarms}.
 *
 * @param timeMillis wall-clock time it was raised
 * @param kind       what happened
 * @param domain     the domain, {@code binding:name}
 * @param message    what happened and what to do, in one sentence or two
 */
public record Alarm(long timeMillis, Kind kind, String domain, String message) {

    /** What happened. */
    public enum Kind {
        /** Primary: the backup or the link is gone for longer than the link timeout; output flows unprotected. */
        UNPROTECTED,
        /** Primary: protection is back (the first checkpoint after a loss was acknowledged); clears UNPROTECTED. */
        PROTECTED,
        /** Primary: another node took the domain over; this copy was stopped without releasing output. */
        FENCED,
        /** Primary: checkpointing failed; the domain, if it still runs, is not protected. */
        FAILED,
        /** Backup: the failure detector convicted the primary. */
        PRIMARY_SUSPECTED,
        /** Backup: the replica was activated; the domain runs on this node, without a backup. */
        FAILOVER,
        /** Either: the witness could not be asked, or refused what was asked; output stays held meanwhile. */
        WITNESS,
        /**
         * Either: a planned switchover moved the domain (the new primary raises it), or aborted it (the old primary
         * raises it, with why; the domain runs on there, still protected).
         *
         * @since 1.5
         */
        SWITCHOVER;

        /** The JMX notification type: {@code io.romulus.alarm.unprotected} and so on. */
        public String notificationType() {
            return "io.romulus.alarm." + name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        }
    }
}
