package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.qemu.internal.qmp.QmpClient;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One QEMU process running a guest: its command line, its QMP connection, its files. Everything of one guest lives
 * in one directory under the run directory: {@code ram} (the guest RAM file), {@code qmp.sock}, {@code qemu.log},
 * {@code console.log}, {@code qemu.pid}.
 *
 * <p>QEMU is a child of this JVM but not tied to it: if the node dies, the guest runs on (as a Xen domU outlives its
 * toolstack), and whoever kills the node decides whether to kill the guest. For the same reason a new version of the
 * binding {@linkplain #reconnect finds} a QEMU that an earlier one started, by its {@code qemu.pid}, and speaks QMP to
 * it again.
 */
final class QemuProcess implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(QemuProcess.class);

    private final String name;
    private final Path dir;
    private final ProcessHandle process;
    private final QmpClient qmp;
    private final String tap;

    private QemuProcess(String name, Path dir, ProcessHandle process, QmpClient qmp, String tap) {
        this.name = name;
        this.dir = dir;
        this.process = process;
        this.qmp = qmp;
        this.tap = tap;
    }

    /**
     * Starts QEMU for a guest whose RAM file is {@code dir/ram}.
     *
     * @param incoming whether to start it waiting for an incoming device state ({@code -S -incoming defer}) instead
     *                 of booting the kernel
     * @param disk     the guest's disk (an NBD export of this node), or {@code null} for none
     */
    static QemuProcess start(String name, Path dir, GuestOptions guest, QemuSettings settings, boolean incoming,
            String tap, GuestDisk disk) throws HypervisorException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        if (!settings.netns().isEmpty()) {
            cmd.addAll(List.of("ip", "netns", "exec", settings.netns()));
        }
        cmd.addAll(commandLine(name, dir, guest, settings, incoming, tap, disk));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("qemu.log").toFile()));
        if (settings.dirtyTracker().equals("uffd")) {
            pb.environment().put("LD_PRELOAD", settings.preloadLibrary().toString());
            pb.environment().put("ROMULUS_UFFD_FD", Integer.toString(QemuSettings.UFFD_FD));
        }
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new HypervisorException("cannot start " + cmd.get(0) + ": " + e.getMessage(), e);
        }
        LOG.info("Started QEMU for qemu:{} (pid {}{}): {}", name, p.pid(), incoming ? ", incoming" : "",
                String.join(" ", cmd));
        QmpClient qmp;
        try {
            qmp = QmpClient.connect(dir.resolve("qmp.sock"), Duration.ofMillis(Math.max(20_000,
                    settings.qmpTimeoutMs())), p::isAlive);
        } catch (IOException e) {
            p.destroyForcibly();
            throw new HypervisorException("QEMU for qemu:" + name + " did not come up: " + e.getMessage()
                    + logTail(dir), e);
        }
        QemuProcess q = new QemuProcess(name, dir, p.toHandle(), qmp, tap);
        String bridge = guest.bridgeOn(settings);
        if (tap != null && !bridge.isEmpty()) {
            try {
                q.joinBridge(settings.netns(), bridge);
            } catch (HypervisorException | InterruptedException e) {
                q.close();
                throw e;
            }
        }
        return q;
    }

    /**
     * Finds the QEMU of guest {@code name} that an earlier version of the binding started in {@code dir}: the process
     * its {@code qemu.pid} names, if it is alive and is that guest's QEMU (its command line names the guest and maps
     * {@code dir/ram}), and connects to its QMP socket (which the earlier version must have let go of: QEMU serves one
     * QMP client at a time).
     *
     * @return the process, or {@code null} if no such QEMU runs (any more)
     * @throws HypervisorException if it runs but does not answer on QMP
     */
    static QemuProcess reconnect(String name, Path dir, String tap, QemuSettings settings)
            throws HypervisorException, InterruptedException {
        ProcessHandle p;
        try {
            p = ProcessHandle.of(Long.parseLong(Files.readString(dir.resolve("qemu.pid")).trim())).orElse(null);
            if (p == null || !isQemuOf(p.pid(), name, dir)) {
                return null;
            }
        } catch (IOException | NumberFormatException e) {
            LOG.debug("No QEMU of qemu:{} in {}: {}", name, dir, e.getMessage());
            return null;
        }
        try {
            QmpClient qmp = QmpClient.connect(dir.resolve("qmp.sock"), Duration.ofMillis(settings.qmpTimeoutMs()),
                    p::isAlive);
            return new QemuProcess(name, dir, p, qmp, tap);
        } catch (IOException e) {
            throw new HypervisorException("the QEMU of qemu:" + name + " (pid " + p.pid() + ") runs but does not answer"
                    + " on QMP: " + e.getMessage(), e);
        }
    }

    /** Whether process {@code pid} is the QEMU this binding starts for guest {@code name} in {@code dir}. */
    static boolean isQemuOf(long pid, String name, Path dir) throws IOException {
        byte[] raw = Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline"));
        List<String> args = List.of(new String(raw, StandardCharsets.UTF_8).split("\0"));
        String ram = "mem-path=" + dir.resolve("ram") + ",";
        return args.contains("romulus-" + name) && args.stream().anyMatch(a -> a.contains(ram));
    }

    static List<String> commandLine(String name, Path dir, GuestOptions guest, QemuSettings settings,
            boolean incoming, String tap, GuestDisk disk) {
        long mib = guest.memoryBytes() >> 20;
        List<String> cmd = new ArrayList<>(List.of(settings.qemuBinary(),
                "-name", "romulus-" + name,
                "-accel", settings.accel().equals("auto") ? "kvm:tcg" : settings.accel(),
                "-machine", "pc,memory-backend=ram0",
                "-m", mib + "M",
                "-smp", Integer.toString(guest.cpus()),
                "-object", "memory-backend-file,id=ram0,size=" + mib + "M,mem-path=" + dir.resolve("ram") + ",share=on",
                "-nodefaults", "-no-user-config", "-display", "none",
                // the device state stream carries no configuration section, on both sides
                "-global", "migration.send-configuration=off",
                "-serial", "file:" + dir.resolve("console.log"),
                "-qmp", "unix:" + dir.resolve("qmp.sock") + ",server=on,wait=off",
                "-pidfile", dir.resolve("qemu.pid").toString(),
                "-kernel", settings.kernel().toString(),
                "-initrd", settings.initrd().toString(),
                "-append", guest.kernelCommandLine()));
        if (guest.nic().equals("tap")) {
            cmd.addAll(List.of("-netdev", "tap,id=net0,ifname=" + tap + ",script=no,downscript=no",
                    "-device", "virtio-net-pci,netdev=net0,mac=" + guest.mac() + ",romfile="));
        }
        if (disk != null) {
            // every write goes through the node's NBD export, whose log the disk replicator drains at each
            // checkpoint; the guest's flushes reach it as NBD FLUSH
            cmd.addAll(List.of("-drive", "file=" + disk.source() + ",format=raw,if=virtio,cache=writeback"));
        }
        if (incoming) {
            cmd.addAll(List.of("-S", "-incoming", "defer"));
        }
        return cmd;
    }

    /** Puts the tap into {@code bridge} of namespace {@code netns} (empty: the node's own) and brings it up. */
    private void joinBridge(String netns, String bridge) throws HypervisorException, InterruptedException {
        List<String> ip = new ArrayList<>();
        if (!netns.isEmpty()) {
            ip.addAll(List.of("ip", "-n", netns));
        } else {
            ip.add("ip");
        }
        ip.addAll(List.of("link", "set", tap, "master", bridge, "up"));
        run(ip);
    }

    static void run(List<String> cmd) throws HypervisorException, InterruptedException {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new HypervisorException(String.join(" ", cmd) + " failed: " + out);
            }
        } catch (IOException e) {
            throw new HypervisorException(String.join(" ", cmd) + " failed: " + e.getMessage(), e);
        }
    }

    static String logTail(Path dir) {
        try {
            List<String> lines = Files.readAllLines(dir.resolve("qemu.log"), StandardCharsets.UTF_8);
            return lines.isEmpty() ? "" : "; QEMU said: " + String.join(" | ",
                    lines.subList(Math.max(0, lines.size() - 5), lines.size()));
        } catch (IOException e) {
            return "";
        }
    }

    String name() {
        return name;
    }

    Path dir() {
        return dir;
    }

    long pid() {
        return process.pid();
    }

    QmpClient qmp() {
        return qmp;
    }

    String tap() {
        return tap;
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** Closes the QMP connection and leaves QEMU running (for the next version of the binding). */
    void disconnect() {
        qmp.close();
    }

    /** Kills QEMU and waits for it to be gone. */
    @Override
    public void close() {
        qmp.close();
        process.destroyForcibly();
        try {
            process.onExit().get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            LOG.warn("QEMU of qemu:{} (pid {}) did not exit within 10 s of SIGKILL", name, process.pid());
        }
    }
}
