package io.romulus.engine.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.netbuf.OutputBuffer;
import io.romulus.netbuf.internal.netlink.LinuxNetlink;
import io.romulus.netbuf.internal.nfqueue.NfqueueProvider;
import io.romulus.netbuf.internal.nfqueue.NfqueueSettings;

/**
 * Delay and loss on the links of the netlab switch, where this kernel has no netem: every IP packet that enters the
 * switch from a host's port is held in an NFQUEUE (Romulus's own output buffer, attached to the switch port) and let
 * go {@code delayMs} later, in order; {@code loss} of them are dropped first by an iptables {@code statistic} rule.
 */
@SuppressWarnings("try") // close() may be interrupted; these are test fixtures
final class DelayLine implements AutoCloseable {

    private static final int TICK_MS = 2;

    private final NfqueueProvider queues = new NfqueueProvider(NfqueueSettings.defaults().withQueueBase(4600),
            LinuxNetlink.load());
    private final List<OutputBuffer> held = new ArrayList<>();
    private final ScheduledExecutorService clock = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "delay-line");
        t.setDaemon(true);
        return t;
    });
    private final NetLab lab;
    private final java.util.Map<String, String> lossOnlyTo;
    private final String[] ports;
    private List<List<String>> lossRules = new ArrayList<>();
    private volatile long lag;
    private long tick;

    /** Delays by {@code delayMs} and drops {@code loss} (0..1) of what enters the switch on {@code ports}. */
    DelayLine(NetLab lab, int delayMs, double loss, String... ports) throws Exception {
        this(lab, delayMs, loss, java.util.Map.of(), ports);
    }

    /**
     * Delays by {@code delayMs} what enters the switch on {@code ports}, and drops {@code loss} (0..1) of it; where
     * {@code lossOnlyTo} names a port's destination address, only packets to that address are dropped (the
     * replication link's, not the clients').
     */
    DelayLine(NetLab lab, int delayMs, double loss, java.util.Map<String, String> lossOnlyTo, String... ports)
            throws Exception {
        this.lab = lab;
        this.lossOnlyTo = lossOnlyTo;
        this.ports = ports.clone();
        for (String port : ports) {
            held.add(queues.attach(new GuestInterface(port, "00:00:00:00:00:00", "tap", port, lab.prefix + "-sw")));
        }
        lossRules = insertLoss(loss);
        lag = delayMs / TICK_MS;
        Future<?> unused = clock.scheduleAtFixedRate(() -> {
            long t = ++tick;
            for (OutputBuffer b : held) {
                b.seal(t);
                if (t > lag) {
                    b.release(t - lag);
                }
            }
        }, TICK_MS, TICK_MS, TimeUnit.MILLISECONDS);
    }

    /**
     * Another delay and loss without a moment of neither (a lower RTT seen even once would stay in BBR's minimum RTT
     * for 10 s): the new loss rules go in before the old ones go, a longer delay holds the next packets longer.
     */
    void set(int delayMs, double loss) throws Exception {
        List<List<String>> old = lossRules;
        lossRules = insertLoss(loss);
        deleteLoss(old);
        lag = delayMs / TICK_MS;
    }

    private List<List<String>> insertLoss(double loss) throws Exception {
        List<List<String>> rules = new ArrayList<>();
        if (loss <= 0) {
            return rules;
        }
        for (String port : ports) {
            List<String> rule = new ArrayList<>(List.of("FORWARD", "-m", "physdev", "--physdev-in", port));
            if (lossOnlyTo.containsKey(port)) {
                rule.addAll(List.of("-d", lossOnlyTo.get(port)));
            }
            rule.addAll(List.of("-m", "statistic", "--mode", "random", "--probability", Double.toString(loss), "-j",
                    "DROP"));
            List<String> insert = new ArrayList<>(List.of("ip", "netns", "exec", lab.prefix + "-sw", "iptables",
                    "-I"));
            insert.addAll(rule);
            lab.run(insert);
            rules.add(rule);
        }
        return rules;
    }

    private void deleteLoss(List<List<String>> rules) throws Exception {
        for (List<String> rule : rules) {
            List<String> delete = new ArrayList<>(List.of("ip", "netns", "exec", lab.prefix + "-sw", "iptables",
                    "-D"));
            delete.addAll(rule);
            lab.run(delete);
        }
    }

    @Override
    public void close() throws Exception {
        clock.shutdownNow();
        clock.awaitTermination(5, TimeUnit.SECONDS);
        for (OutputBuffer b : held) {
            b.passThrough();
            b.close();
        }
        deleteLoss(lossRules);
    }
}
