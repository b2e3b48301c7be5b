package io.romulus.itests.karaf;

import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.editConfigurationFilePut;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.EnumSet;
import java.util.concurrent.TimeUnit;

import org.apache.sshd.client.SshClient;
import org.apache.sshd.client.channel.ChannelExec;
import org.apache.sshd.client.channel.ClientChannelEvent;
import org.apache.sshd.client.keyverifier.AcceptAllServerKeyVerifier;
import org.apache.sshd.client.session.ClientSession;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.ops4j.pax.exam.Configuration;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.OptionUtils;
import org.ops4j.pax.exam.junit.PaxExam;
import org.ops4j.pax.exam.spi.reactors.ExamReactorStrategy;
import org.ops4j.pax.exam.spi.reactors.PerClass;

/**
 * Who may do what, over the two ways in from outside: Karaf's SSH console
 * (etc/org.apache.karaf.command.acl.romulus.cfg) and Hawtio's Jolokia (etc/jmx.acl.io.romulus.*.cfg, through
 * Hawtio's RBAC restrictor). A viewer reads and is refused
 * every change (failover, unprotect, the interval, protect, scale); a manager tunes the interval and is refused a
 * failover; an admin is refused nothing. The domain {@code sim:acl} does not exist: a call that gets through fails on
 * the domain, one that is refused never reaches the engine.
 */
@RunWith(PaxExam.class)
@ExamReactorStrategy(PerClass.class)
public class AccessControlIT extends RomulusTestSupport {

    private static final String VIEWER = "itest-viewer";
    private static final String MANAGER = "itest-manager";
    private static final String DOMAIN = "sim:acl";
    private static final String ENGINE = "/hawtio/jolokia/exec/io.romulus:type=Engine,name=engine/";

    @Configuration
    public Option[] config() {
        // the groups an operator would define (etc/org.apache.karaf.command.acl.romulus.cfg); users of this test only
        return OptionUtils.combine(node(),
                editConfigurationFilePut("etc/users.properties", "_g_:viewergroup", "group,viewer,ssh"),
                editConfigurationFilePut("etc/users.properties", "_g_:managergroup", "group,manager,viewer,ssh"),
                editConfigurationFilePut("etc/users.properties", VIEWER, PASSWORD + ",_g_:viewergroup"),
                editConfigurationFilePut("etc/users.properties", MANAGER, PASSWORD + ",_g_:managergroup"));
    }

    @Test
    public void overSshAViewerShowsAManagerTunesAndOnlyAnAdminChangesWhatRuns() throws Exception {
        // the admin sees the romulus commands: from here on, "not found" for another user is the ACL's doing
        await("romulus:status over SSH", 60, () -> quietly(() -> ssh(USER, "romulus:status"))
                .contains("No domain is protected on this node."));

        String out = ssh(VIEWER, "romulus:status --alarms");
        assertTrue(out, out.contains("No domain is protected on this node."));
        out = ssh(VIEWER, "romulus:epochs " + DOMAIN);
        assertFalse(out, refused(out));
        out = ssh(VIEWER, "romulus:scale");
        assertFalse(out, refused(out));
        for (String change : new String[] {"romulus:failover " + DOMAIN, "romulus:switchover " + DOMAIN,
                "romulus:unprotect " + DOMAIN, "romulus:interval " + DOMAIN + " 40",
                "romulus:protect " + DOMAIN + " --peer 127.0.0.1:1",
                "romulus:scale " + DOMAIN + " --pairs 2"}) {
            out = ssh(VIEWER, change);
            assertTrue(change + " by a viewer: " + out, refused(out));
        }

        out = ssh(MANAGER, "romulus:interval " + DOMAIN + " 40");
        assertFalse(out, refused(out));
        out = ssh(MANAGER, "romulus:failover " + DOMAIN);
        assertTrue(out, refused(out));
        out = ssh(MANAGER, "romulus:switchover " + DOMAIN);
        assertTrue(out, refused(out));

        for (String change : new String[] {"romulus:failover " + DOMAIN, "romulus:switchover " + DOMAIN,
                "romulus:unprotect " + DOMAIN, "romulus:interval " + DOMAIN + " 40"}) {
            out = ssh(USER, change);
            assertFalse(change + " by an admin: " + out, refused(out));
        }
    }

    @Test
    public void overJolokiaAViewerReadsAManagerTunesAndOnlyAnAdminChangesWhatRuns() throws Exception {
        await("Hawtio's Jolokia", 90, () -> quietly(() -> jolokia(
                "/hawtio/jolokia/read/io.romulus:type=Engine,name=engine/ProtectedDomains", USER))
                .contains("\"status\":200"));

        String out = jolokia("/hawtio/jolokia/read/io.romulus:type=Engine,name=engine/ProtectedDomains", VIEWER);
        assertTrue(out, out.contains("\"value\":0") && out.contains("\"status\":200"));
        out = jolokia("/hawtio/jolokia/read/io.romulus:type=Engine,name=engine/Alarms", VIEWER);
        assertTrue(out, out.contains("\"status\":200"));
        out = jolokia("/hawtio/jolokia/read/io.romulus:type=Detector,name=detector/NodeId", VIEWER);
        assertTrue(out, out.contains("\"value\":\"" + NODE_ID + "\"") && out.contains("\"status\":200"));
        out = jolokia(ENGINE + "epochs/" + DOMAIN + "/5", VIEWER);
        assertFalse(out, forbidden(out));
        for (String change : new String[] {"failover/" + DOMAIN, "switchover/" + DOMAIN, "unprotect/" + DOMAIN,
                "setInterval/" + DOMAIN + "/40", "protect/" + DOMAIN + "/127.0.0.1:1/40/"}) {
            out = jolokia(ENGINE + change, VIEWER);
            assertTrue(change + " by a viewer: " + out, forbidden(out));
        }
        out = jolokia("/hawtio/jolokia/exec/io.romulus:type=ScaleOut,name=scaleout/scale/" + DOMAIN + "/2", VIEWER);
        assertTrue("scale by a viewer: " + out, forbidden(out));

        out = jolokia(ENGINE + "setInterval/" + DOMAIN + "/40", MANAGER);
        assertFalse(out, forbidden(out));
        out = jolokia(ENGINE + "failover/" + DOMAIN, MANAGER);
        assertTrue(out, forbidden(out));
        out = jolokia(ENGINE + "switchover/" + DOMAIN, MANAGER);
        assertTrue(out, forbidden(out));

        for (String change : new String[] {"failover/" + DOMAIN, "switchover/" + DOMAIN, "unprotect/" + DOMAIN,
                "setInterval/" + DOMAIN + "/40"}) {
            out = jolokia(ENGINE + change, USER);
            assertFalse(change + " by an admin: " + out, forbidden(out));
        }
    }

    /** What the console printed when Karaf's command ACL stopped a command. */
    private static boolean refused(String out) {
        return out.contains("Command not found") || out.contains("Insufficient credentials");
    }

    /** What Jolokia answers when the RBAC restrictor stopped a call. */
    private static boolean forbidden(String out) {
        return out.contains("\"status\":403");
    }

    /** Runs {@code command} over SSH as {@code user} and returns what it printed, errors included. */
    private static String ssh(String user, String command) throws IOException {
        try (SshClient client = SshClient.setUpDefaultClient()) {
            client.setServerKeyVerifier(AcceptAllServerKeyVerifier.INSTANCE);
            client.start();
            try (ClientSession session = client.connect(user, "127.0.0.1", SSH_PORT).verify(10, TimeUnit.SECONDS)
                    .getSession()) {
                session.addPasswordIdentity(PASSWORD);
                session.auth().verify(10, TimeUnit.SECONDS);
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                try (ChannelExec channel = session.createExecChannel(command)) {
                    channel.setOut(out);
                    channel.setErr(out);
                    channel.open().verify(10, TimeUnit.SECONDS);
                    channel.waitFor(EnumSet.of(ClientChannelEvent.CLOSED), TimeUnit.SECONDS.toMillis(30));
                }
                return out.toString(StandardCharsets.UTF_8);
            }
        }
    }

    /** Jolokia's JSON answer to a GET of {@code path} as {@code user}, whatever its HTTP status. */
    private static String jolokia(String path, String user) throws IOException {
        HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + HTTP_PORT + path).openConnection();
        c.setRequestProperty("Authorization", "Basic " + Base64.getEncoder()
                .encodeToString((user + ":" + PASSWORD).getBytes(StandardCharsets.UTF_8)));
        try {
            int code = c.getResponseCode();
            try (InputStream in = code < 400 ? c.getInputStream() : c.getErrorStream()) {
                return "HTTP " + code + " " + (in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8));
            }
        } finally {
            c.disconnect();
        }
    }

    @FunctionalInterface
    private interface Call {
        String get() throws IOException;
    }

    /** The answer of {@code call}, or its failure as text (while the node is still starting). */
    private static String quietly(Call call) {
        try {
            return call.get();
        } catch (IOException | RuntimeException e) {
            return e.toString();
        }
    }
}
