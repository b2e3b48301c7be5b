package io.romulus.netbuf.internal.nfqueue;

import java.util.ArrayList;
import java.util.List;

import io.romulus.api.netbuf.OutputBufferException;
import io.romulus.netbuf.internal.HostCommands;
import io.romulus.netbuf.internal.netlink.NetlinkAttributes;
import io.romulus.netbuf.internal.netlink.NetlinkException;
import io.romulus.netbuf.internal.netlink.NetlinkMessageReader;
import io.romulus.netbuf.internal.netlink.NetlinkSocket;
import io.romulus.netbuf.internal.netlink.Nfqueue;
import io.romulus.support.linux.Errno;
import io.romulus.support.process.CommandResult;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What one attached interface holds in the kernel: the NETLINK_NETFILTER socket bound to its queue, the thread that
 * receives queued packets, and the iptables rules that feed the queue. Sends the verdicts of its
 * {@link NfqueueOutputBuffer}.
 */
final class NfqueueAttachment implements NfqueueOutputBuffer.Verdicts, NfqueueOutputBuffer.Attachment {

    private static final Logger LOG = LoggerFactory.getLogger(NfqueueAttachment.class);
    private static final long REQUEST_TIMEOUT_MS = 2000;
    private static final long JOIN_TIMEOUT_MS = 2000;

    private final NetlinkSocket socket;
    private final int queue;
    private final String description;
    private final List<List<String>> ruleRemovals = new ArrayList<>();
    private final Runnable onShutdown;
    /** Of the one thread that reads the socket at a time. */
    private final NetlinkAttributes attributes = new NetlinkAttributes(Nfqueue.NFQA_MAX_KNOWN);
    private volatile boolean running;
    private Thread reader;

    NfqueueAttachment(NetlinkSocket socket, int queue, String description, Runnable onShutdown) {
        this.socket = socket;
        this.queue = queue;
        this.description = description;
        this.onShutdown = onShutdown;
    }

    @Override
    public void batch(int verdict, int upToId) throws NetlinkException {
        socket.send((w, seq) -> Nfqueue.verdictBatch(w, seq, queue, verdict, upToId));
    }

    /** Starts the thread that receives queued packets into {@code buffer}. */
    void startReceiving(NfqueueOutputBuffer buffer) {
        running = true;
        reader = new Thread(() -> receive(buffer), "romulus-nfqueue-" + queue);
        reader.setDaemon(true);
        reader.start();
    }

    /** A rule to install: the iptables command that inserts it, the one that removes it, and what it is for. */
    record Rule(List<String> insert, List<String> remove, String what) {
    }

    /**
     * Installs {@code rules} at once ({@link HostCommands#runAll}) and remembers the command that removes each one
     * installed; throws for the first that was not, once all were tried.
     */
    void installRules(List<Rule> rules) throws OutputBufferException {
        List<CommandResult> results = HostCommands.runAll(rules.stream().map(Rule::insert).toList());
        OutputBufferException failed = null;
        for (int i = 0; i < rules.size(); i++) {
            Rule r = rules.get(i);
            if (results.get(i).ok()) {
                ruleRemovals.add(r.remove());
                LOG.debug("NFQUEUE {}: installed {}", queue, String.join(" ", r.insert()));
            } else if (failed == null) {
                failed = new OutputBufferException("cannot " + r.what() + ": " + results.get(i).describe());
            }
        }
        if (failed != null) {
            throw failed;
        }
    }

    /** Takes over a rule found in place (left by an earlier provider): {@code remove} removes it at close. */
    void adoptRule(List<String> remove) {
        ruleRemovals.add(remove);
        LOG.debug("NFQUEUE {}: adopted the rule that {} removes", queue, String.join(" ", remove));
    }

    private void receive(NfqueueOutputBuffer buffer) {
        NetlinkMessageReader message = new NetlinkMessageReader();
        long overruns = 0;
        while (running) {
            int n;
            try {
                n = socket.receive();
            } catch (NetlinkException e) {
                if (e.errno() == Errno.ENOBUFS) {
                    if (overruns++ % 1000 == 0) {
                        LOG.warn("NFQUEUE {} of {}: receive buffer overrun; the kernel dropped guest packets it could "
                                + "not deliver (output is lost, never released early)", queue, description);
                    }
                    continue;
                }
                if (running) {
                    LOG.error("NFQUEUE {} of {}: receiving failed; queued output stays held: {}", queue, description,
                            e.getMessage());
                    sleepQuietly();
                }
                continue;
            }
            if (n == 0) {
                continue;
            }
            try {
                message.reset(socket.received(), n);
                while (message.next()) {
                    deliver(message, buffer);
                }
            } catch (NetlinkException e) {
                LOG.error("NFQUEUE {} of {}: {}", queue, description, e.getMessage());
            }
            buffer.receivedAll();
        }
    }

    /**
     * One message read from the socket: a queued packet goes to {@code buffer}, a refused verdict is logged. By the
     * one thread that reads the socket.
     */
    void deliver(NetlinkMessageReader message, NfqueueOutputBuffer buffer) throws NetlinkException {
        if (Nfqueue.isPacket(message)) {
            Nfqueue.attributes(message, attributes);
            buffer.received(Nfqueue.packetId(attributes), Nfqueue.packetLength(attributes));
        } else if (message.isError() && message.errorCode() != 0) {
            LOG.warn("NFQUEUE {} of {}: the kernel refused a verdict: {}", queue, description,
                    Errno.name(message.errorCode()));
        }
    }

    private static void sleepQuietly() {
        try {
            Thread.sleep(50);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void stopIntake() {
        for (List<String> removal : ruleRemovals) {
            try {
                HostCommands.check(removal, "remove the NFQUEUE rule");
            } catch (OutputBufferException e) {
                // fail-closed: a rule left behind queues to a queue nobody reads, so the kernel drops that traffic
                LOG.error("NFQUEUE {} of {}: {} (traffic it matches is dropped until it is removed by hand)", queue,
                        description, e.getMessage());
            }
        }
        ruleRemovals.clear();
        if (!stopReceiving()) {
            LOG.warn("NFQUEUE {} of {}: receiving thread did not stop", queue, description);
        }
    }

    /** Stops the receiving thread; false when it did not stop in time. */
    private boolean stopReceiving() {
        running = false;
        if (reader == null) {
            return true;
        }
        try {
            reader.join(JOIN_TIMEOUT_MS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return !reader.isAlive();
    }

    @Override
    public void abandon() {
        ruleRemovals.clear();
        if (!stopReceiving()) {
            // its memory is in use: the queue stays bound and holds, and a new provider cannot bind it
            LOG.error("NFQUEUE {} of {}: receiving thread did not stop; the queue stays bound to this socket",
                    queue, description);
            return;
        }
        // closing the socket destroys the queue instance: the kernel drops what it holds (never accepts it)
        socket.close();
    }

    @Override
    public NfqueueHandOver.Queue handOver() {
        List<List<String>> rules = List.copyOf(ruleRemovals);
        ruleRemovals.clear();
        if (!stopReceiving()) {
            LOG.error("NFQUEUE {} of {}: receiving thread did not stop; the queue stays bound to this socket and "
                    + "cannot be handed over", queue, description);
            return null;
        }
        int fd = socket.handOver();
        return new NfqueueHandOver.Queue(socket.netns(), fd, String.valueOf(NfqueueHandOver.socketOf(fd)), rules);
    }

    @Override
    public void shutdown() {
        try {
            if (reader == null || !reader.isAlive()) {
                socket.request("NFQNL_CFG_CMD_UNBIND of queue " + queue,
                        (w, seq) -> Nfqueue.configCommand(w, seq, queue, Nfqueue.NFQNL_CFG_CMD_UNBIND),
                        REQUEST_TIMEOUT_MS, null);
            }
        } catch (NetlinkException e) {
            LOG.warn("NFQUEUE {} of {}: {} (closing the socket unbinds it too)", queue, description, e.getMessage());
        } finally {
            if (reader == null || !reader.isAlive()) {
                socket.close();
            }
            onShutdown.run();
        }
    }
}
