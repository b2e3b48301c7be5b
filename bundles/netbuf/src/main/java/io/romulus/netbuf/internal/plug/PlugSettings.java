package io.romulus.netbuf.internal.plug;

import java.util.Locale;

/**
 * The plug provider's settings, usable without OSGi.
 *
 * @param mode       whether the provider is offered: {@link Mode#AUTO} where the kernel has sch_plug
 * @param limitBytes bytes the plug qdisc holds before the kernel drops (struct tc_plug_qopt.limit)
 */
public record PlugSettings(Mode mode, int limitBytes) {

    /** Configuration key {@code mode}. */
    public enum Mode {
        /** Offered where the kernel has sch_plug. */
        AUTO,
        /** Always offered; attach fails clearly where sch_plug is missing. */
        ON,
        /** Never offered. */
        OFF;

        static Mode parse(String value) {
            if (value == null || value.isBlank()) {
                return AUTO;
            }
            try {
                return valueOf(value.strip().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("mode must be auto, on or off, not " + value, e);
            }
        }

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public static final int DEFAULT_LIMIT_BYTES = 16 << 20;

    public PlugSettings {
        if (mode == null) {
            throw new IllegalArgumentException("mode must be auto, on or off");
        }
        if (limitBytes < 1) {
            throw new IllegalArgumentException("limit.bytes must be at least 1, not " + limitBytes);
        }
    }

    public static PlugSettings defaults() {
        return new PlugSettings(Mode.AUTO, DEFAULT_LIMIT_BYTES);
    }

    public static PlugSettings of(PlugConfig config) {
        return new PlugSettings(Mode.parse(config.mode()), config.limit_bytes());
    }

    /** A copy with another mode. */
    public PlugSettings withMode(Mode m) {
        return new PlugSettings(m, limitBytes);
    }
}
