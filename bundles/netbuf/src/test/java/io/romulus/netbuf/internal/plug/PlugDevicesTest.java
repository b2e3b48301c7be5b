package io.romulus.netbuf.internal.plug;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.OptionalInt;

import io.romulus.api.netbuf.OutputBufferException;

import org.junit.jupiter.api.Test;

/**
 * Recognising the hold an earlier provider left, from what iproute2 6.1 printed on this host. This kernel has no
 * sch_plug, so the qdisc listings were taken with a tbf at the root of the IFB; tc prints every qdisc's first words
 * ({@code qdisc KIND MAJOR: root}) the same way, and the plug lines are those with the kind replaced.
 */
class PlugDevicesTest {

    private static final String FILTERS = """
            filter protocol all pref 1 u32 chain 0\s
            filter protocol all pref 1 u32 chain 0 fh 800: ht divisor 1\s
            filter protocol all pref 1 u32 chain 0 fh 800::800 order 2048 key ht 800 bkt 0 terminal flowid not_in_hw\s
              match 00000000/00000000 at 0
            \taction order 1: mirred (Egress Redirect to device ifb-t0) stolen
            \tindex 1 ref 1 bind 1

            """;
    private static final String TBF = "qdisc tbf 1: root refcnt 2 rate 1Mbit burst 10Kb lat 50ms \n";
    private static final String PLUG_1 = "qdisc plug 1: root refcnt 2 \n";
    private static final String PLUG_2 = "qdisc plug 2: root refcnt 2 \n";

    @Test
    void adoptsAPlugAtTheRootOfTheIfbTheTapRedirectsTo() {
        assertEquals(OptionalInt.of(PlugDevices.HANDLE_A), PlugDevices.leftPlug("ifb-t0", "t0", PLUG_1, FILTERS));
        assertEquals(OptionalInt.of(PlugDevices.HANDLE_B), PlugDevices.leftPlug("ifb-t0", "t0", PLUG_2, FILTERS),
                "after a discard the qdisc has the other handle");
    }

    @Test
    void refusesWhatDoesNotHold() {
        assertTrue(PlugDevices.leftPlug("ifb-t0", "t0", TBF, FILTERS).isEmpty(), "another qdisc at the root");
        assertTrue(PlugDevices.leftPlug("ifb-t0", "t0", "qdisc noqueue 0: root refcnt 2 \n", FILTERS).isEmpty(),
                "the IFB's default");
        assertTrue(PlugDevices.leftPlug("ifb-t0", "t0", PLUG_1, "").isEmpty(), "no redirect from the tap");
        assertTrue(PlugDevices.leftPlug("ifb-t0", "t0", PLUG_1, FILTERS.replace("ifb-t0", "ifb-t01")).isEmpty(),
                "a redirect to another device");
        assertTrue(PlugDevices.leftPlug("ifb-t0", "t0", "", FILTERS).isEmpty(), "no qdisc listed");
    }

    @Test
    void readsTheIndexIpPrintsFirst() throws OutputBufferException {
        assertEquals(4, PlugDevices.ifindex("4: ifb-t0: <BROADCAST,NOARP,UP,LOWER_UP> mtu 1500 qdisc tbf state "
                + "UNKNOWN mode DEFAULT group default qlen 32\\    link/ether 9e:50:21:d6:7b:6d brd ff:ff:ff:ff:ff:ff\n"));
        assertThrows(OutputBufferException.class, () -> PlugDevices.ifindex("Device \"x\" does not exist."));
    }
}
