package io.romulus.shell.command;

import io.romulus.api.engine.ReplicationEngine;
import io.romulus.api.hypervisor.DomainId;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.lifecycle.Reference;

/**
 * Base of the {@code romulus:*} commands: they parse and print, the engine does the work. Wrong input and refusals
 * print one line, {@code Error: ...}, never a stack trace.
 */
abstract class RomulusCommand implements Action {

    @Reference
    ReplicationEngine engine;

    @Override
    public final Object execute() throws Exception {
        try {
            run();
        } catch (IllegalArgumentException | IllegalStateException e) {
            System.err.println("Error: " + e.getMessage());
        }
        return null;
    }

    abstract void run() throws Exception;

    static DomainId domain(String text) {
        return DomainId.parse(text);
    }
}
