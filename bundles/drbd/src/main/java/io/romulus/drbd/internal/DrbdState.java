package io.romulus.drbd.internal;

import java.time.OffsetDateTime;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * The current state of DRBD as {@code drbdsetup events2} reported it, folded event by event: per resource its role,
 * its connections (by peer), its devices (by volume) and its peer devices (by peer and volume). {@code exists} and
 * {@code create} report an object in full; {@code change} only the fields that changed, which are merged into what
 * was known; {@code destroy} removes the object (a connection takes its peer devices with it, a device its peer
 * devices). Objects this class does not model ({@code path}, {@code helper} calls, objects of newer DRBD versions)
 * are kept per resource under {@link Resource#others()}. Thread-safe; the views it returns are immutable snapshots.
 */
public final class DrbdState {

    /** A connection to one peer. Keyed by peer node id, or by connection name where events carry no node id. */
    public record Connection(String key, Map<String, String> fields) {
        public Connection {
            fields = Collections.unmodifiableMap(new LinkedHashMap<>(fields));
        }

        /** {@code conn-name:}: the peer's host name as configured. */
        public String name() {
            return fields.get("conn-name");
        }

        /** {@code connection:}: StandAlone, Connecting, Connected, ... (null until reported). */
        public String state() {
            return fields.get("connection");
        }

        /** {@code role:} of the peer: Primary, Secondary, Unknown. */
        public String peerRole() {
            return fields.get("role");
        }

        public boolean connected() {
            return "Connected".equals(state());
        }
    }

    /** A local volume of a resource. */
    public record Device(int volume, Map<String, String> fields) {
        public Device {
            fields = Collections.unmodifiableMap(new LinkedHashMap<>(fields));
        }

        /** {@code minor:}, or -1. */
        public int minor() {
            return intField(fields, "minor");
        }

        /** {@code disk:}: UpToDate, Inconsistent, Outdated, Diskless, ... */
        public String disk() {
            return fields.get("disk");
        }

        /** The block device the host opens: {@code /dev/drbdMINOR}, or null while the minor is unknown. */
        public String devicePath() {
            int minor = minor();
            return minor < 0 ? null : "/dev/drbd" + minor;
        }

        /** {@code size:} (KiB, with {@code --statistics}), or -1. */
        public long sizeKib() {
            return longField(fields, "size");
        }
    }

    /** The replication of one volume to one peer. */
    public record PeerDevice(String connectionKey, int volume, Map<String, String> fields) {
        public PeerDevice {
            fields = Collections.unmodifiableMap(new LinkedHashMap<>(fields));
        }

        /** {@code replication:}: Off, Established, SyncSource, SyncTarget, PausedSyncS, Ahead, Behind, ... */
        public String replication() {
            return fields.get("replication");
        }

        /** {@code peer-disk:}: the peer's disk state. */
        public String peerDisk() {
            return fields.get("peer-disk");
        }

        /** {@code done:} of a resync in percent, while one runs (null otherwise). */
        public Double donePercent() {
            String d = fields.get("done");
            if (d == null || !isSyncing()) {
                return null;
            }
            try {
                return Double.valueOf(d);
            } catch (NumberFormatException e) {
                return null;
            }
        }

        /** {@code out-of-sync:} KiB (with {@code --statistics}), or -1. */
        public long outOfSyncKib() {
            return longField(fields, "out-of-sync");
        }

        /** Whether a resync (or verify) runs: SyncSource/SyncTarget and their paused forms, VerifyS/VerifyT. */
        public boolean isSyncing() {
            String r = replication();
            return r != null && (r.startsWith("Sync") || r.startsWith("PausedSync") || r.startsWith("Verify"));
        }
    }

    /** One resource. */
    public record Resource(String name, Map<String, String> fields, Map<String, Connection> connections,
            Map<Integer, Device> devices, Map<String, PeerDevice> peerDevices, Map<String, Map<String, String>> others,
            OffsetDateTime lastUpdate) {

        public Resource {
            fields = Collections.unmodifiableMap(new LinkedHashMap<>(fields));
            connections = Collections.unmodifiableMap(new TreeMap<>(connections));
            devices = Collections.unmodifiableMap(new TreeMap<>(devices));
            peerDevices = Collections.unmodifiableMap(new TreeMap<>(peerDevices));
            others = Collections.unmodifiableMap(new TreeMap<>(others));
        }

        /** {@code role:} of this node: Primary, Secondary, Unknown (null until reported). */
        public String role() {
            return fields.get("role");
        }

        /** {@code suspended:}: no, or the reasons I/O is suspended. */
        public String suspended() {
            return fields.get("suspended");
        }

        public Optional<Device> device(int volume) {
            return Optional.ofNullable(devices.get(volume));
        }

        /** The peer devices of {@code volume}, one per peer. */
        public List<PeerDevice> peerDevices(int volume) {
            return peerDevices.values().stream().filter(p -> p.volume() == volume).collect(Collectors.toList());
        }

        /** The peer device of {@code volume} on connection {@code connectionKey}. */
        public Optional<PeerDevice> peerDevice(String connectionKey, int volume) {
            return Optional.ofNullable(peerDevices.get(peerDeviceKey(connectionKey, volume)));
        }

        /** The device with minor {@code minor}. */
        public Optional<Device> deviceByMinor(int minor) {
            return devices.values().stream().filter(d -> d.minor() == minor).findFirst();
        }

        Resource with(Map<String, String> f, Map<String, Connection> c, Map<Integer, Device> d,
                Map<String, PeerDevice> p, Map<String, Map<String, String>> o, OffsetDateTime at) {
            return new Resource(name, f, c, d, p, o, at == null ? lastUpdate : at);
        }
    }

    private final Map<String, Resource> resources = new TreeMap<>();
    private boolean initialStateComplete;
    private long events;

    /** Folds one event in; returns the resource it changed (empty for {@code exists -} and unnamed events). */
    public synchronized Optional<Resource> apply(Events2Event e) {
        events++;
        if (e.endOfInitialState()) {
            initialStateComplete = true;
            return Optional.empty();
        }
        String name = e.resource();
        if (name == null) {
            return Optional.empty();
        }
        if (Events2Event.RESOURCE.equals(e.object())) {
            return applyResource(name, e);
        }
        Resource r = resources.get(name);
        if (r == null) {
            // a change of an object of a resource not seen yet (events2 started mid-stream): start it empty
            r = new Resource(name, Map.of("name", name), Map.of(), Map.of(), Map.of(), Map.of(), e.timestamp());
        }
        Resource changed = switch (e.object()) {
            case Events2Event.CONNECTION -> applyConnection(r, e);
            case Events2Event.DEVICE -> applyDevice(r, e);
            case Events2Event.PEER_DEVICE -> applyPeerDevice(r, e);
            default -> applyOther(r, e);
        };
        resources.put(name, changed);
        return Optional.of(changed);
    }

    private Optional<Resource> applyResource(String name, Events2Event e) {
        Resource r = resources.get(name);
        switch (e.action()) {
            case Events2Event.DESTROY -> {
                resources.remove(name);
                return Optional.empty();
            }
            case Events2Event.RENAME -> {
                String newName = e.get("new_name");
                if (r == null || newName == null) {
                    return Optional.empty();
                }
                resources.remove(name);
                Map<String, String> f = new LinkedHashMap<>(r.fields());
                f.put("name", newName);
                Resource renamed = new Resource(newName, f, r.connections(), r.devices(), r.peerDevices(),
                        r.others(), e.timestamp() == null ? r.lastUpdate() : e.timestamp());
                resources.put(newName, renamed);
                return Optional.of(renamed);
            }
            default -> {
                Map<String, String> f = merge(r == null || replaces(e) ? Map.of() : r.fields(), e.fields());
                Resource next = r == null
                        ? new Resource(name, f, Map.of(), Map.of(), Map.of(), Map.of(), e.timestamp())
                        : r.with(f, r.connections(), r.devices(), r.peerDevices(), r.others(), e.timestamp());
                resources.put(name, next);
                return Optional.of(next);
            }
        }
    }

    private static Resource applyConnection(Resource r, Events2Event e) {
        String key = connectionKey(e);
        Map<String, Connection> c = new LinkedHashMap<>(r.connections());
        Map<String, PeerDevice> p = new LinkedHashMap<>(r.peerDevices());
        if (Events2Event.DESTROY.equals(e.action())) {
            c.remove(key);
            p.values().removeIf(pd -> pd.connectionKey().equals(key));
        } else {
            Connection old = c.get(key);
            c.put(key, new Connection(key, merge(old == null || replaces(e) ? Map.of() : old.fields(), e.fields())));
        }
        return r.with(r.fields(), c, r.devices(), p, r.others(), e.timestamp());
    }

    private static Resource applyDevice(Resource r, Events2Event e) {
        int volume = intField(e.fields(), "volume");
        Map<Integer, Device> d = new LinkedHashMap<>(r.devices());
        Map<String, PeerDevice> p = new LinkedHashMap<>(r.peerDevices());
        if (Events2Event.DESTROY.equals(e.action())) {
            d.remove(volume);
            p.values().removeIf(pd -> pd.volume() == volume);
        } else {
            Device old = d.get(volume);
            d.put(volume, new Device(volume, merge(old == null || replaces(e) ? Map.of() : old.fields(), e.fields())));
        }
        return r.with(r.fields(), r.connections(), d, p, r.others(), e.timestamp());
    }

    private static Resource applyPeerDevice(Resource r, Events2Event e) {
        String conn = connectionKey(e);
        int volume = intField(e.fields(), "volume");
        String key = peerDeviceKey(conn, volume);
        Map<String, PeerDevice> p = new LinkedHashMap<>(r.peerDevices());
        if (Events2Event.DESTROY.equals(e.action())) {
            p.remove(key);
        } else {
            PeerDevice old = p.get(key);
            Map<String, String> f = merge(old == null || replaces(e) ? Map.of() : old.fields(), e.fields());
            if (!e.fields().containsKey("done") && e.fields().containsKey("replication")) {
                f.remove("done"); // a new replication state without done: the resync it measured is over
            }
            p.put(key, new PeerDevice(conn, volume, f));
        }
        return r.with(r.fields(), r.connections(), r.devices(), p, r.others(), e.timestamp());
    }

    private static Resource applyOther(Resource r, Events2Event e) {
        Map<String, Map<String, String>> o = new LinkedHashMap<>(r.others());
        String key = e.object() + identity(e);
        if (Events2Event.DESTROY.equals(e.action())) {
            o.remove(key);
        } else {
            Map<String, String> f = merge(Map.of(), e.fields());
            f.put("_action", e.action());
            o.put(key, f);
        }
        return r.with(r.fields(), r.connections(), r.devices(), r.peerDevices(), o, e.timestamp());
    }

    private static String identity(Events2Event e) {
        StringBuilder b = new StringBuilder();
        for (String k : List.of("peer-node-id", "conn-name", "volume", "local", "peer", "helper")) {
            String v = e.get(k);
            if (v != null) {
                b.append(' ').append(k).append(':').append(v);
            }
        }
        return b.toString();
    }

    private static boolean replaces(Events2Event e) {
        return Events2Event.EXISTS.equals(e.action()) || Events2Event.CREATE.equals(e.action());
    }

    private static Map<String, String> merge(Map<String, String> old, Map<String, String> update) {
        Map<String, String> m = new LinkedHashMap<>(old);
        m.putAll(update);
        return m;
    }

    static String connectionKey(Events2Event e) {
        String id = e.get("peer-node-id");
        return id != null ? id : "conn-name:" + e.get("conn-name");
    }

    static String peerDeviceKey(String connectionKey, int volume) {
        return connectionKey + "/" + volume;
    }

    static int intField(Map<String, String> fields, String key) {
        String v = fields.get(key);
        if (v == null) {
            return -1;
        }
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    static long longField(Map<String, String> fields, String key) {
        String v = fields.get(key);
        if (v == null) {
            return -1;
        }
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    public synchronized Optional<Resource> resource(String name) {
        return Optional.ofNullable(resources.get(name));
    }

    public synchronized Map<String, Resource> resources() {
        return Map.copyOf(resources);
    }

    /** Whether {@code exists -} was seen: every object that existed has been reported. */
    public synchronized boolean initialStateComplete() {
        return initialStateComplete;
    }

    /** Events folded in so far. */
    public synchronized long eventCount() {
        return events;
    }

    /** Forgets everything (before a new {@code events2} stream reports the state again). */
    public synchronized void clear() {
        resources.clear();
        initialStateComplete = false;
    }

    /** A new state folded from {@code events}. */
    public static DrbdState of(Iterable<Events2Event> events) {
        DrbdState s = new DrbdState();
        for (Events2Event e : events) {
            s.apply(e);
        }
        return s;
    }
}
