package io.romulus.itests.karaf;

import java.io.IOException;

import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingServer;

/**
 * A real ZooKeeper server (curator-test's) in the test JVM, for the witness inside the container. Only the test JVM
 * loads this class, from a {@code @Configuration} method; the probe in the container never does.
 */
final class ZooKeeperForTests {

    private static TestingServer server;

    private ZooKeeperForTests() {
    }

    /** Starts the server once (a temporary data directory, a free port, a 200 ms tick) and returns its address. */
    static synchronized String connectString() throws Exception {
        if (server == null) {
            TestingServer s = new TestingServer(new InstanceSpec(null, -1, -1, -1, true, -1, 200, -1), true);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    s.close();
                } catch (IOException e) {
                    // the JVM is going away
                }
            }, "zookeeper-for-tests-stop"));
            server = s;
        }
        return "127.0.0.1:" + server.getPort();
    }
}
