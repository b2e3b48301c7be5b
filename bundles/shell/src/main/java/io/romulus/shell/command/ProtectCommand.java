package io.romulus.shell.command;

import java.util.ArrayList;
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

/**
 * {@code romulus:protect sim:demo --memory 256M --dirty-rate 5000 --peer 127.0.0.1:7481}, or a QEMU VM of the user's
 * own: {@code romulus:protect qemu:pg --xml /etc/romulus/pg.xml --peer 10.0.0.2:7480}.
 */
@Service
@Command(scope = "romulus", name = "protect", description = "Starts protecting a domain: it is checkpointed every "
        + "epoch to the backup node at --peer, and its output is held until the backup acknowledges it.")
public class ProtectCommand extends RomulusCommand {

    @Argument(index = 0, name = "domain", description = "binding:name, for example sim:demo; the options may also "
            + "follow it", required = true, multiValued = true)
    @Completion(DomainCompleter.class)
    List<String> words;

    @Option(name = "--peer", description = "the backup node's checkpoint stream address, host:port (required)")
    String peer;

    @Option(name = "--heartbeat", description = "the backup node's failure detector, host:port (default: the peer's "
            + "host and the engine's peer.heartbeat.port)")
    String heartbeat;

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

    @Option(name = "--xml", description = "qemu: the VM's libvirt domain XML, a file on this node (e.g. from virsh "
            + "dumpxml); -o options override what it says")
    String xml;

    @Option(name = "--libvirt", description = "qemu: the libvirt domain whose XML defines the VM, read from the "
            + "binding's libvirt.uri (stop it in libvirt first)")
    String libvirt;

    @Option(name = "-o", aliases = "--option", description = "a binding option key=value (repeatable)",
            multiValued = true)
    List<String> options;

    @Override
    void run() throws Exception {
        String domain = words.get(0);
        trailingOptions(words.subList(1, words.size()));
        if (peer == null) {
            throw new IllegalArgumentException("--peer host:port is required: where the backup node listens");
        }
        Map<String, String> opts = new LinkedHashMap<>();
        put(opts, "memory", memory);
        put(opts, "dirty-rate", dirtyRate);
        put(opts, "locality", locality);
        put(opts, "packet-rate", packetRate);
        put(opts, "xml", xml);
        put(opts, "libvirt", libvirt);
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
                verify, heartbeat == null ? null : ProtectRequest.parsePeer(heartbeat));
        ProtectionStatus s = engine.protect(request);
        System.out.println("Protecting " + s.domain() + " with backup " + s.peer() + " every " + s.intervalMs()
                + " ms (" + s.state() + "); follow it with romulus:status");
    }

    /**
     * Karaf stops reading options at the first argument; {@code romulus:protect sim:demo --peer ...} is the natural
     * way to write it, so the options after the domain are read here, with the same names.
     */
    private void trailingOptions(List<String> rest) {
        for (int i = 0; i < rest.size(); i++) {
            String name = rest.get(i);
            if (name.equals("--verify")) {
                verify = true;
                continue;
            }
            if (i + 1 >= rest.size()) {
                throw new IllegalArgumentException(name.startsWith("-") ? name + " needs a value"
                        : "unexpected argument '" + name + "': only one domain is protected at a time");
            }
            String value = rest.get(++i);
            switch (name) {
                case "--peer" -> peer = value;
                case "--heartbeat" -> heartbeat = value;
                case "--interval" -> interval = parseInt("--interval", value);
                case "--memory" -> memory = value;
                case "--dirty-rate" -> dirtyRate = value;
                case "--locality" -> locality = value;
                case "--packet-rate" -> packetRate = value;
                case "--xml" -> xml = value;
                case "--libvirt" -> libvirt = value;
                case "-o", "--option" -> {
                    options = options == null ? new ArrayList<>() : new ArrayList<>(options);
                    options.add(value);
                }
                default -> throw new IllegalArgumentException(name.startsWith("-") ? "unknown option " + name
                        : "unexpected argument '" + name + "': only one domain is protected at a time");
            }
        }
    }

    private static int parseInt(String option, String value) {
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + " '" + value + "' is not a whole number");
        }
    }

    private static void put(Map<String, String> map, String key, String value) {
        if (value != null) {
            map.put(key, value);
        }
    }
}
