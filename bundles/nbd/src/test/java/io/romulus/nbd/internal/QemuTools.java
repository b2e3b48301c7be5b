package io.romulus.nbd.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * QEMU's tools as the NBD client of the tests: {@code qemu-io}, {@code qemu-img}, {@code qemu-nbd} from the Debian
 * package qemu-utils. A missing tool fails the test with the package to install; it is never skipped.
 */
final class QemuTools {

    /** What a tool printed (stdout and stderr together) and how it exited. */
    record Result(int exit, String output) {
    }

    private QemuTools() {
    }

    /** Runs {@code qemu-io -f raw URI -c C1 -c C2 ...}. */
    static Result qemuIo(String uri, String... commands) throws Exception {
        return io(List.of("-f", "raw", uri), commands);
    }

    /** Runs {@code qemu-io -r -f raw URI -c ...}: the image opened read-only. */
    static Result qemuIoReadOnly(String uri, String... commands) throws Exception {
        return io(List.of("-r", "-f", "raw", uri), commands);
    }

    private static Result io(List<String> options, String... commands) throws Exception {
        List<String> argv = new ArrayList<>(List.of(tool("qemu-io")));
        argv.addAll(options);
        for (String c : commands) {
            argv.add("-c");
            argv.add(c);
        }
        return run(argv);
    }

    /** {@link #qemuIo} that must succeed; qemu-io exits 0 even when a command failed, so its output is checked too. */
    static String qemuIoOk(String uri, String... commands) throws Exception {
        Result r = qemuIo(uri, commands);
        assertEquals(0, r.exit(), r.output());
        assertTrue(!r.output().contains("failed") && !r.output().contains("error")
                && !r.output().contains("Pattern verification"), r.output());
        return r.output();
    }

    static Result qemuImg(String... args) throws Exception {
        List<String> argv = new ArrayList<>(List.of(tool("qemu-img")));
        argv.addAll(List.of(args));
        return run(argv);
    }

    static Result qemuNbd(String... args) throws Exception {
        List<String> argv = new ArrayList<>(List.of(tool("qemu-nbd")));
        argv.addAll(List.of(args));
        return run(argv);
    }

    private static String tool(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, name);
            if (Files.isExecutable(p)) {
                return p.toString();
            }
        }
        return fail(name + " not found on the PATH: install the Debian package qemu-utils "
                + "(scripts/prerequisites.sh installs it)");
    }

    private static Result run(List<String> argv) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail(String.join(" ", argv) + " did not finish within 60 s");
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
