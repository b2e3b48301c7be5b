package io.romulus.shell.command;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionStatus;

import org.apache.karaf.shell.api.action.Argument;
import org.apache.karaf.shell.api.action.Command;
import org.apache.karaf.shell.api.action.Completion;
import org.apache.karaf.shell.api.action.Option;
import org.apache.karaf.shell.api.action.lifecycle.Service;

/** {@code romulus:protect sim:demo --memory 256M --dirty-rate 5000 --peer 127.0.0.1:7481}. */
@Service
@Command(scope = "romulus", name = "protect", description = "Starts protecting a domain: it is checkpointed every "
        + "epoch to the backup node at --peer, and its output is held until the backup acknowledges it.")
public class ProtectCommand extends RomulusCommand {

    @Argument(index = 0, name = "domain", description = "binding:name, for example sim:demo", required = true)
    @Completion(DomainCompleter.class)
    String domain;

    @Option(name = "--peer", description = "the backup node's checkpoint stream address, host:port", required = true)
    String peer;

    @Option(name = "--interval", description = "epoch interval in milliseconds (default: the engine's interval.ms)")
    int interval;

    @Option(name = "--verify", description = "check every committed checkpoint against a digest of the primary's "
            + "whole memory (diagnostic; reads all guest memory twice per epoch)")
    boolean verify;

    @Option(name = "--memory", description = "synthetic domains: memory size, e.g. 256M or 1G")
    String memory;

    @Option(name = "--dirty-rate", description = "synthetic domains: pages written per second")
    String dirtyRate;

    @Option(name = "--locality", description = "synthetic domains: fraction of writes to the hot set, 0..1")
    String locality;

    @Option(name = "--packet-rate", description = "synthetic domains: output packets per second")
    String packetRate;

    @Option(name = "-o", aliases = "--option", description = "a binding option key=value (repeatable)",
            multiValued = true)
    List<String> options;

    @Override
    void run() throws Exception {
        Map<String, String> opts = new LinkedHashMap<>();
        put(opts, "memory", memory);
        put(opts, "dirty-rate", dirtyRate);
        put(opts, "locality", locality);
        put(opts, "packet-rate", packetRate);
        if (options != null) {
            for (String o : options) {
                int eq = o.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("option '" + o + "' is not key=value");
                }
                opts.put(o.substring(0, eq).trim(), o.substring(eq + 1).trim());
            }
        }
        if (interval < 0) {
            throw new IllegalArgumentException("--interval must be positive, not " + interval);
        }
        ProtectRequest request = new ProtectRequest(domain(domain), ProtectRequest.parsePeer(peer), interval, opts,
                verify);
        ProtectionStatus s = engine.protect(request);
        System.out.println("Protecting " + s.domain() + " with backup " + s.peer() + " every " + s.intervalMs()
                + " ms (" + s.state() + "); follow it with romulus:status");
    }

    private static void put(Map<String, String> map, String key, String value) {
        if (value != null) {
            map.put(key, value);
        }
    }
}
