package io.romulus.qemu.internal;

import static io.romulus.qemu.internal.TestNamespace.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HexFormat;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The watch for a resumed guest's first frame, on real interfaces of a network namespace the test makes: a veth
 * stands for the tap ({@code v0}); what its peer {@code v1} sends arrives at it as a guest's frames arrive at its
 * tap. Announcements (RARP) and what the host sends towards the guest do not count; the guest's first other frame
 * does. Needs root and iproute2.
 */
class FirstFrameWatchTest {

    private final String netns = "rmt-ff-" + ProcessHandle.current().pid();

    @AfterEach
    void removeNamespace() throws Exception {
        TestNamespace.delete(netns);
    }

    @Test
    void theFirstFrameIsTheGuestsOwnNotAnAnnouncementNorWhatTheHostSendsIt() throws Exception {
        TestNamespace.add(netns); // no IPv6: its solicitations would be frames from the "guest"
        run("ip", "-n", netns, "link", "add", "v0", "type", "veth", "peer", "name", "v1");
        run("ip", "-n", netns, "addr", "add", "10.77.0.2/24", "dev", "v0");
        run("ip", "-n", netns, "addr", "add", "10.77.1.1/24", "dev", "v1");
        run("ip", "-n", netns, "link", "set", "v0", "up");
        run("ip", "-n", netns, "link", "set", "v1", "up");

        FirstFrameWatch watch = FirstFrameWatch.start(netns, List.of("v0"));
        watch.awaitReady(5_000);
        // QEMU's announce-self arrives from the guest's side: not the guest's own frame
        MacAnnouncement.send(netns, "v1", List.of("52:54:00:aa:bb:cc"));
        // the host's own frame towards the guest (an ARP request out of the "tap"): not the guest's either
        run("ip", "netns", "exec", netns, "bash", "-c", "echo x > /dev/udp/10.77.0.9/9");
        Thread.sleep(300);
        assertFalse(watch.first().isDone(), "neither an announcement nor the host's frame counts: "
                + watch.first().getNow(null));

        long sent = System.nanoTime();
        // the guest talks: its ARP request for 10.77.1.9 goes out of v1 and arrives at v0
        run("ip", "netns", "exec", netns, "bash", "-c", "echo x > /dev/udp/10.77.1.9/9");
        OptionalLong first = watch.first().get(10, TimeUnit.SECONDS);
        assertTrue(first.isPresent(), "the guest's frame was seen");
        assertTrue(first.getAsLong() - sent > 0, "seen after it was sent");
    }

    @Test
    void aTapThatCannotBeWatchedGivesNoFrameAndDoesNotHoldTheGuest() throws Exception {
        FirstFrameWatch watch = FirstFrameWatch.start("", List.of("nosuch-tap0"));
        watch.awaitReady(5_000);
        assertEquals(OptionalLong.empty(), watch.first().get(10, TimeUnit.SECONDS));
        assertEquals(OptionalLong.empty(), FirstFrameWatch.start("", List.of()).first().getNow(null),
                "no NIC, nothing to watch");
    }

    @Test
    void onlyRarpIsTakenForAnAnnouncement() {
        HexFormat hex = HexFormat.of();
        assertFalse(FirstFrameWatch.isGuestFrame(MacAnnouncement.rarp("52:54:00:12:34:56")));
        assertTrue(FirstFrameWatch.isGuestFrame(hex.parseHex("ffffffffffff" + "525400123456" + "0806")));
        assertTrue(FirstFrameWatch.isGuestFrame(hex.parseHex("525400000001" + "525400123456" + "0800")));
    }
}
