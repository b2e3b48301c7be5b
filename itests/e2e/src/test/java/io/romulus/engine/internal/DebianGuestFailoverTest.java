package io.romulus.engine.internal;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.itests.e2e.DebianGuest;

/**
 * A VM of a user's own: the Debian 12 image native/debian builds (its own boot loader, its own kernel, PostgreSQL 15,
 * Redis and nginx from Debian's packages, unmodified), described by a libvirt domain XML and protected with
 * {@code xml=FILE}, its 2 GiB disk served over NBD and replicated with every checkpoint. Real clients on the client
 * host work against it while the primary host dies in a chosen phase of an epoch (its QEMU killed, its link cut), and
 * the backup resumes it:
 * <ul>
 * <li>{@code pgbench} (TPC-B-like, 4 clients on their own connections) finishes with no aborted client and no failed
 *     transaction; afterwards {@code pgbench_history} has one row per transaction pgbench counted as processed, and
 *     the accounts' balances add up to the history's deltas: no committed transaction was lost or half-applied;</li>
 * <li>a download of nginx's 256 MiB file, under way at the kill, completes with the right SHA-256;</li>
 * <li>every Redis SET that was acknowledged is still there, with its value, on one held connection.</li>
 * </ul>
 * The guest boots once per crash phase (each phase is a new pair); every client runs across the same kill.
 */
class DebianGuestFailoverTest {

    private static final Logger LOG = LoggerFactory.getLogger(DebianGuestFailoverTest.class);
    private static final DomainId GUEST = DomainId.parse("qemu:pg");
    private static final String IP = NetLab.GUEST_IP;
    private static final Pattern PROCESSED = Pattern.compile("number of transactions actually processed: (\\d+)");
    private static final Pattern FAILED = Pattern.compile("number of failed transactions: (\\d+)");

    @TempDir
    Path dir;

    private DiskFailoverRig rig;
    private NetLab lab;
    private QemuPair nodes;
    private final List<Process> clients = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (Process p : clients) {
            p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
        if (rig != null) {
            rig.close();
        }
    }

    static Path debianDir() {
        try {
            return DebianGuest.directory(Path.of(System.getProperty("romulus.debian.dir",
                    "../../native/target/debian")));
        } catch (IllegalStateException e) {
            throw new AssertionError(e.getMessage(), e);
        }
    }

    /** The user's own VM: native/debian/domain.xml with {@code image} as its disk. */
    static String domainXml(Path image) throws IOException {
        return DebianGuest.domainXml(image);
    }

    private void hosts(PrimaryCrash crash) throws Exception {
        rig = new DiskFailoverRig(dir, dir, 4096, crash);
        lab = rig.lab;
        nodes = rig.nodes;
    }

    private static String script(String name) {
        return Path.of(System.getProperty("romulus.scripts", "../../scripts")).resolve(name).toAbsolutePath()
                .normalize().toString();
    }

    @ParameterizedTest
    @EnumSource(value = PrimaryCrash.Phase.class, names = {"RUN", "TRANSFER", "BEFORE_ACK"})
    void realClientsCarryOnAcrossTheDeathOfThePrimaryHost(PrimaryCrash.Phase phase) throws Exception {
        Path debian = debianDir();
        String bigSha = Files.readString(debian.resolve("big.sha256")).trim().split("\\s+")[0];
        // the user's image: a copy, since the guest writes to it
        Path image = dir.resolve("pg.img");
        run(List.of("cp", "--sparse=always", debian.resolve("debian.img").toString(), image.toString()), 120);
        Path xml = dir.resolve("pg.xml");
        Files.writeString(xml, domainXml(image));

        PrimaryCrash crash = new PrimaryCrash(phase, () -> {
            nodes.primaryQemu.destroyAll(); // the primary host dies: its guest and its link go
            rig.link.cut();
        });
        hosts(crash);
        long start = System.nanoTime();
        nodes.primary.protect(new ProtectRequest(GUEST, rig.link.address(), 25, Map.of("xml", xml.toString())));
        Path console = nodes.run.resolve("a").resolve(GUEST.name()).resolve("console.log");
        await().atMost(Duration.ofMinutes(5)).until(() -> Files.exists(console)
                && Files.readString(console, StandardCharsets.ISO_8859_1).contains("ROMULUS-DEBIAN-READY"));
        long ready = System.nanoTime();
        await().atMost(Duration.ofMinutes(5)).until(() -> nodes.row(nodes.primary, Role.PRIMARY).state()
                == ProtectionState.PROTECTED);
        long protectedAt = System.nanoTime();

        String init = client(List.of("pgbench", "-i", "-s", "1", "-h", IP, "-U", "bench", "bench"), 300);
        assertTrue(init.contains("done"), init);

        // the clients, all across the same kill
        Process pgbench = start(List.of("pgbench", "-h", IP, "-U", "bench", "-c", "4", "-j", "2", "-T", "45", "-P",
                "5", "--max-tries=1", "bench"));
        // paced (about 45 s for 256 MiB), so that it is surely under way when the primary dies
        Process download = start(List.of("sh", "-c", "curl -sS --fail --limit-rate 6M --max-time 600 http://" + IP
                + "/big.bin | sha256sum"));
        Process redis = start(List.of("python3", "-u", script("redis-client.py"), IP, "6379", "write", "0.02"));
        Map<Long, String> acked = new ConcurrentHashMap<>();
        List<String> redisErrors = new CopyOnWriteArrayList<>();
        readRedis(redis, acked, redisErrors);
        await().atMost(Duration.ofSeconds(60)).until(() -> acked.size() >= 50 || !redisErrors.isEmpty());
        Thread.sleep(10_000);
        if (!download.isAlive()) {
            throw new AssertionError("the download ended before the kill: " + finish(download, 5));
        }

        // the primary host dies, in the chosen phase of an epoch
        crash.arm();
        if (phase == PrimaryCrash.Phase.RUN) {
            crash.fire(-1);
        }
        await().atMost(Duration.ofSeconds(10)).until(crash::fired);
        long killed = System.nanoTime();
        int ackedAtKill = acked.size();
        await().atMost(Duration.ofSeconds(10)).until(() -> nodes.row(nodes.backup, Role.BACKUP).state()
                == ProtectionState.STANDBY);
        assertEquals(ProtectionState.ACTIVATED, nodes.backup.failover(GUEST).state());
        long activated = System.nanoTime();

        // pgbench: no aborted client, no failed transaction, and the database agrees with what it counted
        String bench = finish(pgbench, 180);
        Matcher processed = PROCESSED.matcher(bench);
        assertTrue(processed.find(), bench);
        Matcher failed = FAILED.matcher(bench);
        assertTrue(failed.find() && failed.group(1).equals("0"), "no failed transaction: " + bench);
        assertEquals(0, pgbench.exitValue(), "pgbench ends well (no aborted client): " + bench);
        long transactions = Long.parseLong(processed.group(1));
        String sums = client(List.of("psql", "-h", IP, "-U", "bench", "-At", "-c", "select (select count(*) from "
                + "pgbench_history) || ' ' || (select sum(abalance) from pgbench_accounts) || ' ' || (select "
                + "coalesce(sum(delta), 0) from pgbench_history)", "bench"), 60).trim();
        String[] s = sums.split(" ");
        assertEquals(transactions, Long.parseLong(s[0]), "one history row per transaction pgbench was told committed");
        assertEquals(s[2], s[1], "the accounts' balances add up to the history's deltas");

        // the download completes, intact
        String sha = finish(download, 600);
        assertEquals(0, download.exitValue(), sha);
        assertEquals(bigSha, sha.trim().split("\\s+")[0], "the 256 MiB file arrived intact across the failover");

        // every acknowledged Redis write is there, on the connection held across the failover
        await().atMost(Duration.ofSeconds(60)).until(() -> acked.size() >= ackedAtKill + 50
                || !redisErrors.isEmpty());
        assertEquals(List.of(), redisErrors, "the Redis client's connection survived");
        redis.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        long last = acked.keySet().stream().mapToLong(Long::longValue).max().orElseThrow();
        String values = client(List.of("python3", script("redis-client.py"), IP, "6379", "check",
                Long.toString(last)), 120);
        assertTrue(values.contains("done"), values);
        for (String line : values.split("\n")) {
            String[] f = line.trim().split(" ");
            if (f.length == 3 && f[0].equals("value")) {
                String want = acked.get(Long.parseLong(f[1]));
                if (want != null) {
                    assertEquals(want, f[2], "acknowledged SET romulus:" + f[1] + " survived the failover");
                }
            }
        }

        LOG.info("DEBIAN FAILOVER {} (epoch {}): boot to ready {} s, to PROTECTED {} s (initial copy of 512 MiB RAM "
                + "and a 2 GiB disk); kill to activated {} ms; pgbench {} transactions, 0 failed; {} Redis SETs "
                + "acknowledged ({} before the kill), all there; download intact", phase, crash.firedInEpoch,
                seconds(ready - start), seconds(protectedAt - start), TimeUnit.NANOSECONDS.toMillis(activated - killed),
                transactions, acked.size(), ackedAtKill);
    }

    private static long seconds(long nanos) {
        return TimeUnit.NANOSECONDS.toSeconds(nanos);
    }

    private Process start(List<String> command) throws IOException {
        Process p = lab.inClient(command);
        clients.add(p);
        return p;
    }

    /** Runs a command on the client host to its end; it must succeed. Returns its output. */
    private String client(List<String> command, int timeoutS) throws Exception {
        Process p = start(command);
        String out = finish(p, timeoutS);
        assertEquals(0, p.exitValue(), String.join(" ", command) + ": " + out);
        return out;
    }

    private static String finish(Process p, int timeoutS) throws Exception {
        StringBuilder out = new StringBuilder();
        Thread reader = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null;) {
                    synchronized (out) {
                        out.append(line).append('\n');
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        reader.start();
        if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            reader.join(5000);
            throw new AssertionError("still running after " + timeoutS + " s: " + out);
        }
        reader.join(10_000);
        synchronized (out) {
            return out.toString();
        }
    }

    private static void readRedis(Process p, Map<Long, String> acked, List<String> errors) {
        Thread t = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null;) {
                    if (line.startsWith("acked ")) {
                        String[] f = line.split(" ");
                        acked.put(Long.parseLong(f[1]), f[2]);
                    } else if (line.startsWith("error")) {
                        errors.add(line);
                    }
                }
            } catch (IOException e) {
                errors.add("reading the Redis client: " + e);
            }
        }, "redis-client");
        t.setDaemon(true);
        t.start();
    }

    private static void run(List<String> command, int timeoutS) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = finish(p, timeoutS);
        assertEquals(0, p.exitValue(), String.join(" ", command) + ": " + out);
    }
}
