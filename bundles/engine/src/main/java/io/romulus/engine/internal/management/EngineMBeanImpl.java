package io.romulus.engine.internal.management;

import java.time.Instant;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

import javax.management.MBeanException;
import javax.management.NotCompliantMBeanException;
import javax.management.MBeanNotificationInfo;
import javax.management.Notification;
import javax.management.NotificationBroadcasterSupport;
import javax.management.StandardEmitterMBean;
import javax.management.openmbean.CompositeDataSupport;
import javax.management.openmbean.CompositeType;
import javax.management.openmbean.OpenDataException;
import javax.management.openmbean.OpenType;
import javax.management.openmbean.SimpleType;
import javax.management.openmbean.TabularData;
import javax.management.openmbean.TabularDataSupport;
import javax.management.openmbean.TabularType;

import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.PauseBreakdown;
import io.romulus.api.engine.ProtectRequest;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.ReplicationEngine;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.management.EngineMBean;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;

/** {@code io.romulus:type=Engine,name=engine}: a thin adapter over {@link ReplicationEngine}. */
@Component(service = {EngineMBean.class, javax.management.DynamicMBean.class},
        property = "jmx.objectname=io.romulus:type=Engine,name=engine")
public class EngineMBeanImpl extends StandardEmitterMBean implements EngineMBean {

    /** The pause's breakdown follows {@code ackMicros}: its parts, then what none of them covers. */
    private static final String[] EPOCH_ITEMS = {"epoch", "startedMillis", "runMicros", "dirtyPages", "pauseMicros",
        "copyMicros", "rawBytes", "wireBytes", "compressionRatio", "ackMicros", "stopMicros", "harvestMicros",
        "deviceStateMicros", "diskBarrierMicros", "contMicros", "handOffMicros", "otherMicros", "cpuMicros",
        "writeFaults"};
    private static final OpenType<?>[] EPOCH_TYPES = {SimpleType.LONG, SimpleType.LONG, SimpleType.LONG,
        SimpleType.INTEGER, SimpleType.LONG, SimpleType.LONG, SimpleType.LONG, SimpleType.LONG, SimpleType.DOUBLE,
        SimpleType.LONG, SimpleType.LONG, SimpleType.LONG, SimpleType.LONG, SimpleType.LONG, SimpleType.LONG,
        SimpleType.LONG, SimpleType.LONG, SimpleType.LONG, SimpleType.LONG};

    /**
     * A row of the status and of the alarms is {@code key, value}: the shape of an MXBean map, which Jolokia turns
     * into a JSON object and Hawtio into one {@code key: value} line per row (a row of more items shows there as
     * {@code [object Object]}). The numbers of a domain, one attribute each, are on its Protection MBean.
     */
    private static final String[] MAP_ITEMS = {"key", "value"};
    private static final OpenType<?>[] MAP_TYPES = {SimpleType.STRING, SimpleType.STRING};

    private final ReplicationEngine engine;
    private final TabularType statusType;
    private final TabularType alarmType;
    private final TabularType epochType;

    private final AtomicLong sequence = new AtomicLong();
    private final Consumer<Alarm> alarmListener = this::notify;

    /**
     * Alarms go out as notifications of type {@code io.romulus.alarm.<kind>} (for example
     * {@code io.romulus.alarm.unprotected}), with the domain as user data.
     */
    private static MBeanNotificationInfo[] notificationInfo() {
        String[] types = Arrays.stream(Alarm.Kind.values()).map(Alarm.Kind::notificationType).toArray(String[]::new);
        return new MBeanNotificationInfo[] {new MBeanNotificationInfo(types, Notification.class.getName(),
                "Romulus alarms: unprotected, protected again, fenced, failed, primary suspected, failover, witness, "
                + "switchover")};
    }

    @Activate
    public EngineMBeanImpl(@Reference ReplicationEngine engine) throws NotCompliantMBeanException, OpenDataException {
        super(EngineMBean.class, new NotificationBroadcasterSupport(notificationInfo()));
        this.engine = engine;
        engine.addAlarmListener(alarmListener);
        CompositeType row = new CompositeType("ProtectionStatus", "One protected domain on this node", MAP_ITEMS,
                new String[] {"domain and role", "state, epoch, interval, last pause, dirty pages, lag, peer, detail"},
                MAP_TYPES);
        this.statusType = new TabularType("ProtectionStatusTable", "Domains on this node", row,
                new String[] {"key"});
        CompositeType epoch = new CompositeType("EpochStats", "One checkpoint", EPOCH_ITEMS, EPOCH_ITEMS, EPOCH_TYPES);
        this.epochType = new TabularType("EpochStatsTable", "Recent checkpoints", epoch, new String[] {"epoch"});
        CompositeType alarm = new CompositeType("Alarm", "One alarm", MAP_ITEMS,
                new String[] {"number and time", "kind, domain: message"}, MAP_TYPES);
        this.alarmType = new TabularType("Alarms", "Recent alarms, numbered oldest first", alarm,
                new String[] {"key"});
    }

    /**
     * {@code sim:demo PRIMARY} = {@code PROTECTED, epoch 812, interval 25 ms, pause 310 µs, 120 dirty pages, lag 0,
     * peer 10.0.0.2:7480}, then the detail when there is one.
     */
    @Override
    public TabularData getStatus() throws MBeanException {
        try {
            TabularDataSupport table = new TabularDataSupport(statusType);
            for (ProtectionStatus s : engine.status()) {
                String interval = s.currentIntervalMs() > 0 && s.currentIntervalMs() != s.intervalMs()
                        ? s.currentIntervalMs() + " ms (set " + s.intervalMs() + " ms"
                                + (s.intervalReason() == null || s.intervalReason().isEmpty() ? ""
                                        : ": " + s.intervalReason()) + ")"
                        : s.intervalMs() + " ms";
                String line = String.format(Locale.ROOT,
                        "%s, epoch %d, interval %s, pause %d µs, %d dirty pages, lag %d, peer %s%s", s.state(),
                        s.epoch(), interval, s.lastPauseNanos() / 1000, s.dirtyPages(), s.lagEpochs(),
                        s.peer(), s.detail() == null || s.detail().isEmpty() ? "" : ", " + s.detail());
                Object[] values = {s.domain() + " " + s.role().name(), line};
                table.put(new CompositeDataSupport(statusType.getRowType(), MAP_ITEMS, values));
            }
            return table;
        } catch (OpenDataException | RuntimeException e) {
            throw new MBeanException(e, "status: " + e.getMessage());
        }
    }

    @Override
    public int getProtectedDomains() {
        return (int) engine.status().stream().filter(s -> s.role() == Role.PRIMARY).count();
    }

    @Override
    public TabularData epochs(String domain, int limit) throws MBeanException {
        try {
            TabularDataSupport table = new TabularDataSupport(epochType);
            List<EpochStats> epochs = engine.epochs(DomainId.parse(domain), limit <= 0 ? 20 : limit);
            for (EpochStats e : epochs) {
                PauseBreakdown b = e.breakdown();
                Object[] values = {e.epoch(), e.startedMillis(), e.runNanos() / 1000, e.dirtyPages(),
                    e.pauseNanos() / 1000, e.copyNanos() / 1000, e.rawBytes(), e.wireBytes(), e.compressionRatio(),
                    e.ackNanos() < 0 ? -1L : e.ackNanos() / 1000, b.stopNanos() / 1000, b.harvestNanos() / 1000,
                    b.deviceStateNanos() / 1000, b.diskBarrierNanos() / 1000, b.contNanos() / 1000,
                    b.handOffNanos() / 1000, b.otherNanos(e.pauseNanos()) / 1000,
                    e.cpuNanos() < 0 ? -1L : e.cpuNanos() / 1000, e.writeFaults()};
                table.put(new CompositeDataSupport(epochType.getRowType(), EPOCH_ITEMS, values));
            }
            return table;
        } catch (OpenDataException | RuntimeException e) {
            throw new MBeanException(e, "epochs " + domain + ": " + e.getMessage());
        }
    }

    @Override
    public String protect(String domain, String peer, int intervalMs, String options) throws MBeanException {
        try {
            ProtectRequest request = new ProtectRequest(DomainId.parse(domain), ProtectRequest.parsePeer(peer),
                    intervalMs, parseOptions(options));
            return engine.protect(request).toString();
        } catch (Exception e) {
            throw new MBeanException(e, "protect " + domain + ": " + e.getMessage());
        }
    }

    static Map<String, String> parseOptions(String options) {
        Map<String, String> map = new LinkedHashMap<>();
        if (options == null || options.isBlank()) {
            return map;
        }
        for (String pair : Arrays.asList(options.split(","))) {
            int eq = pair.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("option '" + pair.trim() + "' is not key=value");
            }
            map.put(pair.substring(0, eq).trim(), pair.substring(eq + 1).trim());
        }
        return map;
    }

    @Deactivate
    void deactivate() {
        engine.removeAlarmListener(alarmListener);
    }

    private void notify(Alarm alarm) {
        Notification n = new Notification(alarm.kind().notificationType(), this, sequence.incrementAndGet(),
                alarm.timeMillis(), alarm.domain() + ": " + alarm.message());
        n.setUserData(alarm.domain());
        sendNotification(n);
    }

    /** The last 50 alarms: {@code 01 2026-12-06T16:50:00Z} = {@code UNPROTECTED qemu:demo: message}. */
    @Override
    public TabularData getAlarms() throws MBeanException {
        try {
            TabularDataSupport table = new TabularDataSupport(alarmType);
            int n = 0;
            for (Alarm a : engine.alarms(50)) {
                Object[] values = {String.format(Locale.ROOT, "%02d %s", ++n, Instant.ofEpochMilli(a.timeMillis())),
                    a.kind() + " " + a.domain() + ": " + a.message()};
                table.put(new CompositeDataSupport(alarmType.getRowType(), MAP_ITEMS, values));
            }
            return table;
        } catch (OpenDataException | RuntimeException e) {
            throw new MBeanException(e, "alarms: " + e.getMessage());
        }
    }

    @Override
    public void unprotect(String domain) throws MBeanException {
        try {
            engine.unprotect(DomainId.parse(domain));
        } catch (Exception e) {
            throw new MBeanException(e, "unprotect " + domain + ": " + e.getMessage());
        }
    }

    @Override
    public String switchover(String domain) throws MBeanException {
        try {
            return engine.switchover(DomainId.parse(domain));
        } catch (Exception e) {
            throw new MBeanException(e, "switchover " + domain + ": " + e.getMessage());
        }
    }

    @Override
    public String failover(String domain) throws MBeanException {
        try {
            return engine.failover(DomainId.parse(domain)).toString();
        } catch (Exception e) {
            throw new MBeanException(e, "failover " + domain + ": " + e.getMessage());
        }
    }

    @Override
    public void setInterval(String domain, int intervalMs) throws MBeanException {
        try {
            engine.setInterval(DomainId.parse(domain), intervalMs);
        } catch (RuntimeException e) {
            throw new MBeanException(e, "interval " + domain + ": " + e.getMessage());
        }
    }
}
