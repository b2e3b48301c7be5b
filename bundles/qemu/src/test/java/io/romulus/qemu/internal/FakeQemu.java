package io.romulus.qemu.internal;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.node.ObjectNode;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.qemu.internal.vm.VmDefinition;
import io.romulus.support.qmp.FakeQmpServer;

/**
 * A QEMU that runs no guest, for tests of what the binding does with QEMU processes (standbys, switchovers, hand-over)
 * without booting one: its "binary" is a script that writes QEMU's {@code -pidfile} and keeps QEMU's arguments on its
 * command line (so that {@link QemuProcess#reconnect} recognises it) and sleeps, so that being alive, SIGSTOP and
 * SIGKILL are real; beside it, a {@link FakeQmpServer} on the socket of each directory a QEMU is started in, which
 * answers {@code query-status} with {@code paused} (a device state loaded) and every other command with success,
 * unless {@link #refuse} names it.
 */
final class FakeQemu implements AutoCloseable {

    static final Map<String, String> OPTIONS = Map.of("memory", "32M", "dirty-mib", "1");

    private final Path binary;
    private final QemuSettings settings;
    private final GuestLauncher launcher;
    private final List<FakeQmpServer> servers = new ArrayList<>();
    private volatile String refused = "";

    /** Writes the fake binary into {@code run}, the run directory of the settings it makes. */
    FakeQemu(Path run) throws IOException {
        binary = run.resolve("fake-qemu");
        Files.writeString(binary, """
                #!/bin/sh
                # writes its -pidfile as QEMU does, and sleeps with QEMU's arguments on its command line
                prev=
                for a in "$@"; do
                    if [ "$prev" = -pidfile ]; then echo $$ > "$a"; fi
                    prev=$a
                done
                exec python3 -c 'import time; time.sleep(600)' "$@"
                """);
        if (!binary.toFile().setExecutable(true)) {
            throw new IOException("cannot make " + binary + " executable");
        }
        settings = new QemuSettings(binary.toString(), "tcg", run, run.resolve("vmlinuz"), run.resolve("initrd"),
                run.resolve("preload.so"), "compare", "", "", 1000);
        launcher = new GuestLauncher(() -> settings, () -> null, () -> null);
    }

    QemuSettings settings() {
        return settings;
    }

    GuestLauncher launcher() {
        return launcher;
    }

    /** The machine of guest {@code id} with {@link #OPTIONS}: no NIC, no disk. */
    VmDefinition vm(DomainId id) {
        return launcher.definitionOf(id, OPTIONS);
    }

    /** Serves QMP in {@code dir} (made if missing), where a QEMU is then started; returns the server. */
    FakeQmpServer serve(Path dir) throws IOException {
        Files.createDirectories(dir);
        FakeQmpServer s = FakeQmpServer.start(dir.resolve("qmp.sock"), this::answer);
        servers.add(s);
        return s;
    }

    /** Command {@code command} fails from now on. */
    void refuse(String command) {
        refused = command;
    }

    private List<String> answer(ObjectNode command, String id) throws IOException {
        String execute = command.path("execute").asText();
        if (execute.equals(refused)) {
            return List.of(FakeQmpServer.error(id, "GenericError", execute + " refused by the test"));
        }
        if (execute.equals("query-status")) {
            return List.of("{\"return\": {\"status\": \"paused\", \"running\": false}, \"id\": " + id + "}");
        }
        return List.of(FakeQmpServer.ok(id));
    }

    /** Starts the fake QEMU of guest {@code name} in {@code dir}, served there, with a RAM file of the guest's size. */
    QemuGuest start(String name, Path dir) throws Exception {
        serve(dir);
        DomainId id = new DomainId(QemuHypervisor.BINDING, name);
        VmDefinition vm = vm(id);
        try (var ram = new java.io.RandomAccessFile(dir.resolve("ram").toFile(), "rw")) {
            ram.setLength(vm.memoryBytes());
        }
        QemuProcess p = QemuProcess.startDetached(name, dir, vm, settings, false, List.of(), List.of());
        // up as a QEMU is once its QMP socket answers: its pid file written, the script become the sleep
        await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(dir.resolve("qemu.pid"))
                && ProcessHandle.of(p.pid()).flatMap(h -> h.info().arguments())
                        .map(a -> String.join(" ", a).contains("time.sleep(600)")).orElse(false));
        return new QemuGuest(id, p, vm, settings, List.of());
    }

    /** Waits until the standby thread of {@code replicas} has run every start queued so far (it runs them in order). */
    static void standbysStarted(QemuReplicas replicas) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        replicas.startStandby(done::countDown);
        if (!done.await(30, TimeUnit.SECONDS)) {
            throw new AssertionError("the standby thread is stuck");
        }
    }

    /** The state of process {@code pid} as {@code /proc/PID/stat} gives it ({@code S} sleeping, {@code T} stopped). */
    static char state(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        return stat.charAt(stat.lastIndexOf(')') + 2);
    }

    /** The fake QEMUs of this JVM that run: the script, or the sleep it became. */
    static List<ProcessHandle> running() {
        return ProcessHandle.current().descendants().filter(p -> p.isAlive() && p.info().arguments()
                .map(a -> String.join(" ", a)).filter(a -> a.contains("/fake-qemu ") || a.contains("time.sleep(600)"))
                .isPresent()).toList();
    }

    /** Whether this JVM has a fake QEMU that still runs. */
    boolean anyRuns() {
        return !running().isEmpty();
    }

    /** Kills every fake QEMU this JVM still runs and closes the QMP servers. */
    @Override
    public void close() throws IOException {
        running().forEach(p -> {
                    p.destroyForcibly();
                    try {
                        p.onExit().get(10, TimeUnit.SECONDS);
                    } catch (Exception e) {
                        // gone or not, the test is over
                    }
                });
        for (FakeQmpServer s : servers) {
            s.close();
        }
    }
}
