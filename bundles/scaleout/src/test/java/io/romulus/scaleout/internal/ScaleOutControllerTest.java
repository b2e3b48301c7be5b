package io.romulus.scaleout.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.OutputStatus;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.ReplicationEngine;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.scaleout.ScalePair;

import org.junit.jupiter.api.Test;

/** {@link ScaleOutController} over a recording engine and balancer: what it asks of each, in which order. */
class ScaleOutControllerTest {

    private static final DomainId DEMO = DomainId.parse("qemu:demo");

    private final FakeEngine engine = new FakeEngine();
    private final FakeBalancer balancer = new FakeBalancer();
    private final ScaleOutController scale = new ScaleOutController(ScaleOutSettings.defaults(Set.of("qemu:demo"),
            "/run/haproxy.sock").withBackups(List.of(ProtectRequest.parsePeer("10.0.0.3:7480"),
                    ProtectRequest.parsePeer("10.0.0.4:7480"))), engine, balancer);

    @Test
    void aDomainNotDeclaredReadOnlyIsRefusedWithTheReason() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> scale.scale(DomainId.parse("qemu:db"), 3));
        assertTrue(e.getMessage().contains("qemu:db is not declared read-only"), e.getMessage());
        assertTrue(e.getMessage().contains("config:property-append -p io.romulus.scaleout read.only ,qemu:db"),
                e.getMessage());
        assertEquals(List.of(), engine.calls);
        assertEquals(List.of(), balancer.calls);
    }

    @Test
    void pairsOutOfRangeAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> scale.scale(DEMO, 0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> scale.scale(DEMO, 17));
        assertTrue(e.getMessage().contains("1 to 16"), e.getMessage());
    }

    @Test
    void scalingUpClonesEachPairOnItsOwnBridgeAndAddsItOnlyOnceProtected() throws Exception {
        List<ScalePair> pairs = scale.scale(DEMO, 3);
        assertEquals(List.of(
                "fork qemu:demo qemu:demo-p2 {bridge=rp2} 10.0.0.3:7480",
                "fork qemu:demo qemu:demo-p3 {bridge=rp3} 10.0.0.4:7480"), engine.calls);
        assertEquals(List.of(
                "add demo/p1 10.78.1.1:7000",
                "status qemu:demo-p2 PROTECTED", "add demo/p2 10.78.2.1:7000",
                "status qemu:demo-p3 PROTECTED", "add demo/p3 10.78.3.1:7000"), balancer.calls);
        assertEquals(3, pairs.size());
        assertEquals(new ScalePair("qemu:demo", 2, "qemu:demo-p2", "demo/p2", "10.78.2.1:7000", "UP",
                "PRIMARY PROTECTED"), pairs.get(1));
        assertEquals("-", pairs.get(0).protection(), "pair 1's primary is another node");
    }

    @Test
    void scalingAgainToTheSameNumberChangesNothing() throws Exception {
        scale.scale(DEMO, 2);
        engine.calls.clear();
        balancer.calls.clear();
        scale.scale(DEMO, 2);
        assertEquals(List.of(), engine.calls);
        assertEquals(List.of(), balancer.calls);
    }

    @Test
    void scalingDownDrainsAndRemovesTheHighestPairsFirstThenRetiresThem() throws Exception {
        scale.scale(DEMO, 3);
        engine.calls.clear();
        balancer.calls.clear();
        List<ScalePair> pairs = scale.scale(DEMO, 1);
        assertEquals(List.of("remove demo/p3 drain PT10S", "remove demo/p2 drain PT10S"), balancer.calls);
        assertEquals(List.of("retire qemu:demo-p3", "retire qemu:demo-p2"), engine.calls);
        assertEquals(1, pairs.size());
        assertEquals("qemu:demo", pairs.get(0).domain());
    }

    @Test
    void aPairThatFailedOverHereIsRepointedAndTheOthersAreLeftAlone() throws Exception {
        engine.addAlarmListener(scale::onAlarm);
        scale.scale(DEMO, 3);
        balancer.calls.clear();
        engine.raise(new Alarm(0, Alarm.Kind.FAILOVER, "qemu:demo-p2", "activated"));
        engine.raise(new Alarm(0, Alarm.Kind.FAILOVER, "qemu:other", "activated"));
        engine.raise(new Alarm(0, Alarm.Kind.UNPROTECTED, "qemu:demo-p3", "backup lost"));
        await().atMost(Duration.ofSeconds(5)).until(() -> !balancer.calls.isEmpty());
        // only the pair of this domain that failed over is repointed, and nothing else follows
        await().during(Duration.ofMillis(100)).atMost(Duration.ofSeconds(1)).pollInterval(Duration.ofMillis(10))
                .untilAsserted(() -> assertEquals(List.of("repoint demo/p2 10.78.2.1:7000"), balancer.calls));
    }

    @Test
    void aMissingBackendSaysWhatTheBalancerNeeds() {
        balancer.backend = "other";
        IOException e = assertThrows(IOException.class, () -> scale.scale(DEMO, 2));
        assertTrue(e.getMessage().contains("backend 'demo'"), e.getMessage());
        assertTrue(e.getMessage().contains("roundrobin"), e.getMessage());
        assertEquals(List.of(), engine.calls);
    }

    @Test
    void newSettingsAndANewBalancerApplyToTheNextCommand() throws Exception {
        FakeBalancer other = new FakeBalancer();
        scale.update(ScaleOutSettings.defaults(Set.of("qemu:demo", "qemu:db"), "/run/other.sock"), other);
        assertTrue(scale.isReadOnly(DomainId.parse("qemu:db")));
        scale.scale(DEMO, 1);
        assertEquals(List.of("add demo/p1 10.78.1.1:7000"), other.calls);
        assertEquals(List.of(), balancer.calls);
    }

    @Test
    void pairNamesAreRecognised() {
        ScaleOutSettings s = scale.settings();
        assertEquals(new ScaleOutSettings.PairRef(DEMO, 1), s.pairOf(DEMO));
        assertEquals(new ScaleOutSettings.PairRef(DEMO, 12), s.pairOf(DomainId.parse("qemu:demo-p12")));
        assertEquals(null, s.pairOf(DomainId.parse("qemu:demo-p1")));
        assertEquals(null, s.pairOf(DomainId.parse("qemu:demo-px")));
        assertEquals(null, s.pairOf(DomainId.parse("sim:demo-p2")));
        assertEquals(null, s.pairOf(DomainId.parse("qemu:other-p2")));
    }

    @Test
    void settingsRefuseBadPatterns() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new ScaleOutSettings(
                Set.of(), "/x", "{name}", "{name}-copy", "rp{pair}", "10.78.{pair}.1:7000", List.of(), 4,
                Duration.ZERO, Duration.ofMinutes(1)));
        assertTrue(e.getMessage().contains("{pair}"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new ScaleOutSettings(Set.of(), "/x", "{domain}",
                "{name}-p{pair}", "rp{pair}", "10.78.{pair}.1:7000", List.of(), 4, Duration.ZERO,
                Duration.ofMinutes(1)));
        assertTrue(e.getMessage().contains("uses {domain}"), e.getMessage());
    }

    /** An engine whose forks become PROTECTED primaries at once. */
    private final class FakeEngine implements ReplicationEngine {

        final List<String> calls = new CopyOnWriteArrayList<>();
        final Map<String, ProtectionStatus> rows = new TreeMap<>();
        final List<Consumer<Alarm>> listeners = new CopyOnWriteArrayList<>();

        void raise(Alarm a) {
            listeners.forEach(l -> l.accept(a));
        }

        @Override
        public ProtectionStatus fork(DomainId domain, DomainId clone, Map<String, String> overrides,
                InetSocketAddress backup) {
            calls.add("fork " + domain + " " + clone + " " + overrides + " " + backup.getHostString() + ":"
                    + backup.getPort());
            ProtectionStatus s = new ProtectionStatus(clone.toString(), Role.PRIMARY, ProtectionState.PROTECTED, 1,
                    25, 0, 0, 0, backup.toString(), "");
            rows.put(clone.toString(), s);
            return s;
        }

        @Override
        public void retire(DomainId domain) {
            calls.add("retire " + domain);
            rows.remove(domain.toString());
        }

        @Override
        public List<ProtectionStatus> status() {
            balancer.lastStatus = new ArrayList<>(rows.values());
            return new ArrayList<>(rows.values());
        }

        @Override
        public void addAlarmListener(Consumer<Alarm> listener) {
            listeners.add(listener);
        }

        @Override
        public void removeAlarmListener(Consumer<Alarm> listener) {
            listeners.remove(listener);
        }

        @Override
        public ProtectionStatus protect(ProtectRequest request) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void unprotect(DomainId domain) {
            throw new UnsupportedOperationException();
        }

        @Override
        public ProtectionStatus failover(DomainId domain) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void setInterval(DomainId domain, int intervalMs) {
            throw new UnsupportedOperationException();
        }

        @Override
        public List<EpochStats> epochs(DomainId domain, int limit) {
            return List.of();
        }

        @Override
        public List<OutputStatus> outputs() {
            return List.of();
        }

        @Override
        public List<String> domainNames() {
            return List.copyOf(rows.keySet());
        }

        @Override
        public List<Alarm> alarms(int limit) {
            return List.of();
        }
    }

    /** A balancer with one backend; it records what is asked, and the state of the pair being added. */
    private static final class FakeBalancer implements Balancer {

        final List<String> calls = new CopyOnWriteArrayList<>();
        final Map<String, Server> servers = new TreeMap<>();
        String backend = "demo";
        volatile List<ProtectionStatus> lastStatus = List.of();

        private void check(String b) throws IOException {
            if (!b.equals(backend)) {
                throw new IOException("Can't find backend.");
            }
        }

        @Override
        public List<Server> servers(String b) throws IOException {
            check(b);
            return new ArrayList<>(servers.values());
        }

        @Override
        public void add(String b, String server, String host, int port) throws IOException {
            check(b);
            // a pair joins only once its clone is PROTECTED: what the engine said last
            lastStatus.stream().filter(s -> s.domain().endsWith("-" + server))
                    .forEach(s -> calls.add("status " + s.domain() + " " + s.state()));
            calls.add("add " + b + "/" + server + " " + host + ":" + port);
            servers.put(server, new Server(server, host + ":" + port, "UP", 0));
        }

        @Override
        public void repoint(String b, String server, String host, int port) throws IOException {
            check(b);
            calls.add("repoint " + b + "/" + server + " " + host + ":" + port);
        }

        @Override
        public int remove(String b, String server, Duration drain) throws IOException {
            check(b);
            calls.add("remove " + b + "/" + server + " drain " + drain);
            servers.remove(server);
            return 0;
        }

        @Override
        public String describe() {
            return "fake";
        }
    }
}
