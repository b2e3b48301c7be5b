package io.romulus.qemu.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.Stream;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The binding's run directory ({@code run.dir}): one directory per guest, named after it, and one per replica, and
 * what an earlier instance of the binding left in them when it stopped (a {@link GuestStateFile} or a
 * {@link ReplicaStateFile}).
 */
final class RunDirectory {

    private static final Logger LOG = LoggerFactory.getLogger(RunDirectory.class);
    private static final AtomicLong REPLICAS = new AtomicLong();
    /** The demo guest's disk image, in its directory. */
    static final String DEMO_DISK = "disk.img";

    private RunDirectory() {
    }

    /**
     * Hands each directory of {@code run} that an earlier instance left a state file in to {@code guest} (a
     * {@link GuestStateFile}) or {@code replica} (a {@link ReplicaStateFile}), in the order of their names.
     */
    static void rediscover(Path run, Consumer<Path> guest, Consumer<Path> replica) {
        if (!Files.isDirectory(run)) {
            return;
        }
        List<Path> dirs;
        try (Stream<Path> list = Files.list(run)) {
            dirs = list.filter(Files::isDirectory).sorted().toList();
        } catch (IOException e) {
            LOG.warn("Cannot look for guests left running in {}: {}", run, e.getMessage());
            return;
        }
        for (Path dir : dirs) {
            if (Files.exists(dir.resolve(GuestStateFile.NAME))) {
                guest.accept(dir);
            } else if (Files.exists(dir.resolve(ReplicaStateFile.NAME))) {
                replica.accept(dir);
            }
        }
    }

    /** A directory of {@code run} for a new replica of guest {@code name}, one no replica has used yet. */
    static Path newReplicaDir(Path run, String name) {
        Path dir;
        do { // an earlier version of the binding in this JVM counted from 1 too
            dir = run.resolve(name + ".replica-" + ProcessHandle.current().pid() + "-" + REPLICAS.incrementAndGet());
        } while (Files.exists(dir));
        return dir;
    }

    /** Tap device names are at most 15 characters; one per guest directory and NIC. */
    static String tapName(Path dir, int nic) {
        return String.format("rt%08x", dir.toAbsolutePath().toString().hashCode()) + (nic == 0 ? "" : "n" + nic);
    }

    /** The taps of the {@code nics} NICs of the guest in {@code dir}. */
    static List<String> tapNames(Path dir, int nics) {
        List<String> taps = new ArrayList<>();
        for (int i = 0; i < nics; i++) {
            taps.add(tapName(dir, i));
        }
        return taps;
    }

    /** Deletes everything in {@code dir} but the files {@code keep} (and the directories holding them). */
    static void deleteTreeExcept(Path dir, List<Path> keep) {
        if (keep.isEmpty()) {
            deleteTree(dir);
            return;
        }
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder())
                    .filter(p -> keep.stream().noneMatch(k -> k.startsWith(p)))
                    .forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            LOG.warn("Could not remove {}: {}", dir, e.getMessage());
        }
    }

    static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            LOG.warn("Could not remove {}: {}", dir, e.getMessage());
        }
    }
}
