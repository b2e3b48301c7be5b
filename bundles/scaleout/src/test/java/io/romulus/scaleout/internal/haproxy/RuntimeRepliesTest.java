package io.romulus.scaleout.internal.haproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/**
 * Answers of HAProxy that are not numbers where numbers belong (found by HaproxyFuzzTest): refused as a
 * {@link HaproxyException} that names the column, not a NumberFormatException that escapes the controller.
 */
class RuntimeRepliesTest {

    private static final RuntimeReplies REPLIES = new RuntimeReplies("/run/haproxy/admin.sock",
            "stats socket /run/haproxy/admin.sock level admin");
    private static final String HEADER = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state "
            + "srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health "
            + "srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port\n";

    @Test
    void readsARealServerLine() throws Exception {
        List<Server> servers = REPLIES.servers("guests", "show servers state guests",
                HEADER + "3 guests 1 primary 127.0.0.1 2 0 1 1 1 8 2 0 6 0 0 0 - 18100\n", Map::of);
        assertEquals(1, servers.size());
        assertEquals(18100, servers.get(0).port());
    }

    @Test
    void aPortThatIsNoNumberIsRefused() {
        HaproxyException e = assertThrows(HaproxyException.class, () -> REPLIES.servers("guests",
                "show servers state guests", HEADER + "3 guests 1 primary 127.0.0.1 2 0 1 1 1 8 2 0 6 0 0 0 - -\n",
                Map::of));
        assertTrue(e.getMessage().contains("srv_port '-' is not a number"), e.getMessage());
    }

    @Test
    void anUnknownOperationalStateIsRefused() {
        HaproxyException e = assertThrows(HaproxyException.class, () -> REPLIES.servers("guests",
                "show servers state guests", HEADER + "3 guests 1 primary 127.0.0.1 9 0 1 1 1 8 2 0 6 0 0 0 - 80\n",
                Map::of));
        assertTrue(e.getMessage().contains("unknown srv_op_state 9"), e.getMessage());
    }

    @Test
    void aVersionTooLongForAnIntIsRefused() {
        HaproxyException e = assertThrows(HaproxyException.class,
                () -> REPLIES.version("Name: HAProxy\nVersion: 99999999999.6.12\n"));
        assertTrue(e.getMessage().contains("is not a number"), e.getMessage());
    }
}
