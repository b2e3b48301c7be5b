package io.romulus.shell.command;

import java.util.Comparator;
import java.util.Locale;

import javax.management.openmbean.CompositeData;

import io.romulus.api.management.DetectorMBean;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

/**
 * {@code romulus:detector}: the heartbeat failure detector of this node, read through its MBean service. Not a
 * {@link RomulusCommand}: it needs no engine, and it says so when no detector runs rather than not existing.
 */
@Service
@Command(scope = "romulus", name = "detector", description = "Shows the heartbeat failure detector: this node's id, "
        + "heartbeat port, threshold and interval, and for every monitored peer its address, phi, whether it is "
        + "suspected, heartbeats received, silence, the inter-arrival statistics and how often it was suspected.")
public class DetectorCommand implements Action {

    static final String ABSENT = "no failure detector is running on this node (install feature romulus-core?)";

    @Reference(optional = true)
    DetectorMBean detector;

    @Override
    public Object execute() throws Exception {
        DetectorMBean d = detector;
        if (d == null) {
            throw new IllegalStateException(ABSENT);
        }
        String listen = d.getListenAddress();
        System.out.printf("Node id         %s%n", d.getNodeId());
        System.out.printf("Listen address  %s%n", listen.isEmpty() ? "(not bound)" : "UDP " + listen);
        System.out.printf(Locale.ROOT, "Threshold       phi %.1f%n", d.getThreshold());
        System.out.printf("Interval        %d ms%n", d.getIntervalMs());
        System.out.printf("Heartbeats      %s, %d refused (not authenticated, stale or replayed)%n",
                d.isAuthenticated() ? "authenticated" : "NOT authenticated (no secret file)",
                d.getRejectedHeartbeats());
        System.out.println();
        var rows = d.peers().values();
        if (rows.isEmpty()) {
            System.out.println("No peer is monitored by this node.");
            return null;
        }
        ShellTable table = new ShellTable();
        table.column("Peer");
        table.column("Address");
        table.column("Phi").alignRight();
        table.column("Suspected");
        table.column("Heartbeats").alignRight();
        table.column("Silence ms").alignRight();
        table.column("Mean ms").alignRight();
        table.column("StdDev ms").alignRight();
        table.column("Suspicions").alignRight();
        rows.stream().map(CompositeData.class::cast)
                .sorted(Comparator.comparing(p -> (String) p.get("peer")))
                .forEach(p -> table.addRow().addContent(p.get("peer"), address(p), decimal((Double) p.get("phi")),
                        (Boolean) p.get("suspected") ? "yes" : "no", p.get("heartbeats"),
                        String.format(Locale.ROOT, "%.0f", (Double) p.get("silenceMs")),
                        decimal((Double) p.get("meanIntervalMs")), decimal((Double) p.get("stdDevMs")),
                        p.get("suspicions")));
        table.print(System.out);
        return null;
    }

    /** The address, marked when learned from the peer's heartbeats; a learned one not known yet says so. */
    private static String address(CompositeData p) {
        String address = (String) p.get("address");
        boolean learned = p.containsKey("learned") && (Boolean) p.get("learned");
        if (!learned) {
            return address;
        }
        return address.isEmpty() ? "(not heard from yet)" : address + " (learned)";
    }

    private static String decimal(double value) {
        return String.format(Locale.ROOT, "%.1f", value);
    }
}
