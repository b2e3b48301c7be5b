package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import io.romulus.api.hypervisor.GuestDisk;
import io.romulus.api.hypervisor.GuestInterface;
import io.romulus.api.hypervisor.HypervisorException;
import io.romulus.qemu.internal.vm.VmDefinition;
import io.romulus.qemu.internal.vm.VmDisk;
import io.romulus.qemu.internal.vm.VmNic;
import io.romulus.support.linux.Errno;
import io.romulus.support.linux.LibC;
import io.romulus.support.linux.LibcLoader;
import io.romulus.support.linux.NativeCallException;
import io.romulus.support.process.CommandException;
import io.romulus.support.process.CommandResult;
import io.romulus.support.process.ProcessRunner;
import io.romulus.support.qmp.QmpClient;

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
    private static final int SIGSTOP = 19;

    private final String name;
    private final Path dir;
    private final ProcessHandle process;
    private final QmpClient qmp;
    private final List<String> taps;

    private QemuProcess(String name, Path dir, ProcessHandle process, QmpClient qmp, List<String> taps) {
        this.name = name;
        this.dir = dir;
        this.process = process;
        this.qmp = qmp;
        this.taps = List.copyOf(taps);
    }

    /**
     * Starts QEMU for a guest whose RAM file is {@code dir/ram}.
     *
     * @param incoming whether to start it waiting for an incoming device state ({@code -S -incoming defer}) instead
     *                 of booting
     * @param taps     the host side of each of the VM's NICs, in order
     * @param disks    the VM's disks as this node serves them (NBD exports), in order
     */
    static QemuProcess start(String name, Path dir, VmDefinition vm, QemuSettings settings, boolean incoming,
            List<String> taps, List<GuestDisk> disks) throws HypervisorException, InterruptedException {
        QemuProcess q = startDetached(name, dir, vm, settings, incoming, taps, disks);
        try {
            q.joinBridges(vm, settings);
        } catch (HypervisorException | InterruptedException e) {
            q.close();
            throw e;
        }
        return q;
    }

    /**
     * Like {@link #start}, with the taps left out of their bridges and down: a standby's, which nothing may reach
     * before failover ({@link #joinBridges} then, or {@link #joinBridgesDown} and later bring them up).
     */
    static QemuProcess startDetached(String name, Path dir, VmDefinition vm, QemuSettings settings, boolean incoming,
            List<String> taps, List<GuestDisk> disks) throws HypervisorException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        if (!settings.netns().isEmpty()) {
            cmd.addAll(List.of("ip", "netns", "exec", settings.netns()));
        }
        cmd.addAll(commandLine(name, dir, vm, settings, incoming, taps, disks));
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
        return new QemuProcess(name, dir, p.toHandle(), qmp, taps);
    }

    /** Puts each NIC's tap into its bridge ({@link #bridgeOf}) and brings it up. */
    void joinBridges(VmDefinition vm, QemuSettings settings) throws HypervisorException, InterruptedException {
        joinBridges(vm, settings, true);
    }

    /**
     * Puts each NIC's tap into its bridge and leaves it down: a port that is down is disabled, so the bridge forwards
     * nothing to it (nothing waits in the tap) until it comes up.
     */
    void joinBridgesDown(VmDefinition vm, QemuSettings settings) throws HypervisorException, InterruptedException {
        joinBridges(vm, settings, false);
    }

    private void joinBridges(VmDefinition vm, QemuSettings settings, boolean up)
            throws HypervisorException, InterruptedException {
        for (int i = 0; i < taps.size(); i++) {
            String bridge = bridgeOf(vm.nics().get(i), settings);
            if (!bridge.isEmpty()) {
                joinBridge(settings.netns(), taps.get(i), bridge, up);
            }
        }
    }

    /** The bridge a NIC's tap joins on a host with {@code settings}: its own, else the host's (empty: none). */
    static String bridgeOf(VmNic nic, QemuSettings settings) {
        return nic.bridge().isEmpty() ? settings.bridge() : nic.bridge();
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
    static QemuProcess reconnect(String name, Path dir, List<String> taps, QemuSettings settings)
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
            return new QemuProcess(name, dir, p, qmp, taps);
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
        return namesGuest(args, name) && args.stream().anyMatch(a -> a.contains(ram));
    }

    /**
     * Whether QEMU's arguments {@code args} name guest {@code name}: {@code -name romulus-NAME}, with
     * {@code debug-threads=on} since December 2026 (a QEMU started by an earlier binding has it without).
     */
    static boolean namesGuest(List<String> args, String name) {
        return args.stream().anyMatch(a -> a.split(",", 2)[0].equals("romulus-" + name));
    }

    /**
     * QEMU's command line for {@code vm}: RAM in the shared file {@code dir/ram}, QMP on {@code dir/qmp.sock}, the
     * first serial port to {@code dir/console.log}, no display, the NICs on {@code taps} and the disks as this node
     * serves them, every device placed by QEMU in the same order on every host (so a device state saved on one loads
     * on the other).
     */
    static List<String> commandLine(String name, Path dir, VmDefinition vm, QemuSettings settings,
            boolean incoming, List<String> taps, List<GuestDisk> disks) {
        if (taps.size() != vm.nics().size() || disks.size() != vm.disks().size()) {
            throw new IllegalArgumentException(vm.nics().size() + " NICs and " + vm.disks().size() + " disks need as "
                    + "many taps and served disks, not " + taps.size() + " and " + disks.size());
        }
        long mib = vm.memoryBytes() >> 20;
        StringBuilder machine = new StringBuilder(vm.machine()).append(",memory-backend=ram0");
        if (vm.platform("clock.hpet", "on").equals("off")) {
            machine.append(",hpet=off");
        }
        if (vm.platform("features.vmport", "").equals("off")) {
            machine.append(",vmport=off");
        }
        if (vm.platform().containsKey("features") && !List.of(vm.platform("features", "").split(",")).contains("acpi")) {
            machine.append(",acpi=off");
        }
        String smp = Integer.toString(vm.cpus());
        if (!vm.topology().isEmpty()) {
            String[] t = vm.topology().split(",");
            smp += ",sockets=" + t[0] + ",cores=" + t[1] + ",threads=" + t[2];
        }
        List<String> cmd = new ArrayList<>(List.of(settings.qemuBinary(),
                // debug-threads: the vCPU threads are named "CPU N/TCG" (or "CPU N/KVM"), so top -H and the
                // benchmarks' CPU ledger tell the guest's own CPU time from QEMU's I/O threads
                "-name", "romulus-" + name + ",debug-threads=on",
                "-accel", settings.accel().equals("auto") ? "kvm:tcg" : settings.accel(),
                "-machine", machine.toString(),
                "-m", mib + "M",
                "-smp", smp));
        if (!vm.cpu().isEmpty()) {
            // host under TCG is QEMU's "max": every feature TCG emulates
            cmd.addAll(List.of("-cpu", vm.cpu().equals("host") && !settings.accel().equals("kvm") ? "max" : vm.cpu()));
        }
        cmd.addAll(List.of(
                "-object", "memory-backend-file,id=ram0,size=" + mib + "M,mem-path=" + dir.resolve("ram") + ",share=on",
                "-nodefaults", "-no-user-config", "-display", "none",
                // the device state stream carries no configuration section, on both sides
                "-global", "migration.send-configuration=off",
                "-serial", "file:" + dir.resolve("console.log"),
                "-qmp", "unix:" + dir.resolve("qmp.sock") + ",server=on,wait=off",
                "-pidfile", dir.resolve("qemu.pid").toString()));
        if (vm.directKernelBoot()) {
            // a replica resumed on the backup does not boot, but its QEMU keeps the kernel for a reboot of the guest
            cmd.addAll(List.of("-kernel", vm.kernel()));
            if (!vm.initrd().isEmpty()) {
                cmd.addAll(List.of("-initrd", vm.initrd()));
            }
            cmd.addAll(List.of("-append", vm.cmdline()));
        }
        String offset = vm.platform("clock.offset", "utc");
        String driftfix = vm.platform("clock.rtc.driftfix", "none");
        if (!offset.equals("utc") || driftfix.equals("slew")) {
            cmd.addAll(List.of("-rtc", "base=" + offset + (driftfix.equals("slew") ? ",driftfix=slew" : "")));
        }
        if (vm.platform("clock.pit", "default").equals("delay") && settings.accel().equals("kvm")) {
            cmd.addAll(List.of("-global", "kvm-pit.lost_tick_policy=delay"));
        }
        if (vm.platform("on.reboot", "restart").equals("destroy")) {
            cmd.add("-no-reboot");
        }
        String pm = vm.machine().equals("q35") ? "ICH9-LPC" : "PIIX4_PM";
        for (String s : List.of("s3", "s4")) {
            if (vm.platform().containsKey("pm." + s)) {
                cmd.addAll(List.of("-global", pm + ".disable_" + s + "=" + (vm.platform("pm." + s, "on").equals("off")
                        ? 1 : 0)));
            }
        }
        for (int i = 0; i < taps.size(); i++) {
            VmNic nic = vm.nics().get(i);
            cmd.addAll(List.of("-netdev", "tap,id=net" + i + ",ifname=" + taps.get(i) + ",script=no,downscript=no",
                    "-device", nic.device() + ",netdev=net" + i + ",mac=" + nic.mac() + ",romfile="));
        }
        boolean ahci = false;
        for (int i = 0; i < disks.size(); i++) {
            VmDisk d = vm.disks().get(i);
            // every write goes through the node's NBD export, whose log the disk replicator drains at each
            // checkpoint; the guest's flushes reach it as NBD FLUSH
            cmd.addAll(List.of("-drive", "file=" + disks.get(i).source() + ",format=raw,if=none,id=disk" + i
                    + ",cache=writeback" + (d.readOnly() ? ",readonly=on" : "")
                    + (d.discard().equals("unmap") ? ",discard=unmap" : "")));
            String boot = !vm.directKernelBoot() && i == 0 ? ",bootindex=1" : "";
            switch (d.bus()) {
                case "virtio" -> cmd.addAll(List.of("-device", "virtio-blk-pci,drive=disk" + i + boot));
                case "sata" -> {
                    if (vm.machine().equals("pc") && !ahci) {
                        cmd.addAll(List.of("-device", "ahci,id=ahci0"));
                        ahci = true;
                    }
                    cmd.addAll(List.of("-device", "ide-hd,drive=disk" + i + ",bus="
                            + (vm.machine().equals("pc") ? "ahci0." : "ide.") + d.unit() + boot));
                }
                default -> cmd.addAll(List.of("-device", "ide-hd,drive=disk" + i + ",bus=ide." + d.unit() / 2
                        + ",unit=" + d.unit() % 2 + boot));
            }
        }
        if (incoming) {
            cmd.addAll(List.of("-S", "-incoming", "defer"));
        }
        return cmd;
    }

    /** Puts {@code tap} into {@code bridge} of namespace {@code netns} (empty: the node's own) and brings it up. */
    private void joinBridge(String netns, String tap, String bridge, boolean up)
            throws HypervisorException, InterruptedException {
        List<String> ip = new ArrayList<>();
        if (!netns.isEmpty()) {
            ip.addAll(List.of("ip", "-n", netns));
        } else {
            ip.add("ip");
        }
        ip.addAll(List.of("link", "set", tap, "master", bridge, up ? "up" : "down"));
        run(ip);
    }

    static void run(List<String> cmd) throws HypervisorException, InterruptedException {
        run(cmd, 10);
    }

    /**
     * Runs a host command to its end, at most {@code timeoutSeconds}, through {@link ProcessRunner}: its output is read
     * by another thread, so a command that hangs (or one that prints a lot) cannot keep the timeout from firing; a
     * command still running then is killed.
     */
    static String run(List<String> cmd, long timeoutSeconds) throws HypervisorException, InterruptedException {
        CommandResult r;
        try {
            r = ProcessRunner.run(new ProcessBuilder(cmd).redirectErrorStream(true),
                    Duration.ofSeconds(timeoutSeconds));
        } catch (CommandException e) {
            throw new HypervisorException(e.getMessage(), e);
        }
        String text = r.out().trim();
        if (!r.ok()) {
            throw new HypervisorException(String.join(" ", cmd) + " failed (exit " + r.exit() + "): " + text);
        }
        return text;
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

    /** The host side of each of the guest's NICs, in order. */
    List<String> taps() {
        return taps;
    }

    /**
     * The guest's NICs as output commit sees them: {@code netI}, the MAC address of {@code vm}'s NIC I and its tap
     * here, in network namespace {@code netns} (empty: this one).
     */
    List<GuestInterface> guestInterfaces(VmDefinition vm, String netns) {
        String ns = netns.isEmpty() ? null : netns;
        List<GuestInterface> out = new ArrayList<>();
        for (int i = 0; i < taps.size(); i++) {
            out.add(new GuestInterface("net" + i, vm.nics().get(i).mac(), "tap", taps.get(i), ns));
        }
        return out;
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /**
     * Closes the QMP connection: leaves QEMU running (for the next version of the binding), or ends the connection of
     * one that was {@linkplain #kill killed}.
     */
    void disconnect() {
        qmp.close();
    }

    /**
     * Sends QEMU SIGSTOP: none of its threads runs again until it is killed (the engine never sends SIGCONT), and its
     * memory, taps and descriptors stay as they are, so it costs the kernel nothing now. A switchover's old copy is
     * stopped this way before "go" and {@linkplain #kill killed} once the switchover is over.
     *
     * @throws HypervisorException if the signal cannot be sent (the process is gone, or libc cannot be loaded)
     */
    void freeze() throws HypervisorException {
        try {
            LibC libc = LibcLoader.load("stopping QEMU");
            if (libc.kill(Math.toIntExact(process.pid()), SIGSTOP) != 0) {
                throw new HypervisorException("SIGSTOP to QEMU of qemu:" + name + " (pid " + process.pid() + "): "
                        + Errno.text(LibcLoader.lastError()));
            }
        } catch (NativeCallException e) {
            throw new HypervisorException("cannot stop QEMU of qemu:" + name + ": " + e.getMessage(), e);
        }
    }

    /**
     * Sends QEMU SIGKILL and returns at once: from here on it runs no code of its own, so a guest it held paused never
     * runs again. The kernel tears the process down (its memory mappings, then its descriptors: its taps, its end of
     * the QMP connection) meanwhile; the future completes when it is gone. The QMP connection is the caller's to
     * {@linkplain #disconnect close} then.
     */
    CompletableFuture<ProcessHandle> kill() {
        process.destroyForcibly();
        return process.onExit();
    }

    /** Kills QEMU and waits for it to be gone. */
    @Override
    public void close() {
        try {
            kill().get(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            LOG.warn("QEMU of qemu:{} (pid {}) did not exit within 10 s of SIGKILL", name, process.pid());
        }
        qmp.close();
    }
}
