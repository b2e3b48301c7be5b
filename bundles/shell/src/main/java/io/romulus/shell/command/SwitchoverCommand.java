package io.romulus.shell.command;

import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.lifecycle.Service;

/** {@code romulus:switchover sim:demo}: planned move of a protected domain to its backup, on either node. */
@Service
@Command(scope = "romulus", name = "switchover", description = "Moves a protected domain to its backup for "
        + "maintenance: a final checkpoint with the domain paused, then the backup runs it and this node (or the old "
        + "primary) becomes its backup, without a full copy. Runs on either node; if anything fails before the old "
        + "primary stops its copy, the domain runs on there, still protected.")
public class SwitchoverCommand extends RomulusCommand {

    @Argument(index = 0, name = "domain", description = "binding:name", required = true)
    @Completion(DomainCompleter.class)
    String domain;

    @Override
    void run() throws Exception {
        System.out.println(engine.switchover(domain(domain)));
    }
}
