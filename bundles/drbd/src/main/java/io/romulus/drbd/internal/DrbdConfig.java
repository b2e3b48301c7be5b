package io.romulus.drbd.internal;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** Configuration PID {@code io.romulus.drbd}: the DRBD coordinator (disk replicator of kind {@code drbd}). */
@ObjectClassDefinition(name = "Romulus disk replication: DRBD",
        description = "Protects disks that are DRBD resources: checks roles, connection and protocol, promotes on "
                + "failover. Upstream DRBD has no checkpoint barriers; see allow.protocol.c.without.barriers")
public @interface DrbdConfig {

    @AttributeDefinition(description = "drbdsetup executable (a name is looked up on PATH and in the sbin "
            + "directories)")
    String drbdsetup() default "drbdsetup";

    @AttributeDefinition(description = "drbdadm executable (a name is looked up on PATH and in the sbin directories)")
    String drbdadm() default "drbdadm";

    @AttributeDefinition(description = "Accept protocol C without checkpoint barriers. UNSAFE: after a failover the "
            + "backup's disk can hold writes of an epoch that never committed while its memory is the last "
            + "committed epoch's, which the guest's file system may not survive. Protocols A and B are refused "
            + "whatever this says")
    boolean allow_protocol_c_without_barriers() default false;

    @AttributeDefinition(description = "Seconds a drbdsetup or drbdadm command may take before it is killed and "
            + "reported")
    int command_timeout_seconds() default DrbdSettings.DEFAULT_TIMEOUT_SECONDS;
}
