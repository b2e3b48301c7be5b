package io.romulus.scaleout.internal.haproxy;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads HAProxy's answers on the runtime API of one endpoint: {@code show info}, {@code show cli level},
 * {@code show servers state} (version 1) and the CSV of {@code show stat}, and turns an answer that is not the one
 * expected into a {@link HaproxyException} with a hint at what HAProxy needs.
 */
final class RuntimeReplies {

    /** The HAProxy version that introduced dynamic servers. */
    static final int[] MINIMUM_VERSION = {2, 4};

    private static final Pattern VERSION = Pattern.compile("^(\\d+)\\.(\\d+)");

    private final String endpoint;
    private final String statsSocketLine;

    /**
     * @param endpoint        the endpoint, as messages name it
     * @param statsSocketLine the line HAProxy's {@code global} section needs for it
     */
    RuntimeReplies(String endpoint, String statsSocketLine) {
        this.endpoint = endpoint;
        this.statsSocketLine = statsSocketLine;
    }

    /** HAProxy's version in its answer to {@code show info}, checked to have dynamic servers. */
    String version(String info) throws HaproxyException {
        Map<String, String> fields = new HashMap<>();
        info.lines().forEach(line -> {
            int colon = line.indexOf(':');
            if (colon > 0) {
                fields.put(line.substring(0, colon), line.substring(colon + 1).strip());
            }
        });
        if (!"HAProxy".equals(fields.get("Name")) || !fields.containsKey("Version")) {
            throw refused("show info", info, "the socket answers but not as HAProxy's runtime API");
        }
        String version = fields.get("Version");
        Matcher m = VERSION.matcher(version);
        if (!m.find()) {
            throw refused("show info", info, "cannot read HAProxy's version '" + version + "'");
        }
        int major = number("show info", info, "Version", m.group(1));
        int minor = number("show info", info, "Version", m.group(2));
        if (major < MINIMUM_VERSION[0] || (major == MINIMUM_VERSION[0] && minor < MINIMUM_VERSION[1])) {
            throw refused("show info", "Version: " + version,
                    "dynamic servers need HAProxy 2.4 or newer; Debian 12's haproxy is 2.6");
        }
        return version;
    }

    /** Checks the answer to {@code show cli level}: the socket must be at level admin. */
    void adminLevel(String answer) throws HaproxyException {
        String level = answer.strip();
        if (!"admin".equals(level)) {
            throw refused("show cli level", level, "the socket is at level '" + level + "'; Romulus needs "
                    + statsSocketLine + " in HAProxy's global section");
        }
    }

    /** Asks HAProxy for the sessions and status of a backend's servers ({@link #stats}). */
    interface Stats {
        Map<String, String[]> read() throws IOException;
    }

    /**
     * The servers in {@code state}, the answer to {@code stateCommand} ({@code show servers state BACKEND}), with
     * their sessions and status, which {@code stats} asks for once the state is read.
     */
    List<Server> servers(String backend, String stateCommand, String state, Stats stats) throws IOException {
        List<String> lines = state.lines().filter(l -> !l.isBlank()).toList();
        if (lines.isEmpty() || !lines.get(0).strip().matches("\\d+")) {
            throw refused(stateCommand, state, null);
        }
        if (!lines.get(0).strip().equals("1") || lines.size() < 2 || !lines.get(1).startsWith("# ")) {
            throw refused(stateCommand, state, "this client reads version 1 of show servers state");
        }
        List<String> columns = Arrays.asList(lines.get(1).substring(2).strip().split(" "));
        int cName = column(stateCommand, columns, "srv_name");
        int cId = column(stateCommand, columns, "srv_id");
        int cAddr = column(stateCommand, columns, "srv_addr");
        int cOp = column(stateCommand, columns, "srv_op_state");
        int cAdmin = column(stateCommand, columns, "srv_admin_state");
        int cWeight = column(stateCommand, columns, "srv_uweight");
        int cPort = column(stateCommand, columns, "srv_port");
        Map<String, String[]> sessions = stats.read();
        List<Server> servers = new ArrayList<>();
        for (String line : lines.subList(2, lines.size())) {
            String[] f = line.strip().split(" ");
            if (f.length < columns.size()) {
                throw refused(stateCommand, state, "a server line has " + f.length + " of "
                        + columns.size() + " columns");
            }
            String name = f[cName];
            String[] stat = sessions.get(name);
            int op = number(stateCommand, state, "srv_op_state", f[cOp]);
            if (op < 0 || op >= Server.OperationalState.values().length) {
                throw refused(stateCommand, state, "unknown srv_op_state " + op);
            }
            servers.add(new Server(backend, name, number(stateCommand, state, "srv_id", f[cId]),
                    "-".equals(f[cAddr]) ? null : f[cAddr], number(stateCommand, state, "srv_port", f[cPort]),
                    Server.OperationalState.of(op), number(stateCommand, state, "srv_admin_state", f[cAdmin]),
                    number(stateCommand, state, "srv_uweight", f[cWeight]),
                    stat == null ? 0 : number("show stat", state, "scur", stat[0]), stat == null ? "" : stat[1]));
        }
        return servers;
    }

    /** Server name -> {scur, status} of {@code csv}, the answer to {@code command} ({@code show stat B 4 -1}). */
    Map<String, String[]> stats(String command, String csv) throws HaproxyException {
        List<String> lines = csv.lines().filter(l -> !l.isBlank()).toList();
        if (lines.isEmpty() || !lines.get(0).startsWith("# pxname,")) {
            throw refused(command, csv, null);
        }
        List<String> columns = csv(lines.get(0).substring(2));
        int cName = column(command, columns, "svname");
        int cScur = column(command, columns, "scur");
        int cStatus = column(command, columns, "status");
        Map<String, String[]> stats = new HashMap<>();
        for (String line : lines.subList(1, lines.size())) {
            List<String> f = csv(line);
            if (f.size() > Math.max(cName, Math.max(cScur, cStatus))) {
                String scur = f.get(cScur).isEmpty() ? "0" : f.get(cScur);
                stats.put(f.get(cName), new String[] {scur, f.get(cStatus)});
            }
        }
        return stats;
    }

    /** Splits one line of HAProxy's CSV, where a field with a comma is in double quotes. */
    static List<String> csv(String line) {
        List<String> fields = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quoted) {
                if (c == '"' && i + 1 < line.length() && line.charAt(i + 1) == '"') {
                    field.append('"');
                    i++;
                } else if (c == '"') {
                    quoted = false;
                } else {
                    field.append(c);
                }
            } else if (c == '"') {
                quoted = true;
            } else if (c == ',') {
                fields.add(field.toString());
                field.setLength(0);
            } else {
                field.append(c);
            }
        }
        fields.add(field.toString());
        return fields;
    }

    /** A whole number in {@code answer}'s column {@code column}, or a refusal that names them. */
    private int number(String command, String answer, String column, String text) throws HaproxyException {
        try {
            return Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw refused(command, answer, column + " '" + text + "' is not a number");
        }
    }

    private int column(String command, List<String> columns, String name) throws HaproxyException {
        int i = columns.indexOf(name);
        if (i < 0) {
            throw new HaproxyException(endpoint, command, "no column '" + name + "'",
                    "an HAProxy version whose output this client does not know");
        }
        return i;
    }

    /** HAProxy refused {@code command} with {@code answer}; {@code hint}, if known, says what it needs. */
    HaproxyException refused(String command, String answer, String hint) {
        String text = answer.strip();
        String why = hint;
        if (text.startsWith("Unknown command")) {
            // HAProxy lists the commands it would understand; the first line says it all.
            text = text.lines().findFirst().orElse(text);
            if (why == null) {
                why = "dynamic servers need HAProxy 2.4 or newer with " + statsSocketLine;
            }
        } else if (text.equals("Permission denied") && why == null) {
            why = "the socket is not at level admin; Romulus needs " + statsSocketLine;
        }
        if (text.isEmpty()) {
            text = "(empty answer)";
        }
        return new HaproxyException(endpoint, command, text, why);
    }
}
