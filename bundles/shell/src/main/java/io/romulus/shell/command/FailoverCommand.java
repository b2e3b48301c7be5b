package io.romulus.shell.command;

import io.romulus.api.engine.ProtectionStatus;

import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.lifecycle.Service;

/** {@code romulus:failover sim:demo}: manual activation of this node's replica. */
@Service
@Command(scope = "romulus", name = "failover", description = "Activates this node's replica of a domain from its "
        + "last committed checkpoint. Only do this when the primary is really gone: two running copies would both "
        + "release output.")
public class FailoverCommand extends RomulusCommand {

    @Argument(index = 0, name = "domain", description = "binding:name", required = true)
    @Completion(DomainCompleter.class)
    String domain;

    @Override
    void run() throws Exception {
        ProtectionStatus s = engine.failover(domain(domain));
        System.out.println(s.domain() + " " + s.state() + ": " + s.detail());
    }
}
