package io.romulus.shell.command;

import io.romulus.api.engine.ReplicationEngine;
import io.romulus.api.hypervisor.DomainId;

import org.apache.karaf.shell.api.action.Action;
import org.apache.karaf.shell.api.action.lifecycle.Reference;

/**
 * Base of the {@code romulus:*} commands: they parse and print, the engine does the work. Wrong input and refusals
 * surface as exceptions whose message Karaf prints on one line ({@code Error executing command ...: message}).
 */
abstract class RomulusCommand implements Action {

    @Reference
    ReplicationEngine engine;

    @Override
    public final Object execute() throws Exception {
        run();
        return null;
    }

    abstract void run() throws Exception;

    static DomainId domain(String text) {
        return DomainId.parse(text);
    }
}
