package io.romulus.support.qmp;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * An asynchronous QMP event, for example {@code STOP}, {@code RESUME}, {@code SHUTDOWN}, {@code MIGRATION}.
 *
 * @param name             the event name
 * @param data             its data ({@code null} node when it has none)
 * @param timestampMicros  QEMU's timestamp, microseconds since the epoch
 */
public record QmpEvent(String name, JsonNode data, long timestampMicros) {
}
