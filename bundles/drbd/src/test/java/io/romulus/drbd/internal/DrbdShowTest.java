package io.romulus.drbd.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;

/**
 * {@code drbdsetup show} output. Sources:
 * <ul>
 * <li>{@code drbd-utils-show-adjust-proxy.txt}, {@code drbd-utils-show-switch-diskfull-r0.txt}: LINBIT/drbd-utils
 * tests/v9/drbdsetup_show_adjust_proxy.txt and drbdsetup_show_switch_diskfull_r0.txt (commit b4b2f5b9), the
 * {@code drbdsetup show} output drbdadm's adjust tests feed to drbdadm's parser (FAKE_DRBDSETUP_SHOW); shown
 * without {@code --show-defaults}, so a protocol left at its default C does not appear</li>
 * <li>{@code show-defaults-format.txt}: NOT captured from a kernel (none was found in public documentation within
 * this work, and this host has no DRBD module): the adjust_proxy resource re-printed the way drbd-utils 9
 * user/v9/drbdsetup.c {@code __print_options} prints with {@code --show-defaults} (name padded to 16, a tab, the
 * value, {@code ;}, then {@code # UNIT, default} / {@code # default}), with the defaults of drbd.conf(5) for
 * protocol, timeout, max-epoch-size, ping-int, ko-count, allow-two-primaries; the {@code ; # seconds, default} form
 * also appears in IBM's public RDQM notes ({@code ping-int 10; # seconds, default})</li>
 * </ul>
 */
class DrbdShowTest {

    @Test
    void protocolAndPeerOfAResource() {
        DrbdShow show = DrbdShow.parse(Samples.text("drbd-utils-show-adjust-proxy.txt"));
        assertEquals("r0", show.resource());
        assertEquals(1, show.connections().size());
        DrbdShow.NetSection net = show.connections().get(0);
        assertEquals(1, net.peerNodeId());
        assertEquals("peer", net.name());
        assertEquals("A", net.protocol());
        assertEquals(Map.of(0, 1), show.minors());
    }

    @Test
    void protocolNotShownWithoutShowDefaults() {
        DrbdShow show = DrbdShow.parse(Samples.text("drbd-utils-show-switch-diskfull-r0.txt"));
        DrbdShow.NetSection net = show.connections().get(0);
        assertEquals(2, net.peerNodeId());
        assertEquals("i2", net.name());
        assertNull(net.protocol(), "protocol C is the default and is only shown with --show-defaults");
        assertEquals("yes", net.options().get("load-balance-paths"));
        assertEquals(Map.of(0, 10), show.minors());
    }

    @Test
    void defaultsAreMarkedAndQuotedHashesAreNotComments() {
        DrbdShow show = DrbdShow.parse(Samples.text("show-defaults-format.txt"));
        DrbdShow.NetSection net = show.connections().get(0);
        assertEquals("C", net.protocol());
        assertEquals("60", net.options().get("timeout"));
        assertEquals("a#b;c", net.options().get("shared-secret"));
        assertEquals("", net.options().get("transport"));
        assertEquals("no", net.options().get("allow-two-primaries"));
        assertEquals(Set.of("transport", "protocol", "timeout", "max-epoch-size", "ping-int", "ko-count",
                "allow-two-primaries"), net.defaults());
        assertTrue(!net.defaults().contains("shared-secret"));
        assertEquals("peer", net.name());
    }

    @Test
    void noSuchResource() {
        // what drbdsetup show prints when nothing is configured (drbd-utils user/v9/drbdsetup.c)
        DrbdShow show = DrbdShow.parse("# No currently configured DRBD found.\n");
        assertNull(show.resource());
        assertTrue(show.connections().isEmpty());
    }
}
