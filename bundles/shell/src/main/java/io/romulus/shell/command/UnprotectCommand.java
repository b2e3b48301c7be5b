package io.romulus.shell.command;

import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.lifecycle.Service;

/** {@code romulus:unprotect sim:demo}. */
@Service
@Command(scope = "romulus", name = "unprotect", description = "Stops protecting a domain (on its primary), or drops "
        + "this node's replica of it (on its backup).")
public class UnprotectCommand extends RomulusCommand {

    @Argument(index = 0, name = "domain", description = "binding:name", required = true)
    @Completion(DomainCompleter.class)
    String domain;

    @Override
    void run() throws Exception {
        engine.unprotect(domain(domain));
        System.out.println("Stopped protecting " + domain);
    }
}
