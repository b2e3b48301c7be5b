package io.romulus.shell.command;

import java.util.Comparator;

import javax.management.openmbean.CompositeData;

import io.romulus.api.management.DrbdMBean;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

/**
 * {@code romulus:drbd}: the DRBD coordinator of this node, read through its MBean service. Not a
 * {@link RomulusCommand}: it needs no engine, and it says so when the coordinator is not installed rather than not
 * existing.
 */
@Service
@Command(scope = "romulus", name = "drbd", description = "Shows the DRBD coordinator: whether DRBD can be used on "
        + "this host and why not, whether protocol C is accepted without checkpoint barriers, and for every DRBD "
        + "resource this node's role, its connections, its disk states and the progress of running resyncs.")
public class DrbdCommand implements Action {

    static final String ABSENT = "the DRBD coordinator is not installed (feature romulus-drbd)";

    @Reference(optional = true)
    DrbdMBean drbd;

    @Override
    public Object execute() throws Exception {
        DrbdMBean d = drbd;
        if (d == null) {
            throw new IllegalStateException(ABSENT);
        }
        boolean available = d.isAvailable();
        System.out.printf("Available       %s%n", available ? "yes" : "no: " + d.getReason());
        System.out.printf("Protocol C      %s%n", d.isAllowProtocolCWithoutBarriers()
                ? "accepted without checkpoint barriers (unsafe)" : "refused (no checkpoint barriers)");
        System.out.println();
        if (!available) {
            System.out.println("DRBD is unavailable on this host: no resource can be listed or protected.");
            return null;
        }
        var rows = d.resources().values();
        if (rows.isEmpty()) {
            System.out.println("No DRBD resource is known on this host.");
            return null;
        }
        ShellTable table = new ShellTable();
        table.column("Resource");
        table.column("Role");
        table.column("Connections");
        table.column("Disks");
        table.column("Resync");
        rows.stream().map(CompositeData.class::cast)
                .sorted(Comparator.comparing(r -> (String) r.get("name")))
                .forEach(r -> table.addRow().addContent(r.get("name"), r.get("role"), dash(r.get("connections")),
                        dash(r.get("disks")), dash(r.get("resync"))));
        table.print(System.out);
        return null;
    }

    private static Object dash(Object value) {
        return value == null || "".equals(value) ? "-" : value;
    }
}
