package io.romulus.support.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;

/**
 * Fuzzes what {@link QmpClient} reads from QEMU's QMP socket, line by line as its reader thread does: the greeting
 * ({@link QmpClient#greetingOf}, refused with a {@link QmpException}), then events ({@link QmpClient#eventOf}) and
 * replies ({@link QmpClient#returnOf}, an error reply becoming a {@link QmpException} with QEMU's class). A line that
 * is not JSON ends the connection with an {@link IOException}, nothing else is thrown, and what Romulus reads of a
 * reply ({@code path("status").asText()} and the like) never fails. The seeds (.../QmpFuzzTestInputs/session/) are a
 * real session with QEMU 7.2 ({@code qemu-system-x86_64 -machine none -qmp stdio}: greeting, replies, an error,
 * events). Run by execution {@code fuzz} of the parent pom (docs/developing.md).
 */
class QmpFuzzTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @FuzzTest
    void session(byte[] input) throws IOException {
        BufferedReader in = new BufferedReader(new StringReader(new String(input, StandardCharsets.UTF_8)));
        String first = QmpClient.readLine(in, QmpClient.MAX_LINE_CHARS);
        if (first == null) {
            return;
        }
        try {
            JsonNode greeting = QmpClient.greetingOf(first);
            assertNotNull(greeting);
            greeting.path("version").path("qemu").path("major").asInt();
        } catch (QmpException e) {
            return;
        }
        for (String line = QmpClient.readLine(in, QmpClient.MAX_LINE_CHARS); line != null;
                line = QmpClient.readLine(in, QmpClient.MAX_LINE_CHARS)) {
            JsonNode msg;
            try {
                msg = JSON.readTree(line);
            } catch (IOException e) {
                return; // the reader thread fails the connection and every pending command
            }
            QmpEvent event = QmpClient.eventOf(msg);
            if (event != null) {
                assertNotNull(event.name());
                assertNotNull(event.data());
                continue;
            }
            if (msg.has("id")) {
                assertNotNull(msg.get("id").asText());
            }
            try {
                JsonNode r = QmpClient.returnOf("query-status", msg);
                assertNotNull(r);
                r.path("status").asText();
                r.path("ram").path("transferred").asLong();
            } catch (QmpException e) {
                assertEquals(msg.path("error").path("class").asText(), e.errorClass());
            }
        }
    }
}
