package io.romulus.support.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.romulus.support.process.CommandException;
import io.romulus.support.process.CommandResult;
import io.romulus.support.process.Executables;
import io.romulus.support.process.ProcessRunner;

/**
 * A small C program that prints golden values (struct sizes and offsets, constants, sample bytes) as the installed
 * system headers define them, for tests that check a Java byte layout against them. It is compiled with gcc
 * ({@code -std=gnu11 -Wall -Wextra -Werror}) into {@code target/golden-programs/<name>/} and run when a test asks for
 * its output. It fails that test, never skips it: a missing gcc or header is named with the Debian package to install,
 * and a compiler error or a failing run is shown with what it printed.
 */
public final class GoldenProgram {

    private static final List<String> GCC_FLAGS = List.of("-std=gnu11", "-Wall", "-Wextra", "-Werror");
    private static final Duration COMPILE_TIMEOUT = Duration.ofMinutes(2);
    private static final Duration RUN_TIMEOUT = Duration.ofSeconds(30);

    private final Path source;
    private final String compiler;
    /** Header -> the Debian package that installs it, in the order given. */
    private final Map<Path, String> headers = new LinkedHashMap<>();

    private GoldenProgram(Path source, String compiler) {
        this.source = source;
        this.compiler = compiler;
    }

    /** The program in {@code source}, e.g. {@code src/test/c/netlink_golden.c} (relative to the module). */
    public static GoldenProgram of(Path source) {
        return new GoldenProgram(source, "gcc");
    }

    /** The program compiled by {@code compiler} instead of gcc: for the test of a machine without gcc. */
    static GoldenProgram of(Path source, String compiler) {
        return new GoldenProgram(source, compiler);
    }

    /**
     * Headers the program includes that Debian package {@code debianPackage} installs (absolute paths, e.g.
     * {@code /usr/include/linux/netlink.h}); checked before compiling, so a machine without them is told what to
     * install rather than shown gcc's error.
     */
    public GoldenProgram needs(String debianPackage, String... headerFiles) {
        for (String h : headerFiles) {
            headers.put(Path.of(h), debianPackage);
        }
        return this;
    }

    /** Compiles the program, runs it and returns what it printed on stdout. */
    public String output() {
        for (Map.Entry<Path, String> h : headers.entrySet()) {
            if (!Files.exists(h.getKey())) {
                fail(h.getKey() + " is missing: install Debian package " + h.getValue() + " (the headers " + source
                        + " is compiled against)");
            }
        }
        assertTrue(Files.isRegularFile(source), source.toAbsolutePath() + " is missing");
        Path gcc = Executables.find(compiler).orElseGet(
                () -> fail(compiler + " not found: install Debian package gcc (it compiles " + source + ")"));
        String name = source.getFileName().toString().replaceFirst("\\.c$", "");
        try {
            Path binary = Files.createDirectories(Path.of("target", "golden-programs", name)).resolve(name);
            List<String> compile = new ArrayList<>();
            compile.add(gcc.toString());
            compile.addAll(GCC_FLAGS);
            compile.addAll(List.of("-o", binary.toString(), source.toString()));
            CommandResult compiled = ProcessRunner.run(compile, COMPILE_TIMEOUT);
            if (!compiled.ok()) {
                fail(compiler + " failed on " + source + ":\n" + compiled.out() + compiled.err());
            }
            CommandResult ran = ProcessRunner.run(List.of(binary.toString()), RUN_TIMEOUT);
            if (!ran.ok()) {
                fail(binary + " (from " + source + ") failed:\n" + ran.describe());
            }
            return ran.out();
        } catch (CommandException e) {
            throw new AssertionError(e.getMessage(), e);
        } catch (IOException e) {
            throw new AssertionError("cannot compile or run " + source + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while compiling or running " + source, e);
        }
    }

    /** {@link #output()}, line by line. */
    public List<String> lines() {
        return output().lines().toList();
    }
}
