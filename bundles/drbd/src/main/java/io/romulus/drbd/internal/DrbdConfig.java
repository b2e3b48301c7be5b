package io.romulus.drbd.internal;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** Configuration PID {@code io.romulus.drbd}: the DRBD coordinator (disk replicator of kind {@code drbd}). */
@ObjectClassDefinition(name = "Romulus disk replication: DRBD",
        description = "Protects disks that are DRBD resources: checks roles, connection and protocol, promotes on "
                + "failover. Upstream DRBD has no checkpoint barriers; see allow.protocol.c.without.barriers")
public @interface DrbdConfig {

    @AttributeDefinition(description = "The drbdsetup executable (a bare name is looked up on PATH and in "
            + "/usr/local/sbin, /usr/sbin, /sbin)")
    String drbdsetup() default "drbdsetup";

    @AttributeDefinition(description = "The drbdadm executable (a bare name is looked up as drbdsetup's is)")
    String drbdadm() default "drbdadm";

    @AttributeDefinition(description = "UNSAFE when true: upstream DRBD has no checkpoint barriers, so after a "
            + "failover the backup's disk can hold writes of an epoch that never committed while its memory is the "
            + "last committed epoch's, which the guest's file system may not survive. false refuses protocol C; A and "
            + "B are always refused")
    boolean allow_protocol_c_without_barriers() default false;

    @AttributeDefinition(description = "Seconds one drbdsetup or drbdadm command may take before it is killed and "
            + "reported")
    int command_timeout_seconds() default DrbdSettings.DEFAULT_TIMEOUT_SECONDS;
}
