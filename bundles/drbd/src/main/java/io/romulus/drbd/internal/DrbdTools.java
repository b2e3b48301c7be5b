package io.romulus.drbd.internal;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.regex.Pattern;

import io.romulus.support.process.Executables;

/**
 * The drbd-utils commands the coordinator uses, over a {@link CommandRunner}: {@code drbdsetup events2} (one-shot
 * with {@code --now}, or streamed), {@code drbdsetup show --show-defaults}, {@code drbdsetup help}, and
 * {@code drbdadm primary|secondary|outdate|adjust|status}. Every failure is a {@link DrbdCommandException} naming
 * the command line, the exit code and stderr.
 */
public final class DrbdTools {

    /** A resource name as drbd.conf allows it; never a path or an option. */
    private static final Pattern RESOURCE_NAME = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}");

    /** What {@code drbdsetup events2 --now} reported: the folded state and the lines that were not events. */
    public record Events2Now(DrbdState state, List<String> malformed) {
        public Events2Now {
            malformed = List.copyOf(malformed);
        }
    }

    private final CommandRunner runner;
    private final String drbdsetup;
    private final String drbdadm;
    private final Duration timeout;

    public DrbdTools(CommandRunner runner, String drbdsetup, String drbdadm, Duration timeout) {
        this.runner = runner;
        this.drbdsetup = drbdsetup;
        this.drbdadm = drbdadm;
        this.timeout = timeout;
    }

    public String drbdsetup() {
        return drbdsetup;
    }

    public String drbdadm() {
        return drbdadm;
    }

    /** {@code resource}, checked to be a plain resource name (it ends up on a command line). */
    public static String checkResourceName(String resource) {
        if (resource == null || !RESOURCE_NAME.matcher(resource).matches()) {
            throw new IllegalArgumentException("not a DRBD resource name: " + resource);
        }
        return resource;
    }

    /**
     * {@code name} when it contains a slash, else the executable {@code name} on PATH or in the sbin directories a
     * service's PATH often lacks (drbd-utils installs to /usr/sbin), else {@code name} itself (running it then
     * fails with "cannot run").
     */
    public static String locate(String name) {
        return Executables.locate(name);
    }

    /** {@code drbdsetup events2 --now --statistics [RES]}: the current state. */
    public Events2Now events2Now(String resource) throws DrbdCommandException {
        List<String> argv = new ArrayList<>(List.of(drbdsetup, "events2", "--now", "--statistics"));
        if (resource != null) {
            argv.add(checkResourceName(resource));
        }
        CommandRunner.Result r = runner.run(argv, timeout);
        if (!r.ok()) {
            throw DrbdCommandException.failed("read the DRBD state", r);
        }
        DrbdState state = new DrbdState();
        List<String> malformed = new ArrayList<>();
        for (String line : r.out().split("\n")) {
            Events2Parser.accept(line, state::apply, m -> malformed.add(m.line()));
        }
        return new Events2Now(state, malformed);
    }

    /**
     * {@code drbdsetup events2 --timestamps --statistics [RES]}, streamed: the current state ({@code exists} lines up
     * to {@code exists -}), then every change, until closed.
     */
    public CommandRunner.Running watch(String resource, Consumer<Events2Event> events,
            Consumer<Events2Parser.MalformedLine> malformed) throws DrbdCommandException {
        List<String> argv = new ArrayList<>(List.of(drbdsetup, "events2", "--timestamps", "--statistics"));
        if (resource != null) {
            argv.add(checkResourceName(resource));
        }
        return runner.stream(argv, line -> Events2Parser.accept(line, events, malformed));
    }

    /** {@code drbdsetup show RES --show-defaults}. */
    public DrbdShow show(String resource) throws DrbdCommandException {
        CommandRunner.Result r = runner.run(List.of(drbdsetup, "show", checkResourceName(resource), "--show-defaults"),
                timeout);
        if (!r.ok()) {
            throw DrbdCommandException.failed("read the configuration of DRBD resource " + resource, r);
        }
        return DrbdShow.parse(r.out());
    }

    /** The commands {@code drbdsetup help} lists (it needs no kernel module). */
    public List<String> commands() throws DrbdCommandException {
        CommandRunner.Result r = runner.run(List.of(drbdsetup, "help"), timeout);
        List<String> commands = new ArrayList<>();
        boolean inList = false;
        for (String line : (r.out() + "\n" + r.err()).split("\n")) {
            if (line.startsWith("Commands:")) {
                inList = true;
            } else if (inList && line.startsWith("    ") && !line.startsWith("     ") && line.contains(" - ")) {
                commands.add(line.strip().substring(0, line.strip().indexOf(" - ")));
            } else if (inList && !line.isBlank() && !line.startsWith(" ")) {
                inList = false;
            }
        }
        if (commands.isEmpty()) {
            throw DrbdCommandException.failed("list the commands of drbdsetup", r);
        }
        return commands;
    }

    /** {@code drbdadm primary RES}. */
    public void primary(String resource) throws DrbdCommandException {
        drbdadm("promote DRBD resource " + resource + " to Primary", "primary", resource);
    }

    /** {@code drbdadm secondary RES}. */
    public void secondary(String resource) throws DrbdCommandException {
        drbdadm("demote DRBD resource " + resource + " to Secondary", "secondary", resource);
    }

    /** {@code drbdadm outdate RES}. */
    public void outdate(String resource) throws DrbdCommandException {
        drbdadm("mark the data of DRBD resource " + resource + " Outdated", "outdate", resource);
    }

    /** {@code drbdadm adjust RES}: makes the kernel's configuration match drbd.conf. */
    public void adjust(String resource) throws DrbdCommandException {
        drbdadm("adjust DRBD resource " + resource + " to its configuration", "adjust", resource);
    }

    /** {@code drbdadm status RES}, as text. */
    public String status(String resource) throws DrbdCommandException {
        return drbdadm("read the status of DRBD resource " + resource, "status", resource).out();
    }

    private CommandRunner.Result drbdadm(String what, String command, String resource) throws DrbdCommandException {
        CommandRunner.Result r = runner.run(List.of(drbdadm, command, checkResourceName(resource)), timeout);
        if (!r.ok()) {
            throw DrbdCommandException.failed(what, r);
        }
        return r;
    }

    /**
     * Why DRBD cannot be used on this host, or empty when it can: runs {@code drbdsetup events2 --now} and turns
     * drbd-utils' complaint about a missing kernel module into
     * "DRBD kernel module not loaded (/proc/drbd missing): WHAT DRBDSETUP SAID".
     */
    public Optional<String> unavailableReason() {
        try {
            events2Now(null);
            return Optional.empty();
        } catch (DrbdCommandException e) {
            if (e.moduleMissing()) {
                return Optional.of("DRBD kernel module not loaded (/proc/drbd missing): " + firstLines(e.stderr()));
            }
            if (e.exit() < 0) {
                return Optional.of("drbd-utils cannot be run: " + e.getMessage());
            }
            return Optional.of("drbdsetup cannot read the DRBD state: " + e.getMessage());
        }
    }

    private static String firstLines(String stderr) {
        String s = stderr.strip().replace('\n', ';').replaceAll("\\s*;\\s*", "; ");
        if (s.isEmpty()) {
            return "(drbdsetup said nothing)";
        }
        return s.length() > 300 ? s.substring(0, 300) + "..." : s;
    }
}
