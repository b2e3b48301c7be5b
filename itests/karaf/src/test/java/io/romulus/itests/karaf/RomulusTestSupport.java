package io.romulus.itests.karaf;

import static org.ops4j.pax.exam.CoreOptions.systemProperty;
import static org.ops4j.pax.exam.CoreOptions.vmOption;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.configureConsole;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.editConfigurationFilePut;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.karafDistributionConfiguration;
import static org.ops4j.pax.exam.karaf.options.KarafDistributionOption.logLevel;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.security.PrivilegedActionException;
import java.security.PrivilegedExceptionAction;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import javax.inject.Inject;
import javax.security.auth.Subject;

import org.apache.karaf.jaas.boot.principal.RolePrincipal;
import org.apache.karaf.jaas.boot.principal.UserPrincipal;
import org.apache.karaf.shell.api.console.Session;
import org.apache.karaf.shell.api.console.SessionFactory;
import org.ops4j.pax.exam.Option;
import org.ops4j.pax.exam.karaf.options.LogLevelOption.LogLevel;
import org.osgi.framework.BundleContext;

/**
 * Boots OUR assembly (the tar.gz built by the reactor) with ports of its own, so that the tests never meet a node
 * started by hand. Pax Exam starts the JVM itself, without bin/setenv: the test user and the JVM options that setenv
 * would give are set here.
 */
public abstract class RomulusTestSupport {

    static final int SSH_PORT = 18101;
    static final int HTTP_PORT = 18181;
    static final int STREAM_PORT = 17480;
    static final int HEARTBEAT_PORT = 17490;
    static final String NODE_ID = "itest-node";
    static final String USER = "itest";
    /** Made up per run in the test JVM and handed to the container's JVM, where the probe reads it back. */
    static final String PASSWORD = System.getProperty("romulus.itest.password",
            "itest-" + Long.toHexString(new java.security.SecureRandom().nextLong()));

    @Inject
    protected BundleContext bundleContext;

    @Inject
    protected SessionFactory sessionFactory;

    protected static Option[] node(String... extra) {
        List<Option> options = new ArrayList<>(Arrays.asList(
                karafDistributionConfiguration()
                        // the reactor's own tar.gz, by path: `mvn verify` on a clean machine installs nothing
                        .frameworkUrl(assembly())
                        .unpackDirectory(new File("target/exam"))
                        .useDeployFolder(false),
                configureConsole().ignoreLocalConsole(),
                logLevel(LogLevel.WARN),
                vmOption("-XX:MaxDirectMemorySize=1g"),
                systemProperty("romulus.itest.password").value(PASSWORD),
                editConfigurationFilePut("etc/org.apache.karaf.shell.cfg", "sshPort", Integer.toString(SSH_PORT)),
                editConfigurationFilePut("etc/org.ops4j.pax.web.cfg", "org.osgi.service.http.port",
                        Integer.toString(HTTP_PORT)),
                editConfigurationFilePut("etc/org.apache.karaf.management.cfg", "rmiRegistryPort", "11099"),
                editConfigurationFilePut("etc/org.apache.karaf.management.cfg", "rmiServerPort", "44445"),
                editConfigurationFilePut("etc/io.romulus.transport.mina.cfg", "listen.port",
                        Integer.toString(STREAM_PORT)),
                editConfigurationFilePut("etc/io.romulus.node.cfg", "node.id", NODE_ID),
                editConfigurationFilePut("etc/io.romulus.detector.cfg", "listen.address", "127.0.0.1"),
                editConfigurationFilePut("etc/io.romulus.detector.cfg", "listen.port",
                        Integer.toString(HEARTBEAT_PORT)),
                editConfigurationFilePut("etc/users.properties", USER, PASSWORD + ",_g_:admingroup"),
                editConfigurationFilePut("etc/users.properties", "_g_:admingroup",
                        "group,admin,manager,viewer,systembundles,ssh")));
        for (int i = 0; i + 1 < extra.length; i += 2) {
            options.add(editConfigurationFilePut("etc/org.apache.karaf.features.cfg", extra[i], extra[i + 1]));
        }
        return options.toArray(new Option[0]);
    }

    private static String assembly() {
        String path = System.getProperty("romulus.assembly");
        if (path == null || !new File(path).isFile()) {
            throw new IllegalStateException("the Romulus assembly was not built: expected it at " + path
                    + " (run the itests through the reactor: mvn verify)");
        }
        return new File(path).toURI().toString();
    }

    /**
     * Runs a shell command as the console would for the test's admin user (the roles of admingroup: the romulus
     * command ACL lets no one without a role run anything) and returns what it printed.
     */
    protected String execute(String command) throws Exception {
        Subject admin = new Subject();
        admin.getPrincipals().add(new UserPrincipal(USER));
        for (String role : new String[] {"admin", "manager", "viewer"}) {
            admin.getPrincipals().add(new RolePrincipal(role));
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        Session session = sessionFactory.create(System.in, out, out);
        try {
            Subject.doAs(admin, (PrivilegedExceptionAction<Object>) () -> session.execute(command));
        } catch (PrivilegedActionException e) {
            throw e.getException();
        } finally {
            session.close();
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    protected static void await(String what, long seconds, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within " + seconds + " s: " + what);
            }
            Thread.sleep(100);
        }
    }
}
