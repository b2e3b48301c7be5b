package io.romulus.support.state;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A state file reads back as written, is replaced in one step, and refuses what is not one of its format. */
class StateFileTest {

    private static final StateFile FILE = new StateFile("test hand-over record", 3);

    @TempDir
    Path dir;

    record Sample(String name, long epoch, boolean held, byte[] blob) {
        ObjectNode toJson() {
            ObjectNode o = FILE.create().put("name", name).put("epoch", epoch).put("held", held);
            o.put("blob", blob);
            return o;
        }

        static Sample parse(JsonNode o) throws IOException {
            return new Sample(StateFile.text(o, "name"), StateFile.number(o, "epoch"), StateFile.flag(o, "held"),
                    StateFile.bytes(o, "blob"));
        }
    }

    @Test
    void aStateReadsBackAsWrittenAndCarriesItsFormat() throws IOException {
        Path file = dir.resolve("sub/dir/record.json");
        Sample written = new Sample("web", Long.MAX_VALUE, true, new byte[] {0, 1, (byte) 0xff, 'R', 'M'});
        FILE.write(file, written.toJson());
        Sample read = FILE.read(file, Sample::parse);
        assertEquals(written.name(), read.name());
        assertEquals(written.epoch(), read.epoch());
        assertEquals(written.held(), read.held());
        assertArrayEquals(written.blob(), read.blob());
        assertTrue(Files.readString(file).contains("\"format\" : 3"), Files.readString(file));
    }

    @Test
    void aRewriteReplacesTheFileInOneStep() throws IOException {
        Path file = dir.resolve("record.json");
        FILE.write(file, new Sample("a", 1, false, new byte[0]).toJson());
        FILE.write(file, new Sample("b", 2, false, new byte[0]).toJson());
        assertEquals("b", FILE.read(file, Sample::parse).name());
        assertEquals(List.of(file), listing(), "no temporary file is left");
    }

    @Test
    void noFileIsEmptyForReadIfPresent() throws IOException {
        assertEquals(Optional.empty(), FILE.readIfPresent(dir.resolve("none.json"), Sample::parse));
        assertThrows(java.nio.file.NoSuchFileException.class, () -> FILE.read(dir.resolve("none.json"),
                Sample::parse));
    }

    @Test
    void garbageIsRefusedAsNotJson() throws IOException {
        Path file = dir.resolve("record.json");
        Files.write(file, new byte[] {'R', 'M', 'X', 'R', 0, 0, 0, 1});
        StateFileException e = assertThrows(StateFileException.class, () -> FILE.read(file, Sample::parse));
        assertTrue(e.getMessage().startsWith(file + " is not a test hand-over record: not JSON"), e.getMessage());

        Files.writeString(file, "format=1\nprimaries=0\n", StandardCharsets.UTF_8);
        e = assertThrows(StateFileException.class, () -> FILE.read(file, Sample::parse));
        assertTrue(e.getMessage().contains("not JSON"), e.getMessage());

        Files.writeString(file, "[1, 2]", StandardCharsets.UTF_8);
        e = assertThrows(StateFileException.class, () -> FILE.read(file, Sample::parse));
        assertTrue(e.getMessage().contains("not a JSON object"), e.getMessage());
    }

    @Test
    void aFileWithoutFormatOrOfAnotherFormatIsRefused() throws IOException {
        Path file = dir.resolve("record.json");
        Files.writeString(file, "{\"name\": \"web\"}", StandardCharsets.UTF_8);
        StateFileException e = assertThrows(StateFileException.class, () -> FILE.read(file, Sample::parse));
        assertTrue(e.getMessage().contains("has no format number"), e.getMessage());

        Files.writeString(file, "{\"format\": 4, \"name\": \"web\"}", StandardCharsets.UTF_8);
        e = assertThrows(StateFileException.class, () -> FILE.read(file, Sample::parse));
        assertEquals(file + " is a test hand-over record of format 4; this version reads format 3", e.getMessage());
    }

    @Test
    void aMissingOrMistypedFieldIsNamed() throws IOException {
        Path file = dir.resolve("record.json");
        Files.writeString(file, "{\"format\": 3, \"name\": \"web\", \"epoch\": \"seven\", \"held\": true, "
                + "\"blob\": \"\"}", StandardCharsets.UTF_8);
        StateFileException e = assertThrows(StateFileException.class, () -> FILE.read(file, Sample::parse));
        assertTrue(e.getMessage().contains("is not a valid test hand-over record: it has no integral field epoch"),
                e.getMessage());
        Files.writeString(file, "{\"format\": 3, \"epoch\": 7, \"held\": true, \"blob\": \"\"}",
                StandardCharsets.UTF_8);
        e = assertThrows(StateFileException.class, () -> FILE.read(file, Sample::parse));
        assertTrue(e.getMessage().contains("it has no text field name"), e.getMessage());
    }

    @Test
    void onlyAStateOfThisFormatIsWritten() {
        ObjectNode other = new StateFile("other", 1).create();
        assertThrows(IllegalArgumentException.class, () -> FILE.write(dir.resolve("x.json"), other));
    }

    private List<Path> listing() throws IOException {
        try (var s = Files.list(dir)) {
            return s.toList();
        }
    }
}
