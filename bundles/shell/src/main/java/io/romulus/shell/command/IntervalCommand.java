package io.romulus.shell.command;

import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.lifecycle.Service;

/** {@code romulus:interval sim:demo 40}. */
@Service
@Command(scope = "romulus", name = "interval", description = "Changes a protected domain's epoch interval.")
public class IntervalCommand extends RomulusCommand {

    @Argument(index = 0, name = "domain", description = "binding:name", required = true)
    @Completion(DomainCompleter.class)
    String domain;

    @Argument(index = 1, name = "ms", description = "the new interval in milliseconds", required = true)
    int ms;

    @Override
    void run() {
        engine.setInterval(domain(domain), ms);
        System.out.println("Epoch interval of " + domain + " is now " + ms + " ms");
    }
}
