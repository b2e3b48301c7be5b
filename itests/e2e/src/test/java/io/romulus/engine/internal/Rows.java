package io.romulus.engine.internal;

import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;

/** A node's status row for one role, as the tests read it. */
final class Rows {

    private Rows() {
    }

    /** The node's first row in {@code role}, or {@code null} while it has none. */
    static ProtectionStatus row(Engine engine, Role role) {
        return engine.status().stream().filter(s -> s.role() == role).findFirst().orElse(null);
    }

    /** The backup's last committed epoch, or -1 while it holds no replica. */
    static long committed(Engine backup) {
        ProtectionStatus s = row(backup, Role.BACKUP);
        return s == null ? -1 : s.epoch();
    }
}
