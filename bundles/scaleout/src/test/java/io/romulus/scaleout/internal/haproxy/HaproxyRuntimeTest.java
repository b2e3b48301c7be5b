package io.romulus.scaleout.internal.haproxy;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

import io.romulus.scaleout.internal.haproxy.HaproxyRuntime.Removal;
import io.romulus.scaleout.internal.haproxy.HaproxyRuntime.State;

/**
 * {@link HaproxyRuntime} against a real HAProxy (Debian 12's 2.6) balancing to small
 * in-test servers A, B and C that greet each connection with their name.
 */
class HaproxyRuntimeTest {

    @TempDir
    Path dir;

    private NameServer a;
    private NameServer b;
    private NameServer c;
    private Haproxy haproxy;
    private HaproxyRuntime runtime;

    @BeforeEach
    void start() throws Exception {
        a = new NameServer("A");
        b = new NameServer("B");
        c = new NameServer("C");
        haproxy = new Haproxy(dir, a.port());
        runtime = haproxy.admin();
    }

    @AfterEach
    void stop() throws Exception {
        for (NameServer s : new NameServer[] {a, b, c}) {
            if (s != null) {
                s.close();
            }
        }
        if (haproxy != null) {
            long pid = haproxy.pid();
            haproxy.close();
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "haproxy " + pid + " left");
        }
    }

    /** Which servers answer n new connections through the frontend. */
    private Set<String> serversOf(int connections) throws IOException {
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < connections; i++) {
            seen.add(Client.serverOfNewConnection(haproxy.frontendPort));
        }
        return seen;
    }

    private Optional<Server> server(String name) throws IOException {
        return runtime.servers("pairs").stream().filter(s -> s.name().equals(name)).findFirst();
    }

    /** Adds s2 at B and enables it. */
    private void addAndEnableB() throws IOException {
        runtime.addServer("pairs", "s2", "127.0.0.1", b.port(), "");
        runtime.enableServer("pairs", "s2");
    }

    /** Two connections through the frontend while s1 (A) and s2 (B) are up: roundrobin puts one on each. */
    private record OnAAndB(Client onA, Client onB) implements AutoCloseable {
        @Override
        public void close() throws IOException {
            try {
                onA.close();
            } finally {
                onB.close();
            }
        }
    }

    private OnAAndB connectToAAndB() throws IOException {
        Client first = new Client(haproxy.frontendPort);
        Client second = new Client(haproxy.frontendPort);
        boolean firstOnA = first.server().equals("A");
        OnAAndB both = new OnAAndB(firstOnA ? first : second, firstOnA ? second : first);
        assertEquals("A", both.onA().server());
        assertEquals("B", both.onB().server());
        return both;
    }

    @Test
    void versionIsHaproxyAtLevelAdmin() throws IOException {
        assertTrue(runtime.version().startsWith("2."), runtime.version());
    }

    @Test
    void serversReportsTheStaticServer() throws IOException {
        List<Server> servers = runtime.servers("pairs");
        assertEquals(1, servers.size());
        Server s1 = servers.get(0);
        assertEquals("s1", s1.name());
        assertEquals("127.0.0.1", s1.address());
        assertEquals(a.port(), s1.port());
        assertEquals(Server.OperationalState.RUNNING, s1.operationalState());
        assertEquals(Server.Status.UP, s1.status());
        assertEquals("no check", s1.statusText());
        assertEquals(0, s1.sessions());
    }

    @Test
    void addedServerStartsInMaintenanceAndTakesConnectionsOnceEnabled() throws IOException {
        runtime.addServer("pairs", "s2", "127.0.0.1", b.port(), "");
        Server added = server("s2").orElseThrow();
        assertEquals(Server.Status.MAINT, added.status());
        assertTrue(added.inMaintenance());
        assertEquals(Set.of("A"), serversOf(4));

        runtime.enableServer("pairs", "s2");
        assertEquals(Server.Status.UP, server("s2").orElseThrow().status());
        assertEquals(Set.of("A", "B"), serversOf(4));

        try (OnAAndB both = connectToAAndB()) {
            assertEquals("B up", both.onB().ask("up"));
            assertEquals(1, runtime.sessions("pairs", "s2"));
            assertEquals(1, server("s2").orElseThrow().sessions());
        }
    }

    @Test
    void drainAndMaintStopNewConnectionsButKeepEstablishedOnes() throws IOException {
        addAndEnableB();
        try (OnAAndB both = connectToAAndB()) {
            Client onB = both.onB();

            runtime.setState("pairs", "s2", State.DRAIN);
            assertEquals(Server.Status.DRAIN, server("s2").orElseThrow().status());
            assertEquals("DRAIN", server("s2").orElseThrow().statusText());
            assertEquals(Set.of("A"), serversOf(4));
            assertEquals("B still", onB.ask("still"));

            runtime.setState("pairs", "s2", State.READY);
            assertEquals(Set.of("A", "B"), serversOf(4));

            runtime.setState("pairs", "s2", State.MAINT);
            assertEquals(Server.Status.MAINT, server("s2").orElseThrow().status());
            assertEquals(Set.of("A"), serversOf(4));
            assertEquals("B there", onB.ask("there"));
        }
    }

    @Test
    void setAddressSendsNewConnectionsToTheNewAddress() throws IOException {
        addAndEnableB();
        runtime.setAddress("pairs", "s2", "127.0.0.1", c.port());
        assertEquals(c.port(), server("s2").orElseThrow().port());
        assertEquals(Set.of("A", "C"), serversOf(4));
        runtime.setAddress("pairs", "s2", "127.0.0.1", c.port()); // unchanged is no error
    }

    @Test
    void removeServerCutsOnlyItsOwnSessionsAfterTheDrainTimeout() throws IOException {
        addAndEnableB();
        try (OnAAndB both = connectToAAndB()) {
            Client onA = both.onA();
            Client onB = both.onB();

            Removal removal = runtime.removeServer("pairs", "s2", Duration.ofMillis(300));

            assertEquals(1, removal.sessionsCut());
            assertTrue(removal.drained().compareTo(Duration.ofMillis(300)) >= 0, removal.toString());
            assertTrue(server("s2").isEmpty());
            assertNull(onB.ask("cut?"), "the removed server's session is shut");
            assertEquals("A alive", onA.ask("alive"), "the other server's session is untouched");
            assertEquals(Set.of("A"), serversOf(4));
        }
    }

    @Test
    void removeServerWaitsWhileItsSessionsEndByThemselves() throws IOException {
        addAndEnableB();
        try (OnAAndB both = connectToAAndB()) {
            Client onA = both.onA();
            Client onB = both.onB();
            new Thread(() -> {
                try {
                    Thread.sleep(200);
                    onB.close();
                } catch (IOException | InterruptedException e) {
                    // the assertions below notice
                }
            }).start();

            Removal removal = runtime.removeServer("pairs", "s2", Duration.ofSeconds(5));

            assertEquals(0, removal.sessionsCut());
            assertTrue(removal.drained().compareTo(Duration.ofMillis(150)) > 0, removal.toString());
            assertTrue(removal.drained().compareTo(Duration.ofSeconds(2)) < 0, removal.toString());
            assertTrue(server("s2").isEmpty());
            assertEquals("A ok", onA.ask("ok"));
        }
    }

    @Test
    void deleteRefusesAServerWithConnectionsUntilTheyAreShut() throws IOException {
        addAndEnableB();
        runtime.setState("pairs", "s1", State.MAINT);
        try (Client onB = new Client(haproxy.frontendPort)) {
            assertEquals("B", onB.server());
            runtime.setState("pairs", "s2", State.MAINT);
            assertEquals("Server still has connections attached to it, cannot remove it.",
                    assertThrows(HaproxyException.class, () -> runtime.deleteServer("pairs", "s2")).answer());
            runtime.shutdownSessions("pairs", "s2");
            await().atMost(Duration.ofSeconds(2)).until(() -> runtime.sessions("pairs", "s2") == 0);
            runtime.deleteServer("pairs", "s2");
            assertNull(onB.ask("cut?"));
        }
    }

    @Test
    void healthChecksStartWithEnableHealth() throws IOException {
        int dead = Haproxy.freePort();
        runtime.addServer("pairs", "s3", "127.0.0.1", dead, "check inter 100 rise 1 fall 1");
        runtime.enableServer("pairs", "s3");
        runtime.enableHealth("pairs", "s3");
        await().atMost(Duration.ofSeconds(3)).until(() -> server("s3").orElseThrow().status() == Server.Status.DOWN);
        assertEquals(Set.of("A"), serversOf(4));

        runtime.addServer("pairs", "s4", "127.0.0.1", b.port(), "");
        HaproxyException e = assertThrows(HaproxyException.class, () -> runtime.enableHealth("pairs", "s4"));
        assertEquals("Health check was not configured on this server, cannot enable.", e.answer());
    }

    @Test
    void refusalsCarryHaproxysOwnMessage() throws IOException {
        assertEquals("Can't find backend.",
                assertThrows(HaproxyException.class, () -> runtime.servers("nosuch")).answer());
        assertEquals("No such backend.", assertThrows(HaproxyException.class,
                () -> runtime.addServer("nosuch", "x", "127.0.0.1", b.port(), "")).answer());
        assertEquals("No such server.", assertThrows(HaproxyException.class,
                () -> runtime.setState("pairs", "nosuch", State.DRAIN)).answer());
        assertEquals("No such server.", assertThrows(HaproxyException.class,
                () -> runtime.sessions("pairs", "nosuch")).answer());

        HaproxyException notInMaint = assertThrows(HaproxyException.class, () -> runtime.deleteServer("pairs", "s1"));
        assertEquals("Only servers in maintenance mode can be deleted.", notInMaint.answer());
        assertTrue(notInMaint.getMessage().contains("`del server pairs/s1`"), notInMaint.getMessage());

        runtime.addServer("pairs", "s2", "127.0.0.1", b.port(), "");
        assertEquals("Already exists a server with the same name in backend.", assertThrows(HaproxyException.class,
                () -> runtime.addServer("pairs", "s2", "127.0.0.1", b.port(), "")).answer());
        assertEquals("unknown keyword 'bogus'.", assertThrows(HaproxyException.class,
                () -> runtime.addServer("pairs", "s3", "127.0.0.1", b.port(), "bogus")).answer());
        assertEquals("'cookie' option is not accepted for dynamic server", assertThrows(HaproxyException.class,
                () -> runtime.addServer("pairs", "s3", "127.0.0.1", b.port(), "cookie x")).answer());
        assertEquals("Backend must use a dynamic load balancing to support dynamic servers.",
                assertThrows(HaproxyException.class,
                        () -> runtime.addServer("hashed", "x", "127.0.0.1", b.port(), "")).answer());
        assertTrue(assertThrows(HaproxyException.class,
                () -> runtime.setAddress("pairs", "s2", "not-an-ip", 80)).answer().startsWith("Invalid addr 'not-an-ip'"));

        runtime.setState("pairs", "s2", State.MAINT);
        runtime.deleteServer("pairs", "s2");
        assertEquals("No such server.",
                assertThrows(HaproxyException.class, () -> runtime.deleteServer("pairs", "s2")).answer());
    }

    @Test
    void argumentsCannotSmuggleCommands() {
        assertThrows(IllegalArgumentException.class, () -> runtime.addServer("pairs", "s2", "127.0.0.1", 1,
                "check; del server pairs/s1"));
        assertThrows(IllegalArgumentException.class, () -> runtime.setState("pairs", "a b", State.MAINT));
        assertThrows(IllegalArgumentException.class, () -> runtime.deleteServer("pairs;x", "s1"));
        assertThrows(IllegalArgumentException.class, () -> runtime.command("show info\nshow stat"));
    }

    @Test
    void userLevelSocketIsReportedAsNotAdmin() {
        HaproxyRuntime user = new HaproxyRuntime(haproxy.userSocket.toString(), Duration.ofSeconds(2));
        HaproxyException e = assertThrows(HaproxyException.class, user::version);
        assertEquals("user", e.answer());
        assertTrue(e.getMessage().contains("level admin"), e.getMessage());

        HaproxyException denied = assertThrows(HaproxyException.class,
                () -> user.setState("pairs", "s1", State.DRAIN));
        assertEquals("Permission denied", denied.answer());
        assertTrue(denied.getMessage().contains("stats socket " + haproxy.userSocket + " level admin"),
                denied.getMessage());
    }

    @Test
    void tcpEndpointWorks() throws IOException {
        HaproxyRuntime tcp = new HaproxyRuntime("127.0.0.1:" + haproxy.tcpAdminPort, Duration.ofSeconds(2));
        assertEquals("tcp:127.0.0.1:" + haproxy.tcpAdminPort, tcp.endpoint());
        assertTrue(tcp.version().startsWith("2."));
        tcp.addServer("pairs", "s2", "127.0.0.1", b.port(), "");
        tcp.enableServer("pairs", "s2");
        assertEquals(List.of("s1", "s2"), tcp.servers("pairs").stream().map(Server::name).toList());
    }

    @Test
    void missingSocketSaysWhatIsWrong() {
        Path missing = dir.resolve("nothing.sock");
        HaproxyRuntime r = new HaproxyRuntime(missing.toString(), Duration.ofSeconds(1));
        IOException e = assertThrows(IOException.class, r::version);
        assertTrue(e.getMessage().contains("unix:" + missing), e.getMessage());
        assertTrue(e.getMessage().contains("is HAProxy running with `stats socket " + missing + " level admin`?"),
                e.getMessage());
    }

    @Test
    void closedTcpPortSaysWhatIsWrong() throws IOException {
        int port = Haproxy.freePort();
        IOException e = assertThrows(IOException.class,
                () -> new HaproxyRuntime("127.0.0.1:" + port, Duration.ofSeconds(1)).version());
        assertTrue(e.getMessage().contains("`stats socket ipv4@127.0.0.1:" + port + " level admin`"), e.getMessage());
    }

    @Test
    void silentSocketTimesOut() throws IOException {
        try (ServerSocket silent = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            HaproxyRuntime r = new HaproxyRuntime("127.0.0.1:" + silent.getLocalPort(), Duration.ofMillis(300));
            // never accepted: the kernel completes the handshake, nobody ever answers
            long start = System.nanoTime();
            IOException e = assertThrows(IOException.class, r::version);
            assertTrue(e.getMessage().contains("did not finish answering `show info` within 300 ms"), e.getMessage());
            assertTrue(Duration.ofNanos(System.nanoTime() - start).compareTo(Duration.ofSeconds(1)) < 0);
        }
    }

    @Test
    void badEndpointsAreRefusedClearly() {
        Duration t = Duration.ofSeconds(1);
        assertMessage("is empty", () -> new HaproxyRuntime(" ", t));
        assertMessage("neither an absolute path", () -> new HaproxyRuntime("admin.sock", t));
        assertMessage("port 'x' is not a number", () -> new HaproxyRuntime("localhost:x", t));
        assertMessage("port '0' is not a number", () -> new HaproxyRuntime("localhost:0", t));
        assertMessage("in brackets", () -> new HaproxyRuntime("::1:9999", t));
        assertMessage("no host", () -> new HaproxyRuntime(":9999", t));
        assertMessage("timeout must be positive", () -> new HaproxyRuntime("/run/haproxy/admin.sock", Duration.ZERO));
        assertEquals("tcp:[::1]:9999", new HaproxyRuntime("[::1]:9999", t).endpoint());
        assertEquals("unix:/run/haproxy/admin.sock", new HaproxyRuntime("/run/haproxy/admin.sock", t).endpoint());
    }

    private static void assertMessage(String part, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }

    @Test
    void csvKeepsQuotedCommas() {
        assertEquals(List.of("pairs", "s1", "a,b", "", "x\"y"), RuntimeReplies.csv("pairs,s1,\"a,b\",,\"x\"\"y\""));
    }
}
