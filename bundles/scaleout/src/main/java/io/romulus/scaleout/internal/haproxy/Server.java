package io.romulus.scaleout.internal.haproxy;

/**
 * One server of an HAProxy backend as the runtime API reports it: the columns of
 * {@code show servers state} (format version 1) that scale-out needs, joined with the current
 * session count ({@code scur}) and status text of {@code show stat}.
 *
 * @param backend          the backend's name
 * @param name             the server's name in the backend
 * @param id               the server's numeric id ({@code srv_id})
 * @param address          the server's IP address ({@code srv_addr}), or {@code null} when it
 *                         has none (an unresolved FQDN)
 * @param port             the server's port ({@code srv_port}); 0 when it has none
 * @param operationalState {@code srv_op_state}
 * @param adminState       {@code srv_admin_state}, a mask of the {@code ADMF_*} bits
 * @param weight           the user-visible weight ({@code srv_uweight})
 * @param sessions         the current sessions on the server ({@code scur} of {@code show stat})
 * @param statusText       the {@code status} column of {@code show stat}, as HAProxy writes it
 *                         (e.g. {@code UP}, {@code DOWN}, {@code MAINT}, {@code DRAIN},
 *                         {@code no check}, {@code UP 1/3})
 */
public record Server(String backend, String name, int id, String address, int port,
        OperationalState operationalState, int adminState, int weight, int sessions,
        String statusText) {

    /** Forced into maintenance (by {@code set server ... state maint} or {@code disable server}). */
    public static final int ADMF_FMAINT = 0x01;
    /** Maintenance inherited from a tracked server. */
    public static final int ADMF_IMAINT = 0x02;
    /** Maintenance from the configuration ({@code disabled}); dynamic servers start this way. */
    public static final int ADMF_CMAINT = 0x04;
    /** Forced into drain (by {@code set server ... state drain}). */
    public static final int ADMF_FDRAIN = 0x08;
    /** Drain inherited from a tracked server. */
    public static final int ADMF_IDRAIN = 0x10;
    /** Maintenance because the server's address could not be resolved. */
    public static final int ADMF_RMAINT = 0x20;
    /** The server's FQDN was set from the runtime API (not a maintenance state). */
    public static final int ADMF_HMAINT = 0x40;

    private static final int ANY_MAINT = ADMF_FMAINT | ADMF_IMAINT | ADMF_CMAINT | ADMF_RMAINT;
    private static final int ANY_DRAIN = ADMF_FDRAIN | ADMF_IDRAIN;

    /** {@code srv_op_state}: the server's operational state, from its health checks. */
    public enum OperationalState {
        /** 0: the server is down. */
        STOPPED,
        /** 1: the server is warming up (up but throttled by {@code slowstart}). */
        STARTING,
        /** 2: the server is fully up. */
        RUNNING,
        /** 3: the server is up but soft-stopping. */
        STOPPING;

        static OperationalState of(int code) {
            OperationalState[] all = values();
            if (code < 0 || code >= all.length) {
                throw new IllegalArgumentException("unknown srv_op_state " + code);
            }
            return all[code];
        }
    }

    /** A one-word state for display, maintenance first, then drain, then the health. */
    public enum Status { UP, DOWN, MAINT, DRAIN }

    /** Whether the server is in maintenance for any reason: it gets no new connections. */
    public boolean inMaintenance() {
        return (adminState & ANY_MAINT) != 0;
    }

    /** Whether the server is draining: it keeps its sessions but gets no new ones. */
    public boolean draining() {
        return (adminState & ANY_DRAIN) != 0;
    }

    /** MAINT, DRAIN, DOWN or UP, in that order of precedence. */
    public Status status() {
        if (inMaintenance()) {
            return Status.MAINT;
        }
        if (draining()) {
            return Status.DRAIN;
        }
        return operationalState == OperationalState.STOPPED ? Status.DOWN : Status.UP;
    }
}
