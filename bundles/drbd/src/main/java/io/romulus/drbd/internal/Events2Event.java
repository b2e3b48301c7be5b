package io.romulus.drbd.internal;

import java.time.OffsetDateTime;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One line of {@code drbdsetup events2}: {@code [TIMESTAMP] ACTION OBJECT key:value...}, for example
 * {@code change connection name:r0 peer-node-id:1 conn-name:b connection:Connected role:Secondary}.
 *
 * <p>Actions seen from drbd-utils 9.x: {@code exists} (the current state, with {@code --now} or at the start of a
 * stream), {@code create}, {@code change} (only the fields that changed, plus the object's identity),
 * {@code destroy}, {@code call} and {@code response} (of a {@code helper}), {@code rename}. Objects:
 * {@code resource}, {@code connection}, {@code device}, {@code peer-device}, {@code path}, {@code helper}, and
 * {@code -} in the line {@code exists -} that ends the initial state. Actions, objects and keys this class does not
 * know are kept as they came.
 *
 * @param timestamp when DRBD reported it ({@code --timestamps}), or null
 * @param action    {@code exists}, {@code create}, {@code change}, {@code destroy}, {@code call}, ...
 * @param object    {@code resource}, {@code connection}, {@code device}, {@code peer-device}, {@code path},
 *                  {@code helper}, {@code -}, ...
 * @param fields    the key:value pairs in their order (a value keeps any further colons: {@code local:ipv4:1.2.3.4:7789})
 * @param line      the line as read
 */
public record Events2Event(OffsetDateTime timestamp, String action, String object, Map<String, String> fields,
        String line) {

    public static final String EXISTS = "exists";
    public static final String CREATE = "create";
    public static final String CHANGE = "change";
    public static final String DESTROY = "destroy";
    public static final String RENAME = "rename";
    public static final String CALL = "call";
    public static final String RESPONSE = "response";

    public static final String RESOURCE = "resource";
    public static final String CONNECTION = "connection";
    public static final String DEVICE = "device";
    public static final String PEER_DEVICE = "peer-device";
    public static final String PATH = "path";
    public static final String HELPER = "helper";

    public Events2Event {
        fields = Collections.unmodifiableMap(new LinkedHashMap<>(fields));
    }

    /** {@code exists -}: the initial state has been reported in full; what follows are changes. */
    public boolean endOfInitialState() {
        return EXISTS.equals(action) && "-".equals(object);
    }

    /** The resource this event is about ({@code name:}), or null. */
    public String resource() {
        return fields.get("name");
    }

    /** A field, or null. */
    public String get(String key) {
        return fields.get(key);
    }
}
