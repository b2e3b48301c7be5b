package io.romulus.scaleout.internal;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.ReplicationEngine;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.scaleout.ScaleOut;
import io.romulus.api.scaleout.ScalePair;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Scale-out over a {@link ReplicationEngine} and a {@link Balancer}, usable without OSGi.
 *
 * <p>Pair 1 of a scaled domain is the domain itself, served by balancer server {@code p1}. Scaling up starts pair
 * {@code k} on this node, the domain's backup, from its replica's last committed checkpoint ({@link
 * ReplicationEngine#fork}), on its own bridge, protected towards another node; once it is PROTECTED, server
 * {@code pk} joins the backend, so every pair that serves is fault tolerant. Scaling down drains a pair's server,
 * deletes it, and retires the pair (protection ends and the clone stops). The balancer and the engine are the state:
 * nothing is kept here, so a restarted component, or another node, sees the same pairs.
 *
 * <p>When a pair fails over to this node (an alarm {@link Alarm.Kind#FAILOVER}), its server is re-pointed at the
 * pair's address and made ready; the other pairs' servers are not touched.
 */
public final class ScaleOutController implements ScaleOut {

    private static final Logger LOG = LoggerFactory.getLogger(ScaleOutController.class);

    private final ReplicationEngine engine;
    private volatile Balancer balancer;
    private volatile ScaleOutSettings settings;

    public ScaleOutController(ScaleOutSettings settings, ReplicationEngine engine, Balancer balancer) {
        this.settings = settings;
        this.engine = engine;
        this.balancer = balancer;
    }

    public ScaleOutSettings settings() {
        return settings;
    }

    /** New settings, and a new balancer unless {@code newBalancer} is null. */
    public void update(ScaleOutSettings s, Balancer newBalancer) {
        if (newBalancer != null) {
            balancer = newBalancer;
        }
        settings = s;
    }

    @Override
    public boolean isReadOnly(DomainId domain) {
        return settings.readOnly().contains(domain.toString());
    }

    @Override
    public synchronized List<ScalePair> scale(DomainId domain, int pairs) throws Exception {
        ScaleOutSettings s = settings;
        if (!isReadOnly(domain)) {
            throw new IllegalArgumentException(domain + " is not declared read-only, so it is not scaled: each pair "
                    + "is a separate copy of the VM, and a request that changes state would change only the pair that "
                    + "served it; from then on the pairs would answer differently. If no request to " + domain
                    + " changes its state, declare it: " + (s.readOnly().isEmpty()
                            ? "config:property-set -p io.romulus.scaleout read.only " + domain
                            : "config:property-append -p io.romulus.scaleout read.only ," + domain));
        }
        if (pairs < 1 || pairs > s.maxPairs()) {
            throw new IllegalArgumentException("--pairs must be 1 to " + s.maxPairs() + " (max.pairs), not " + pairs);
        }
        String backend = s.backendOf(domain);
        Map<Integer, Balancer.Server> servers = serversOf(backend);
        if (!servers.containsKey(1)) {
            InetSocketAddress a = s.addressOf(domain, 1);
            balancer.add(backend, ScaleOutSettings.serverOf(1), a.getHostString(), a.getPort());
            LOG.info("Pair 1 of {} ({} itself) is server {}/p1 at {}", domain, domain, backend, hostPort(a));
        }
        for (int k = 2; k <= pairs; k++) {
            if (!servers.containsKey(k)) {
                addPair(s, domain, backend, k);
            }
        }
        List<Integer> extra = new ArrayList<>(servers.keySet().stream().filter(k -> k > pairs && k > 1).toList());
        extra.sort((a, b) -> Integer.compare(b, a));
        for (int k : extra) {
            removePair(s, domain, backend, k);
        }
        return pairs(domain);
    }

    private Map<Integer, Balancer.Server> serversOf(String backend) throws IOException {
        List<Balancer.Server> list;
        try {
            list = balancer.servers(backend);
        } catch (IOException e) {
            throw new IOException("the balancer (" + balancer.describe() + ") cannot list backend '" + backend + "': "
                    + e.getMessage() + "; it needs a backend of that name, with a balance algorithm that takes servers "
                    + "added at run time (roundrobin, leastconn, first, random)", e);
        }
        Map<Integer, Balancer.Server> byPair = new TreeMap<>();
        for (Balancer.Server srv : list) {
            int k = ScaleOutSettings.pairOfServer(srv.name());
            if (k > 0) {
                byPair.put(k, srv);
            }
        }
        return byPair;
    }

    private void addPair(ScaleOutSettings s, DomainId origin, String backend, int k) throws Exception {
        DomainId clone = s.pairDomain(origin, k);
        InetSocketAddress backup = s.backups().isEmpty() ? null : s.backups().get((k - 2) % s.backups().size());
        long started = System.nanoTime();
        Optional<ProtectionStatus> already = statusOf(clone);
        if (already.isPresent() && already.get().role() == Role.PRIMARY) {
            LOG.info("Pair {} of {}: {} runs here already ({}); adding it to the balancer", k, origin, clone,
                    already.get().state());
        } else {
            LOG.info("Pair {} of {}: starting {} from {}'s replica on bridge {}, backup {}", k, origin, clone, origin,
                    s.bridgeOf(origin, k), backup == null ? "the node " + origin + "'s primary runs on" : hostPort(backup));
            engine.fork(origin, clone, Map.of("bridge", s.bridgeOf(origin, k)), backup);
        }
        awaitProtected(s, clone);
        long protectedAt = System.nanoTime();
        InetSocketAddress a = s.addressOf(origin, k);
        try {
            balancer.add(backend, ScaleOutSettings.serverOf(k), a.getHostString(), a.getPort());
        } catch (IOException e) {
            throw new IOException(clone + " runs and is protected, but the balancer (" + balancer.describe()
                    + ") refused server " + backend + "/" + ScaleOutSettings.serverOf(k) + ": " + e.getMessage()
                    + "; scale again once that is fixed, or romulus:scale to fewer pairs retires it", e);
        }
        LOG.info("Pair {} of {} serves: {} protected after {} ms, server {}/p{} at {}", k, origin, clone,
                TimeUnit.NANOSECONDS.toMillis(protectedAt - started), backend, k, hostPort(a));
    }

    private void awaitProtected(ScaleOutSettings s, DomainId clone) throws Exception {
        long deadline = System.nanoTime() + s.protectTimeout().toNanos();
        ProtectionStatus last = null;
        while (System.nanoTime() < deadline) {
            last = statusOf(clone).orElse(null);
            if (last != null && last.role() == Role.PRIMARY && last.state() == ProtectionState.PROTECTED) {
                return;
            }
            if (last != null && (last.state() == ProtectionState.FAILED || last.state() == ProtectionState.FENCED)) {
                break;
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException(clone + " did not become PROTECTED within " + s.protectTimeout().toSeconds()
                + " s (" + (last == null ? "not running here" : last.state() + ": " + last.detail()) + "); it is not "
                + "added to the balancer. romulus:scale to fewer pairs retires it");
    }

    private void removePair(ScaleOutSettings s, DomainId origin, String backend, int k) throws Exception {
        DomainId clone = s.pairDomain(origin, k);
        long started = System.nanoTime();
        int cut = balancer.remove(backend, ScaleOutSettings.serverOf(k), s.drain());
        long drained = System.nanoTime();
        Optional<ProtectionStatus> st = statusOf(clone);
        if (st.isPresent() && st.get().role() == Role.PRIMARY) {
            engine.retire(clone);
            LOG.info("Pair {} of {} removed: server {}/p{} drained in {} ms ({} connections cut), {} retired", k,
                    origin, backend, k, TimeUnit.NANOSECONDS.toMillis(drained - started), cut, clone);
        } else {
            LOG.warn("Pair {} of {} removed from the balancer (server {}/p{}, {} connections cut), but {} does not run "
                    + "from this node: retire it where it runs (romulus:unprotect, then stop the VM)", k, origin,
                    backend, k, cut, clone);
        }
    }

    private Optional<ProtectionStatus> statusOf(DomainId id) {
        String name = id.toString();
        return engine.status().stream().filter(p -> p.domain().equals(name)).findFirst();
    }

    @Override
    public List<ScalePair> pairs() throws Exception {
        List<ScalePair> all = new ArrayList<>();
        for (String o : settings.readOnly()) {
            all.addAll(pairs(DomainId.parse(o)));
        }
        return all;
    }

    private List<ScalePair> pairs(DomainId origin) throws IOException {
        ScaleOutSettings s = settings;
        String backend = s.backendOf(origin);
        Map<Integer, Balancer.Server> servers;
        try {
            servers = serversOf(backend);
        } catch (IOException e) {
            LOG.debug("No pairs of {}: {}", origin, e.getMessage());
            return List.of();
        }
        List<ScalePair> out = new ArrayList<>();
        for (Map.Entry<Integer, Balancer.Server> e : servers.entrySet()) {
            DomainId d = s.pairDomain(origin, e.getKey());
            String protection = statusOf(d).map(p -> p.role() + " " + p.state()).orElse("-");
            Balancer.Server srv = e.getValue();
            out.add(new ScalePair(origin.toString(), e.getKey(), d.toString(), backend + "/" + srv.name(),
                    srv.address(), srv.state(), protection));
        }
        return out;
    }

    /**
     * An alarm of this node's engine: a pair that failed over to here is re-pointed and made ready in the balancer.
     * Runs on the thread that raised the alarm, so the balancer is called from a thread of its own.
     */
    public void onAlarm(Alarm alarm) {
        if (alarm.kind() != Alarm.Kind.FAILOVER || alarm.domain() == null) {
            return;
        }
        ScaleOutSettings s = settings;
        ScaleOutSettings.PairRef ref = s.pairOf(DomainId.parse(alarm.domain()));
        if (ref == null) {
            return;
        }
        Thread t = new Thread(() -> repoint(s, ref), "romulus-scaleout-repoint");
        t.setDaemon(true);
        t.start();
    }

    private void repoint(ScaleOutSettings s, ScaleOutSettings.PairRef ref) {
        String backend = s.backendOf(ref.origin());
        String server = ScaleOutSettings.serverOf(ref.pair());
        InetSocketAddress a = s.addressOf(ref.origin(), ref.pair());
        try {
            if (!serversOf(backend).containsKey(ref.pair())) {
                return;
            }
            balancer.repoint(backend, server, a.getHostString(), a.getPort());
            LOG.info("Pair {} of {} failed over to this node: server {}/{} points at {} and is ready", ref.pair(),
                    ref.origin(), backend, server, hostPort(a));
        } catch (IOException | RuntimeException e) {
            LOG.warn("Pair {} of {} failed over to this node, but re-pointing server {}/{} at {} failed: {}",
                    ref.pair(), ref.origin(), backend, server, hostPort(a), e.getMessage());
        }
    }

    static String hostPort(InetSocketAddress a) {
        return a.getHostString() + ":" + a.getPort();
    }
}
