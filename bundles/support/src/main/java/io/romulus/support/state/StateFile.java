package io.romulus.support.state;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One kind of state file that a version of a bundle leaves for the next (hand-over records): a JSON object with a
 * {@value #FORMAT_FIELD} number next to the state's own fields. It is written in one step (a temporary file, synced,
 * then renamed over the old one), so a reader finds the old file or the new one, never half of one; a file that is
 * not JSON, has no format or one this version does not read is refused with a message that says which.
 */
public final class StateFile {

    /** The field that holds the format version. */
    public static final String FORMAT_FIELD = "format";

    private static final ObjectMapper JSON = new ObjectMapper();

    private final String what;
    private final int format;

    /**
     * @param what   what the file is, for messages ({@code engine hand-over state})
     * @param format the format this version writes and reads; raise it whenever a field changes meaning
     */
    public StateFile(String what, int format) {
        this.what = what;
        this.format = format;
    }

    /** Turns the state's JSON back into the state; a missing or malformed field is an {@link IOException}. */
    @FunctionalInterface
    public interface Parser<T> {
        T parse(JsonNode state) throws IOException;
    }

    public int format() {
        return format;
    }

    /** A new state object of this format, for the caller to fill and {@link #write}. */
    public ObjectNode create() {
        return JSON.createObjectNode().put(FORMAT_FIELD, format);
    }

    /** Writes {@code state} (made by {@link #create}) to {@code file} in one step, creating its directory. */
    public void write(Path file, ObjectNode state) throws IOException {
        if (state.path(FORMAT_FIELD).asInt(-1) != format) {
            throw new IllegalArgumentException("a " + what + " of format " + format + " is made by create()");
        }
        writeAtomically(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(state));
    }

    /**
     * Writes {@code bytes} to {@code file} in one step: to {@code file.tmp}, synced, then renamed over {@code file}
     * (creating its directory); a reader finds the old content or the new, never part of it.
     */
    public static void writeAtomically(Path file, byte[] bytes) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) {
                ch.write(b);
            }
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** The state in {@code file}. */
    public <T> T read(Path file, Parser<T> parser) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        JsonNode state;
        try {
            state = JSON.readTree(bytes);
        } catch (JsonProcessingException e) {
            throw new StateFileException(file + " is not a " + what + ": not JSON (" + e.getOriginalMessage() + ")", e);
        }
        if (state == null || !state.isObject()) {
            throw new StateFileException(file + " is not a " + what + ": not a JSON object");
        }
        JsonNode f = state.get(FORMAT_FIELD);
        if (f == null || !f.canConvertToExactIntegral()) {
            throw new StateFileException(file + " is not a " + what + ": it has no " + FORMAT_FIELD + " number");
        }
        if (f.asInt() != format) {
            throw new StateFileException(file + " is a " + what + " of format " + f.asText()
                    + "; this version reads format " + format);
        }
        try {
            return parser.parse(state);
        } catch (IOException | RuntimeException e) {
            throw new StateFileException(file + " is not a valid " + what + ": " + e.getMessage(), e);
        }
    }

    /** The state in {@code file}, or empty when there is no such file. */
    public <T> Optional<T> readIfPresent(Path file, Parser<T> parser) throws IOException {
        try {
            return Optional.of(read(file, parser));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    /** The text field {@code field} of {@code o}; missing or not text is an error. */
    public static String text(JsonNode o, String field) throws StateFileException {
        JsonNode v = o.get(field);
        if (v == null || !v.isTextual()) {
            throw new StateFileException("it has no text field " + field);
        }
        return v.asText();
    }

    /** The integral field {@code field} of {@code o}; missing or not integral is an error. */
    public static long number(JsonNode o, String field) throws StateFileException {
        JsonNode v = o.get(field);
        if (v == null || !v.canConvertToExactIntegral() || !v.canConvertToLong()) {
            throw new StateFileException("it has no integral field " + field);
        }
        return v.asLong();
    }

    /** The boolean field {@code field} of {@code o}; missing or not boolean is an error. */
    public static boolean flag(JsonNode o, String field) throws StateFileException {
        JsonNode v = o.get(field);
        if (v == null || !v.isBoolean()) {
            throw new StateFileException("it has no boolean field " + field);
        }
        return v.asBoolean();
    }

    /** The base64 binary field {@code field} of {@code o}; missing or not base64 is an error. */
    public static byte[] bytes(JsonNode o, String field) throws StateFileException {
        JsonNode v = o.get(field);
        if (v == null || !v.isTextual()) {
            throw new StateFileException("it has no binary field " + field);
        }
        try {
            return v.binaryValue();
        } catch (IOException e) {
            throw new StateFileException("its field " + field + " is not base64: " + e.getMessage(), e);
        }
    }
}
