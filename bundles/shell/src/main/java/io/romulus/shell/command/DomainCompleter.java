package io.romulus.shell.command;

import java.util.List;

import io.romulus.api.engine.ReplicationEngine;

import org.apache.karaf.shell.api.action.lifecycle.Reference;
import org.apache.karaf.shell.api.action.lifecycle.Service;
import org.apache.karaf.shell.api.console.CommandLine;
import org.apache.karaf.shell.api.console.Completer;
import org.apache.karaf.shell.api.console.Session;
import org.apache.karaf.shell.support.completers.StringsCompleter;

/** Completes the domains this node protects, holds replicas of, or whose binding can see them. */
@Service
public class DomainCompleter implements Completer {

    @Reference
    ReplicationEngine engine;

    @Override
    public int complete(Session session, CommandLine commandLine, List<String> candidates) {
        return new StringsCompleter(engine.domainNames()).complete(session, commandLine, candidates);
    }
}
