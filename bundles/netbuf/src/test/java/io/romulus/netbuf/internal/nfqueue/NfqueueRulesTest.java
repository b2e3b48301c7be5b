package io.romulus.netbuf.internal.nfqueue;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import io.romulus.api.netbuf.OutputBufferException;

import org.junit.jupiter.api.Test;

/** Reading the rules an earlier provider left, from what iptables 1.8.9 (nf_tables) printed on this host. */
class NfqueueRulesTest {

    /** {@code iptables -S FORWARD} after a provider's rule for tap0 and four rules it did not make. */
    private static final String LISTING = """
            -P FORWARD ACCEPT
            -A FORWARD -m physdev --physdev-in tap0 -j NFQUEUE --queue-num 4200
            -A FORWARD -m physdev ! --physdev-in tap1 -j NFQUEUE --queue-num 7 --queue-bypass
            -A FORWARD -m physdev --physdev-in tap2 -j NFQUEUE --queue-balance 10:12
            -A FORWARD -m comment --comment "a \\"quoted\\" note" -j ACCEPT
            -A FORWARD -i eth0 -j NFQUEUE --queue-num 0
            """;

    private final NfqueueRules rules = NfqueueRules.parse(LISTING);

    @Test
    void findsTheRuleThatFeedsAPortAndTheSpecThatRemovesIt() {
        List<NfqueueRules.Rule> found = rules.feeding("tap0");
        assertEquals(1, found.size());
        NfqueueRules.Rule r = found.get(0);
        assertEquals(4200, r.firstQueue());
        assertFalse(r.bypass());
        assertEquals(List.of("-m", "physdev", "--physdev-in", "tap0", "-j", "NFQUEUE", "--queue-num", "4200"),
                r.spec(), "what the provider inserted, so -D FORWARD with it removes the rule");
        assertTrue(rules.feeding("tap1").isEmpty(), "a negated --physdev-in feeds every port but tap1");
        assertTrue(rules.feeding("tap9").isEmpty());
    }

    @Test
    void knowsEveryQueueARuleFeeds() {
        assertEquals(4, rules.rules().size(), "the four NFQUEUE rules, not the policy nor the ACCEPT");
        for (int q : new int[] {4200, 7, 10, 11, 12, 0}) {
            assertTrue(rules.uses(q), "queue " + q);
        }
        for (int q : new int[] {4201, 9, 13, 1}) {
            assertFalse(rules.uses(q), "queue " + q);
        }
    }

    @Test
    void splitsQuotedWordsAsIptablesPrintsThem() {
        assertEquals(List.of("-A", "FORWARD", "-m", "comment", "--comment", "a \"quoted\" note", "-j", "ACCEPT"),
                NfqueueRules.tokens("-A FORWARD -m comment --comment \"a \\\"quoted\\\" note\" -j ACCEPT"));
    }

    @Test
    void adoptsOnlyOneQueueWithoutBypass() throws OutputBufferException {
        NfqueueRules none = NfqueueRules.parse("-P FORWARD ACCEPT\n");
        assertEquals(4200, NfqueueProvider.queueLeftFor("tap0", "tap0", rules, none));
        assertEquals(4200, NfqueueProvider.queueLeftFor("tap0", "tap0", none, rules), "an IPv6 rule alone");
        assertNull(NfqueueProvider.queueLeftFor("tap5", "tap5", rules, rules), "nothing left for tap5");

        NfqueueRules bypass = NfqueueRules.parse(
                "-A FORWARD -m physdev --physdev-in tap0 -j NFQUEUE --queue-num 4200 --queue-bypass\n");
        OutputBufferException e = assertThrows(OutputBufferException.class,
                () -> NfqueueProvider.queueLeftFor("tap0", "tap0", bypass, none));
        assertTrue(e.getMessage().contains("--queue-bypass"), e.getMessage());

        NfqueueRules other = NfqueueRules.parse(
                "-A FORWARD -m physdev --physdev-in tap0 -j NFQUEUE --queue-num 4201\n");
        assertThrows(OutputBufferException.class, () -> NfqueueProvider.queueLeftFor("tap0", "tap0", rules, other),
                "IPv4 and IPv6 rules feeding two queues");
        assertThrows(OutputBufferException.class, () -> NfqueueProvider.queueLeftFor("tap2", "tap2", rules, none),
                "a balanced rule");
    }
}
