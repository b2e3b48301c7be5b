package io.romulus.scaleout.internal.haproxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * Fuzzes the reading of HAProxy's answers on its runtime API ({@link RuntimeReplies}): {@code show info},
 * {@code show cli level}, {@code show stat} and {@code show servers state} (with the {@code show stat} that follows
 * it, after a NUL). The first byte of an input picks the command, the rest is HAProxy's answer. For every answer:
 * either it is read, or it is refused with a {@link HaproxyException} that names the endpoint and the command, and
 * nothing else is thrown. The seeds (.../HaproxyFuzzTestInputs/answer/) are answers of a real HAProxy 2.6 (Debian
 * 12) to a backend of two servers, and its refusals. Run by execution {@code fuzz} of the parent pom
 * (docs/developing.md).
 */
class HaproxyFuzzTest {

    private static final RuntimeReplies REPLIES = new RuntimeReplies("/run/haproxy/admin.sock",
            "stats socket /run/haproxy/admin.sock level admin");

    @FuzzTest
    void answer(byte[] input) throws Exception {
        if (input.length == 0) {
            return;
        }
        String answer = new String(input, 1, input.length - 1, StandardCharsets.UTF_8);
        try {
            switch (input[0] & 3) {
                case 0 -> assertFalse(REPLIES.version(answer).isEmpty());
                case 1 -> REPLIES.adminLevel(answer);
                case 2 -> stats(answer);
                default -> {
                    int nul = answer.indexOf('\0');
                    String state = nul < 0 ? answer : answer.substring(0, nul);
                    String csv = nul < 0 ? "" : answer.substring(nul + 1);
                    List<Server> servers = REPLIES.servers("guests", "show servers state guests", state,
                            () -> stats(csv));
                    servers.forEach(s -> assertNotNull(s.name()));
                }
            }
        } catch (HaproxyException e) {
            assertNotNull(e.getMessage());
        }
    }

    private static Map<String, String[]> stats(String csv) throws HaproxyException {
        Map<String, String[]> stats = REPLIES.stats("show stat guests 4 -1", csv);
        stats.values().forEach(s -> assertEquals(2, s.length));
        return stats;
    }
}
