package io.romulus.drbd.internal;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What {@code drbdsetup show RES --show-defaults} says about a resource: its connections with their net options
 * (above all {@code protocol}) and its volumes' minors. The text format is drbd.conf's: nested
 * {@code section { key value; }} blocks; {@code --show-defaults} prints options left at their default too, followed
 * by a {@code # default} comment (with the unit first where there is one: {@code # 1/10 seconds, default}).
 * Sections and keys this class does not know are skipped.
 *
 * @param resource    the resource's name, or null when drbdsetup knows no such resource
 * @param connections one per peer, in the order shown
 * @param minors      volume number to device minor
 */
public record DrbdShow(String resource, List<NetSection> connections, Map<Integer, Integer> minors) {

    /**
     * The net options of one connection.
     *
     * @param peerNodeId {@code _peer_node_id}, or -1
     * @param name       {@code _name} (the peer's host name), or null
     * @param options    net options as shown, quotes removed
     * @param defaults   the options marked {@code # default}
     */
    public record NetSection(int peerNodeId, String name, Map<String, String> options, Set<String> defaults) {
        public NetSection {
            options = Collections.unmodifiableMap(new LinkedHashMap<>(options));
            defaults = Collections.unmodifiableSet(new LinkedHashSet<>(defaults));
        }

        /** {@code protocol}: {@code A}, {@code B} or {@code C}; null when not shown (run show with --show-defaults). */
        public String protocol() {
            return options.get("protocol");
        }
    }

    public DrbdShow {
        connections = List.copyOf(connections);
        minors = Collections.unmodifiableMap(new LinkedHashMap<>(minors));
    }

    /** Parses the output of {@code drbdsetup show [RES] [--show-defaults]}; the first resource shown. */
    public static DrbdShow parse(String text) {
        String resource = null;
        List<NetSection> connections = new ArrayList<>();
        Map<Integer, Integer> minors = new LinkedHashMap<>();
        Deque<String> sections = new ArrayDeque<>();
        int peerNodeId = -1;
        String connName = null;
        Map<String, String> net = new LinkedHashMap<>();
        Set<String> defaults = new LinkedHashSet<>();
        int volume = -1;
        boolean resourceDone = false;

        for (String raw : text.split("\n")) {
            if (resourceDone) {
                break;
            }
            String[] stmt = splitComment(raw);
            String line = stmt[0].strip();
            boolean isDefault = stmt[1].contains("default");
            if (line.isEmpty()) {
                continue;
            }
            if (line.endsWith("{")) {
                String[] words = words(line.substring(0, line.length() - 1));
                String section = words.length == 0 ? "" : words[0];
                if (sections.isEmpty() && "resource".equals(section) && words.length > 1) {
                    resource = unquote(words[1]);
                }
                if ("connection".equals(section) && sections.size() == 1) {
                    peerNodeId = -1;
                    connName = null;
                    net = new LinkedHashMap<>();
                    defaults = new LinkedHashSet<>();
                }
                if ("volume".equals(section) && words.length > 1 && "_this_host".equals(sections.peek())) {
                    volume = parseInt(words[1]);
                }
                sections.push(section);
                continue;
            }
            if (line.startsWith("}")) {
                String closed = sections.isEmpty() ? "" : sections.pop();
                if ("connection".equals(closed) && sections.size() == 1) {
                    connections.add(new NetSection(peerNodeId, connName, net, defaults));
                }
                if ("resource".equals(closed) && sections.isEmpty()) {
                    resourceDone = true;
                }
                continue;
            }
            String body = line.endsWith(";") ? line.substring(0, line.length() - 1).strip() : line;
            String[] words = words(body);
            if (words.length == 0) {
                continue;
            }
            String key = words[0];
            String value = words.length > 1 ? unquote(body.substring(body.indexOf(key) + key.length()).strip()) : "";
            String where = sections.peek();
            if ("connection".equals(where) && "_peer_node_id".equals(key)) {
                peerNodeId = parseInt(value);
            } else if ("net".equals(where) && sections.size() >= 2 && "connection".equals(second(sections))) {
                if ("_name".equals(key)) {
                    connName = value;
                } else {
                    net.put(key, value);
                    if (isDefault) {
                        defaults.add(key);
                    }
                }
            } else if ("volume".equals(where) && "device".equals(key) && volume >= 0) {
                String[] v = words(value);
                String minor = v.length == 2 && "minor".equals(v[0]) ? v[1] : v.length == 1 ? v[0] : null;
                if (minor != null) {
                    int m = parseInt(minor.replaceFirst("^/dev/drbd", ""));
                    if (m >= 0) {
                        minors.put(volume, m);
                    }
                }
            }
        }
        return new DrbdShow(resource, connections, minors);
    }

    private static String second(Deque<String> sections) {
        var it = sections.iterator();
        it.next();
        return it.next();
    }

    /** The statement and the comment of a line; a {@code #} inside double quotes is not a comment. */
    private static String[] splitComment(String line) {
        boolean quoted = false;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c == '\\' && quoted) {
                i++;
            } else if (c == '"') {
                quoted = !quoted;
            } else if (c == '#' && !quoted) {
                return new String[] {line.substring(0, i), line.substring(i + 1)};
            }
        }
        return new String[] {line, ""};
    }

    private static String[] words(String s) {
        String t = s.strip();
        return t.isEmpty() ? new String[0] : t.split("\\s+");
    }

    private static String unquote(String s) {
        String t = s.strip();
        return t.length() >= 2 && t.startsWith("\"") && t.endsWith("\"") ? t.substring(1, t.length() - 1) : t;
    }

    private static int parseInt(String s) {
        try {
            return Integer.parseInt(s.strip());
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
