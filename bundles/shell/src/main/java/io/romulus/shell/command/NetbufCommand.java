package io.romulus.shell.command;

import java.util.List;

import io.romulus.api.engine.OutputStatus;
import io.romulus.api.netbuf.OutputBufferStats;

import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

/** {@code romulus:netbuf}. */
@Service
@Command(scope = "romulus", name = "netbuf", description = "Shows output commit: for every guest interface this node "
        + "holds, the implementation (plug, nfqueue, sim), what was queued, released and dropped, and the epochs "
        + "whose output still waits for the backup's acknowledgement.")
public class NetbufCommand extends RomulusCommand {

    @Override
    void run() {
        List<OutputStatus> rows = engine.outputs();
        if (rows.isEmpty()) {
            System.out.println("No guest output is held on this node (it is primary for no protected domain).");
            return;
        }
        ShellTable table = new ShellTable();
        table.column("Domain");
        table.column("Interface");
        table.column("Held by");
        table.column("Queued").alignRight();
        table.column("Queued KiB").alignRight();
        table.column("Released").alignRight();
        table.column("Released KiB").alignRight();
        table.column("Dropped").alignRight();
        table.column("Epochs held").alignRight();
        for (OutputStatus o : rows) {
            OutputBufferStats s = o.stats();
            table.addRow().addContent(o.domain(), o.interfaceName(), s.implementation(), s.packetsQueued(),
                    s.bytesQueued() >> 10, s.packetsReleased(), s.bytesReleased() >> 10, s.packetsDropped(),
                    s.epochsOutstanding());
        }
        table.print(System.out);
    }
}
