package io.romulus.witness.zookeeper.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ZooKeeperWitnessSettingsTest {

    /** The configuration as ConfigAdmin would give it: the defaults, overridden by {@code values}. */
    private static ZooKeeperWitnessConfig config(Map<String, Object> values) {
        return (ZooKeeperWitnessConfig) Proxy.newProxyInstance(ZooKeeperWitnessConfig.class.getClassLoader(),
                new Class<?>[] {ZooKeeperWitnessConfig.class},
                (proxy, method, args) -> values.containsKey(method.getName()) ? values.get(method.getName())
                        : method.getDefaultValue());
    }

    private static String rejected(Map<String, Object> values) {
        return assertThrows(IllegalArgumentException.class, () -> ZooKeeperWitnessSettings.of(config(values)))
                .getMessage();
    }

    @Test
    void defaultsFromTheConfiguration() {
        ZooKeeperWitnessSettings s = ZooKeeperWitnessSettings.of(config(Map.of("connect_string", " zk1:2181 ")));
        assertEquals(ZooKeeperWitnessSettings.defaults("zk1:2181"), s);
        assertEquals("zk1:2181", s.connectString());
        assertEquals("romulus", s.namespace());
        assertEquals(4000, s.sessionTimeoutMs());
        assertEquals(2000, s.connectionTimeoutMs());
        assertEquals(1000, s.operationTimeoutMs());
    }

    @Test
    void theConnectStringIsRequired() {
        String m = rejected(Map.of());
        assertTrue(m.contains("connect.string must not be empty"), m);
        m = rejected(Map.of("connect_string", "  "));
        assertTrue(m.contains("connect.string must not be empty"), m);
        m = rejected(Map.of("connect_string", "zk1:2181, zk2:2181"));
        assertTrue(m.contains("connect.string"), m);
    }

    @Test
    void namespacesAreZnodePaths() {
        ZooKeeperWitnessSettings s = ZooKeeperWitnessSettings.defaults("zk:2181");
        assertEquals("romulus/site-a", s.withNamespace("/romulus/site-a/").namespace());
        for (String bad : new String[] {"", " ", "/", "a//b", "a b", "..", "a/./b", "a/../b"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> s.withNamespace(bad),
                    bad);
            assertTrue(e.getMessage().contains("namespace"), e.getMessage());
        }
        assertEquals("a.b", s.withNamespace("a.b").namespace());
    }

    @Test
    void timeoutsArePositive() {
        String m = rejected(Map.of("connect_string", "zk:2181", "session_timeout_ms", 0));
        assertTrue(m.contains("session.timeout.ms"), m);
        m = rejected(Map.of("connect_string", "zk:2181", "connection_timeout_ms", -1));
        assertTrue(m.contains("connection.timeout.ms"), m);
        m = rejected(Map.of("connect_string", "zk:2181", "operation_timeout_ms", 0L));
        assertTrue(m.contains("operation.timeout.ms"), m);
    }

    @Test
    void domainNamesBecomeOneZnodeNameEach() {
        assertEquals("/leases/web-1_a", LeaseNames.path("web-1_a"));
        assertEquals("/leases/a%2Fb", LeaseNames.path("a/b"));
        assertEquals("%2E%2E", LeaseNames.escape(".."));
        assertEquals("d%C3%A9j%C3%A0", LeaseNames.escape("déjà"));
        // no two domains share a lease
        assertNotEquals(LeaseNames.escape("a/b"), LeaseNames.escape("a%2Fb"));
        assertThrows(IllegalArgumentException.class, () -> LeaseNames.escape(""));
    }

    @Test
    void theZooKeeperPasswordComesFromAFileNextToKaraf(@TempDir Path home) throws Exception {
        Files.createDirectories(home.resolve("etc"));
        Files.writeString(home.resolve("etc/zk.password"), "s3cret\n", StandardCharsets.UTF_8);
        ZooKeeperWitnessSettings s = ZooKeeperWitnessSettings.of(config(Map.of("connect_string", "zk:2181",
                "auth_user", "romulus", "auth_password_file", "etc/zk.password")), home);
        DigestCredentials c = s.credentials().orElseThrow();
        assertEquals(new DigestCredentials("romulus", "s3cret"), c);
        // the password shows nowhere the settings are printed
        assertFalse(s.toString().contains("s3cret"), s.toString());
        // the ACL names the identity as ZooKeeper's own digest provider does
        assertEquals(DigestAuthenticationProvider.generateDigest("romulus:s3cret"), c.digestId());
        // an absolute path, CRLF
        Path elsewhere = home.resolve("other.pw");
        Files.writeString(elsewhere, "p w\r\nsecond line\n", StandardCharsets.UTF_8);
        assertEquals("p w", ZooKeeperWitnessSettings.of(config(Map.of("connect_string", "zk:2181", "auth_user",
                "romulus", "auth_password_file", elsewhere.toString())), Path.of("/nowhere")).credentials()
                .orElseThrow().password());
        // no credentials: none
        assertEquals(Optional.empty(), ZooKeeperWitnessSettings.of(config(Map.of("connect_string", "zk:2181")), home)
                .credentials());
    }

    @Test
    void credentialsAreBothOrNeitherAndReadable(@TempDir Path home) throws Exception {
        String m = rejected(Map.of("connect_string", "zk:2181", "auth_user", "romulus"));
        assertTrue(m.contains("auth.user and auth.password.file"), m);
        m = rejected(Map.of("connect_string", "zk:2181", "auth_password_file", "etc/zk.password"));
        assertTrue(m.contains("auth.user and auth.password.file"), m);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ZooKeeperWitnessSettings.of(
                config(Map.of("connect_string", "zk:2181", "auth_user", "romulus", "auth_password_file", "missing")),
                home));
        assertTrue(e.getMessage().contains(home.resolve("missing").toString()), e.getMessage());
        Files.writeString(home.resolve("empty"), "\n", StandardCharsets.UTF_8);
        e = assertThrows(IllegalArgumentException.class, () -> ZooKeeperWitnessSettings.of(config(Map.of(
                "connect_string", "zk:2181", "auth_user", "romulus", "auth_password_file", "empty")), home));
        assertTrue(e.getMessage().contains("is empty"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new DigestCredentials("a:b", "x"));
        assertTrue(e.getMessage().contains("auth.user"), e.getMessage());
    }
}
