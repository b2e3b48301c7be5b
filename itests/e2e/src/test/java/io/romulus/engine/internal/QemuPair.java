package io.romulus.engine.internal;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.Hypervisor;
import io.romulus.api.netbuf.OutputBufferProvider;
import io.romulus.api.transport.CheckpointTransport;
import io.romulus.qemu.internal.QemuHypervisor;
import io.romulus.qemu.internal.QemuSettings;
import io.romulus.transport.mina.internal.MinaCheckpointTransport;
import io.romulus.transport.mina.internal.TransportSettings;

/**
 * Two Romulus nodes in one JVM for QEMU guests: a primary engine and a backup engine, each with its own QEMU binding
 * (its own run directory, and optionally its own network namespace), joined by the real MINA stream on loopback.
 */
final class QemuPair implements AutoCloseable {

    final Path run = Path.of("/dev/shm", "romulus-e2e-" + ProcessHandle.current().pid());
    final QemuHypervisor primaryQemu;
    final QemuHypervisor backupQemu;
    final MinaCheckpointTransport primaryStream;
    final MinaCheckpointTransport backupStream;
    final Engine primary;
    final Engine backup;

    /**
     * @param primaryNetns the primary host's namespace ("" for none); the guest's tap joins its br0
     * @param backupNetns  the backup host's namespace ("" for none)
     * @param wrapPrimary  decorates the primary's binding (a witness), or identity
     * @param wrapBackup   decorates the backup's binding, or identity
     * @param output       the primary's output buffer provider, or null
     * @param wrapStream   decorates the primary's checkpoint transport (a fault injector), or identity
     */
    QemuPair(Path secretDir, String primaryNetns, String backupNetns, UnaryOperator<Hypervisor> wrapPrimary,
            UnaryOperator<Hypervisor> wrapBackup, OutputBufferProvider output,
            UnaryOperator<CheckpointTransport> wrapStream) throws Exception {
        primaryQemu = new QemuHypervisor(settings(run.resolve("a"), primaryNetns));
        backupQemu = new QemuHypervisor(settings(run.resolve("b"), backupNetns));
        if (!primaryQemu.availability().available()) {
            throw new AssertionError(primaryQemu.availability().reason());
        }
        TransportSettings t = TransportSettings.defaults().withSecretFile(secretDir.resolve("stream.secret"));
        backupStream = MinaCheckpointTransport.create(t.withListen("127.0.0.1", 0).withNodeId("node-b"));
        primaryStream = MinaCheckpointTransport.create(t.withListen("127.0.0.1", 0).withNodeId("node-a"));
        primary = new Engine(new EngineSettings("node-a", 25, 1, 10_000, 2048, 5000, 50, 4, 256,
                EngineSettings.FailoverMode.MANUAL, 7490, false));
        primary.addHypervisor(wrapPrimary.apply(primaryQemu));
        if (output != null) {
            primary.addOutputBufferProvider(output, 0);
        }
        primary.setTransport(wrapStream.apply(primaryStream));
        backup = new Engine(new EngineSettings("node-b", 25, 1, 10_000, 2048, 5000, 50, 4, 256,
                EngineSettings.FailoverMode.MANUAL, 7490, false));
        backup.addHypervisor(wrapBackup.apply(backupQemu));
        backup.setTransport(backupStream);
    }

    static QemuSettings settings(Path runDir, String netns) {
        Path guest = Path.of(System.getProperty("romulus.guest.dir", "../../native/target/guest"));
        Path preload = Path.of(System.getProperty("romulus.uffd.preload",
                "../../native/target/lib/libromulus-uffd.so"));
        for (Path p : List.of(guest.resolve("vmlinuz"), guest.resolve("initramfs.cpio.gz"), preload)) {
            if (!Files.isReadable(p)) {
                throw new AssertionError(p.toAbsolutePath() + " is missing: build native/ first (scripts/test does)");
            }
        }
        return new QemuSettings("qemu-system-x86_64", "tcg", runDir, guest.resolve("vmlinuz"),
                guest.resolve("initramfs.cpio.gz"), preload, "uffd", netns, netns.isEmpty() ? "" : "br0", 10_000);
    }

    private static final Pattern TICK = Pattern.compile("romulus-tick (\\d+)");

    /** The last tick the demo guest printed on {@code console}, or -1 if none (yet). */
    static long lastTick(Path console) throws IOException {
        if (!Files.exists(console)) {
            return -1;
        }
        Matcher m = TICK.matcher(Files.readString(console, StandardCharsets.ISO_8859_1));
        long last = -1;
        while (m.find()) {
            last = Long.parseLong(m.group(1));
        }
        return last;
    }

    InetSocketAddress backupAddress() {
        return InetSocketAddress.createUnresolved("127.0.0.1", backupStream.listenAddress().getPort());
    }

    ProtectionStatus row(Engine engine, Role role) {
        return engine.status().stream().filter(s -> s.role() == role).findFirst().orElse(null);
    }

    long committed() {
        ProtectionStatus s = row(backup, Role.BACKUP);
        return s == null ? -1 : s.epoch();
    }

    /** The directory of the guest the backup activated (its replica's). */
    Path activatedDir(String name) throws IOException {
        try (var dirs = Files.list(run.resolve("b"))) {
            return dirs.filter(p -> p.getFileName().toString().startsWith(name + ".")).findFirst().orElseThrow();
        }
    }

    /**
     * Waits until the guest on the primary host has booted (ROMULUS-GUEST-READY on its console) and the primary
     * protects it; returns its console.
     */
    Path awaitProtected(io.romulus.api.hypervisor.DomainId id) {
        Path console = run.resolve("a").resolve(id.name()).resolve("console.log");
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofMinutes(2)).until(() -> Files.exists(console)
                && Files.readString(console, StandardCharsets.ISO_8859_1)
                        .contains("ROMULUS-GUEST-READY"));
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(90)).until(() -> row(primary,
                Role.PRIMARY).state() == io.romulus.api.engine.ProtectionState.PROTECTED);
        return console;
    }

    @Override
    public void close() {
        primary.shutdown();
        backup.shutdown();
        primaryStream.close();
        backupStream.close();
        primaryQemu.destroyAll();
        backupQemu.destroyAll();
        try (var paths = Files.walk(run)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
