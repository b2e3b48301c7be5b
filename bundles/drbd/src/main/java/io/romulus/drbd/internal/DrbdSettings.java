package io.romulus.drbd.internal;

import java.time.Duration;

/**
 * The DRBD coordinator's settings, usable without OSGi.
 *
 * @param drbdsetup                     drbdsetup executable
 * @param drbdadm                       drbdadm executable
 * @param allowProtocolCWithoutBarriers accept protocol C although upstream DRBD has no checkpoint barriers (unsafe)
 * @param commandTimeout                how long one drbdsetup/drbdadm command may take
 */
public record DrbdSettings(String drbdsetup, String drbdadm, boolean allowProtocolCWithoutBarriers,
        Duration commandTimeout) {

    public static final int DEFAULT_TIMEOUT_SECONDS = 30;

    public DrbdSettings {
        if (drbdsetup == null || drbdsetup.isBlank()) {
            throw new IllegalArgumentException("drbdsetup must name the drbdsetup executable");
        }
        if (drbdadm == null || drbdadm.isBlank()) {
            throw new IllegalArgumentException("drbdadm must name the drbdadm executable");
        }
        if (commandTimeout == null || commandTimeout.isNegative() || commandTimeout.isZero()) {
            throw new IllegalArgumentException("command.timeout.seconds must be at least 1, not " + commandTimeout);
        }
    }

    public static DrbdSettings defaults() {
        return new DrbdSettings("drbdsetup", "drbdadm", false, Duration.ofSeconds(DEFAULT_TIMEOUT_SECONDS));
    }

    public static DrbdSettings of(DrbdConfig config) {
        if (config.command_timeout_seconds() < 1) {
            throw new IllegalArgumentException("command.timeout.seconds must be at least 1, not "
                    + config.command_timeout_seconds());
        }
        return new DrbdSettings(config.drbdsetup(), config.drbdadm(), config.allow_protocol_c_without_barriers(),
                Duration.ofSeconds(config.command_timeout_seconds()));
    }

    /** A copy with the unsafe protocol C flag set to {@code allow}. */
    public DrbdSettings withAllowProtocolC(boolean allow) {
        return new DrbdSettings(drbdsetup, drbdadm, allow, commandTimeout);
    }

    /** The tools these settings name, run by {@code runner}. */
    public DrbdTools tools(CommandRunner runner) {
        return new DrbdTools(runner, DrbdTools.locate(drbdsetup), DrbdTools.locate(drbdadm), commandTimeout);
    }
}
