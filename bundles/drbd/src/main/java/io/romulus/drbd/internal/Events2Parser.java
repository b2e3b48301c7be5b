package io.romulus.drbd.internal;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;
import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Parses the output of {@code drbdsetup events2 [--now] [--timestamps] [--statistics]}, one line per event (see
 * {@link Events2Event}). Unknown actions, objects and keys are kept; a line that does not have the shape
 * {@code [TIMESTAMP] ACTION OBJECT key:value...} is reported as a {@link MalformedLine} carrying the line, and the
 * stream goes on. The {@code --color} escapes are not understood (Romulus never asks for them).
 */
public final class Events2Parser {

    /** A line that is not an events2 event. */
    public static final class MalformedLine extends Exception {
        private static final long serialVersionUID = 1L;
        private final String line;

        MalformedLine(String line, String why) {
            super("malformed drbdsetup events2 line (" + why + "): \"" + line + "\"");
            this.line = line;
        }

        /** The line as read. */
        public String line() {
            return line;
        }
    }

    private Events2Parser() {
    }

    /** Parses one line (without its line end). */
    public static Events2Event parse(String line) throws MalformedLine {
        if (line == null) {
            throw new MalformedLine("", "no line");
        }
        String[] tokens = line.strip().split("\\s+");
        if (tokens.length == 0 || tokens[0].isEmpty()) {
            throw new MalformedLine(line, "empty");
        }
        int i = 0;
        OffsetDateTime timestamp = null;
        if (Character.isDigit(tokens[0].charAt(0))) {
            try {
                timestamp = OffsetDateTime.parse(tokens[0], DateTimeFormatter.ISO_OFFSET_DATE_TIME);
            } catch (DateTimeParseException e) {
                throw new MalformedLine(line, "bad timestamp " + tokens[0]);
            }
            i++;
        }
        if (tokens.length - i < 2) {
            throw new MalformedLine(line, "no action and object");
        }
        String action = tokens[i++];
        String object = tokens[i++];
        if (action.indexOf(':') >= 0 || object.indexOf(':') >= 0) {
            throw new MalformedLine(line, "a key:value where the action and object belong");
        }
        Map<String, String> fields = new LinkedHashMap<>();
        for (; i < tokens.length; i++) {
            String t = tokens[i];
            int colon = t.indexOf(':');
            if (colon <= 0) {
                throw new MalformedLine(line, "\"" + t + "\" is not key:value");
            }
            fields.put(t.substring(0, colon), t.substring(colon + 1));
        }
        if ("-".equals(object)) {
            if (!fields.isEmpty()) {
                throw new MalformedLine(line, "fields after \"-\"");
            }
        } else if (knownObject(object) && !fields.containsKey("name")) {
            throw new MalformedLine(line, object + " without name:");
        }
        return new Events2Event(timestamp, action, object, fields, line);
    }

    private static boolean knownObject(String object) {
        return switch (object) {
            case Events2Event.RESOURCE, Events2Event.CONNECTION, Events2Event.DEVICE, Events2Event.PEER_DEVICE,
                    Events2Event.PATH, Events2Event.HELPER -> true;
            default -> false;
        };
    }

    /**
     * Parses every line of {@code in} until its end: events to {@code events}, malformed lines to {@code malformed}.
     * Blank lines are skipped.
     */
    public static void parseAll(Reader in, Consumer<Events2Event> events, Consumer<MalformedLine> malformed)
            throws IOException {
        BufferedReader r = in instanceof BufferedReader b ? b : new BufferedReader(in);
        for (String line = r.readLine(); line != null; line = r.readLine()) {
            accept(line, events, malformed);
        }
    }

    /** Parses one line from a stream; blank lines are skipped. */
    public static void accept(String line, Consumer<Events2Event> events, Consumer<MalformedLine> malformed) {
        if (line.isBlank()) {
            return;
        }
        try {
            events.accept(parse(line));
        } catch (MalformedLine e) {
            malformed.accept(e);
        }
    }
}
