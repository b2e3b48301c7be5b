package io.romulus.shell.command;

import java.util.List;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.scaleout.ScaleOut;
import io.romulus.api.scaleout.ScalePair;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.support.table.ShellTable;

/**
 * {@code romulus:scale qemu:demo --pairs 3}: serves a read-only domain with that many primary–backup pairs behind the
 * load balancer; without {@code --pairs}, shows the pairs. Run it on the domain's backup node: new pairs start from
 * its replica's committed checkpoint.
 */
@Service
@Command(scope = "romulus", name = "scale", description = "Serves a domain declared read-only (io.romulus.scaleout "
        + "read.only) with N primary-backup pairs behind HAProxy: new pairs start on this node, the domain's backup, "
        + "from its last committed checkpoint, each on its own bridge and protected towards another node, and join "
        + "the balancer once protected; extra pairs are drained, removed and retired. Without --pairs: the pairs.")
public class ScaleCommand implements Action {

    static final String ABSENT = "scale-out is not installed (feature romulus-scaleout)";

    @Reference(optional = true)
    ScaleOut scaleOut;

    @Argument(index = 0, name = "domain", description = "binding:name (--pairs may also follow it); without it, every "
            + "scaled domain's pairs", multiValued = true)
    @Completion(DomainCompleter.class)
    List<String> words;

    String domain;

    @Option(name = "--pairs", aliases = "-n", description = "the number of pairs that serve the domain (1: the domain "
            + "alone)")
    int pairs;

    @Override
    public Object execute() throws Exception {
        ScaleOut s = scaleOut;
        if (s == null) {
            throw new IllegalStateException(ABSENT);
        }
        if (words != null && !words.isEmpty()) {
            domain = words.get(0);
            trailingOptions(words.subList(1, words.size()));
        }
        List<ScalePair> rows;
        if (pairs != 0) {
            if (domain == null) {
                throw new IllegalArgumentException("--pairs needs the domain to scale");
            }
            rows = s.scale(DomainId.parse(domain), pairs);
        } else {
            rows = s.pairs();
            if (domain != null) {
                rows = rows.stream().filter(r -> r.origin().equals(domain)).toList();
            }
        }
        if (rows.isEmpty()) {
            System.out.println("No pairs: no read-only domain is in the balancer" + (domain == null ? "" : " as "
                    + domain));
            return null;
        }
        ShellTable table = new ShellTable();
        table.column("Domain");
        table.column("Pair");
        table.column("Pair domain");
        table.column("Server");
        table.column("Address");
        table.column("Balancer");
        table.column("Here");
        for (ScalePair p : rows) {
            table.addRow().addContent(p.origin(), p.pair(), p.domain(), p.server(), p.address(), p.balancer(),
                    p.protection());
        }
        table.print(System.out);
        return null;
    }

    /** Karaf stops reading options at the first argument: {@code --pairs} after the domain is read here. */
    private void trailingOptions(List<String> rest) {
        for (int i = 0; i < rest.size(); i++) {
            String name = rest.get(i);
            if (!name.equals("--pairs") && !name.equals("-n")) {
                throw new IllegalArgumentException("unexpected argument '" + name + "': romulus:scale DOMAIN --pairs N");
            }
            if (i + 1 >= rest.size()) {
                throw new IllegalArgumentException(name + " needs a value");
            }
            String value = rest.get(++i);
            try {
                pairs = Integer.parseInt(value);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(name + " '" + value + "' is not a whole number");
            }
            if (pairs < 1) {
                throw new IllegalArgumentException(name + " must be 1 or more, not " + pairs);
            }
        }
    }
}
