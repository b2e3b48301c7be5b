package io.romulus.engine.internal.management;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.management.MBeanAttributeInfo;
import javax.management.MBeanException;
import javax.management.NotCompliantMBeanException;
import javax.management.StandardMBean;

import com.google.errorprone.annotations.concurrent.GuardedBy;

import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.OutputStatus;
import io.romulus.api.engine.ProtectionState;
import io.romulus.api.engine.ProtectionStatus;
import io.romulus.api.engine.ReplicationEngine;
import io.romulus.api.engine.Role;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.management.ProtectionMBean;

/**
 * {@code io.romulus:type=Protection,domain="binding:name"}: one domain of {@link ReplicationEngine#status()}, with
 * the rates of its recent checkpoints. Hawtio reads every attribute in one request, so the attributes come from one
 * snapshot of the engine, taken at most every {@value #SNAPSHOT_MILLIS} ms.
 */
public class ProtectionMBeanImpl extends StandardMBean implements ProtectionMBean {

    static final long SNAPSHOT_MILLIS = 250;
    /** The window of the rates and pause statistics. */
    static final long WINDOW_MILLIS = 5000;
    private static final int HISTORY = 512;
    private static final Pattern COPY_PERCENT = Pattern.compile("initial copy (\\d+)%");
    /** What JMX consoles (Hawtio) show beside the attributes whose name does not say enough. */
    private static final Map<String, String> DESCRIPTIONS = Map.of(
            "EngineCpuMicrosPerCheckpoint", "The engine's own CPU time per checkpoint on this node, µs, median over"
                    + " the last 5 s (-1 while not known). Primary: the epoch loop's and the sender's threads; backup:"
                    + " the thread that receives the stream, decrypts and decodes it, stages the pages, applies and"
                    + " commits the checkpoint and sends the ACK.",
            "EngineCpuMillisPerSecond", "The engine's own CPU time per second on this node, ms, over the"
                    + " checkpoints of the last 5 s (10 ms a second is 1% of a core; -1 while not known).");

    private final ReplicationEngine engine;
    private final DomainId domain;

    @GuardedBy("this")
    private Snapshot snapshot;
    /** A backup's checkpoint rate: from the committed epoch's growth since {@link #baseNanos}. */
    @GuardedBy("this")
    private long baseNanos;
    @GuardedBy("this")
    private long baseEpoch = -1;
    @GuardedBy("this")
    private double backupRate;

    /** What the attributes show: the domain's status row ({@code null} once it is gone) and what goes with it. */
    private record Snapshot(long takenNanos, ProtectionStatus row, EpochWindow window, long heldPackets,
            long heldBytes, String lastAlarm) {
    }

    public ProtectionMBeanImpl(ReplicationEngine engine, DomainId domain) throws NotCompliantMBeanException {
        super(ProtectionMBean.class);
        this.engine = engine;
        this.domain = domain;
    }

    private synchronized Snapshot snapshot() {
        long now = System.nanoTime();
        if (snapshot != null && now - snapshot.takenNanos() < SNAPSHOT_MILLIS * 1_000_000) {
            return snapshot;
        }
        ProtectionStatus row = ProtectionMBeans.row(engine.status(), domain.toString());
        EpochWindow window = EpochWindow.EMPTY;
        if (row != null && row.role() == Role.PRIMARY) {
            window = EpochWindow.of(epochs(), System.currentTimeMillis(), WINDOW_MILLIS);
        } else if (row != null) {
            window = new EpochWindow(backupRate(now, row.epoch()), 0, 0, 0, 0, 0, 1.0, -1);
        }
        long packets = 0;
        long bytes = 0;
        for (OutputStatus o : engine.outputs()) {
            if (o.domain().equals(domain.toString())) {
                packets += o.stats().packetsQueued();
                bytes += o.stats().bytesQueued();
            }
        }
        String last = engine.alarms(Integer.MAX_VALUE).stream().filter(a -> a.domain().equals(domain.toString()))
                .reduce((a, b) -> b).map(ProtectionMBeanImpl::line).orElse("");
        snapshot = new Snapshot(now, row, window, packets, bytes, last);
        return snapshot;
    }

    @Override
    protected String getDescription(MBeanAttributeInfo info) {
        return DESCRIPTIONS.getOrDefault(info.getName(), super.getDescription(info));
    }

    private List<EpochStats> epochs() {
        try {
            return engine.epochs(domain, HISTORY);
        } catch (IllegalArgumentException e) { // no longer primary here, between status() and now
            return List.of();
        }
    }

    @GuardedBy("this")
    private double backupRate(long nowNanos, long epoch) {
        if (baseEpoch < 0 || epoch < baseEpoch) {
            baseEpoch = epoch;
            baseNanos = nowNanos;
        } else if (nowNanos - baseNanos >= 1_000_000_000L) {
            backupRate = (epoch - baseEpoch) * 1e9 / (nowNanos - baseNanos);
            baseEpoch = epoch;
            baseNanos = nowNanos;
        }
        return backupRate;
    }

    static String line(Alarm a) {
        return Instant.ofEpochMilli(a.timeMillis()) + " " + a.kind() + ": " + a.message();
    }

    /** The initial copy's progress: what the detail tells while SYNCING, 0 before, 100 after. */
    static int initialSyncPercent(ProtectionState state, String detail) {
        if (state == ProtectionState.CONNECTING) {
            return 0;
        }
        if (state != ProtectionState.SYNCING) {
            return 100;
        }
        Matcher m = COPY_PERCENT.matcher(detail);
        if (m.find()) {
            return Integer.parseInt(m.group(1));
        }
        return detail.contains("initial copy sent") || detail.contains("initial copy received") ? 100 : 0;
    }

    @Override
    public String getDomain() {
        return domain.toString();
    }

    @Override
    public String getRole() {
        ProtectionStatus r = snapshot().row();
        return r == null ? "" : r.role().name();
    }

    @Override
    public String getState() {
        ProtectionStatus r = snapshot().row();
        return r == null ? ProtectionState.STOPPED.name() : r.state().name();
    }

    @Override
    public String getPeer() {
        ProtectionStatus r = snapshot().row();
        return r == null ? "" : r.peer();
    }

    @Override
    public String getDetail() {
        ProtectionStatus r = snapshot().row();
        return r == null ? "" : r.detail();
    }

    @Override
    public long getEpoch() {
        ProtectionStatus r = snapshot().row();
        return r == null ? 0 : r.epoch();
    }

    @Override
    public double getCheckpointsPerSecond() {
        return snapshot().window().checkpointsPerSecond();
    }

    @Override
    public int getIntervalMs() {
        ProtectionStatus r = snapshot().row();
        return r == null ? 0 : r.intervalMs();
    }

    @Override
    public int getCurrentIntervalMs() {
        ProtectionStatus r = snapshot().row();
        return r == null ? 0 : r.currentIntervalMs();
    }

    @Override
    public String getIntervalReason() {
        ProtectionStatus r = snapshot().row();
        return r == null ? "" : r.intervalReason();
    }

    @Override
    public void setIntervalMs(int intervalMs) throws MBeanException {
        try {
            engine.setInterval(domain, intervalMs);
        } catch (RuntimeException e) {
            throw new MBeanException(e, "interval " + domain + ": " + e.getMessage());
        }
    }

    @Override
    public long getLastPauseMicros() {
        ProtectionStatus r = snapshot().row();
        return r == null ? 0 : r.lastPauseNanos() / 1000;
    }

    @Override
    public double getMeanPauseMicros() {
        return snapshot().window().meanPauseMicros();
    }

    @Override
    public long getP99PauseMicros() {
        return snapshot().window().p99PauseMicros();
    }

    @Override
    public double getDirtyPagesPerSecond() {
        return snapshot().window().dirtyPagesPerSecond();
    }

    @Override
    public double getRawBytesPerSecond() {
        return snapshot().window().rawBytesPerSecond();
    }

    @Override
    public double getWireBytesPerSecond() {
        return snapshot().window().wireBytesPerSecond();
    }

    @Override
    public double getCompressionRatio() {
        return snapshot().window().compressionRatio();
    }

    @Override
    public long getAckLatencyMicros() {
        return snapshot().window().ackMicros();
    }

    @Override
    public long getEngineCpuMicrosPerCheckpoint() {
        ProtectionStatus r = snapshot().row();
        return r == null || !r.engineCpu().known() ? -1 : r.engineCpu().perCheckpointNanos() / 1000;
    }

    @Override
    public double getEngineCpuMillisPerSecond() {
        ProtectionStatus r = snapshot().row();
        return r == null || !r.engineCpu().known() ? -1 : r.engineCpu().perSecondNanos() / 1e6;
    }

    @Override
    public long getLagEpochs() {
        ProtectionStatus r = snapshot().row();
        return r == null ? 0 : r.lagEpochs();
    }

    @Override
    public long getOutputHeldPackets() {
        return snapshot().heldPackets();
    }

    @Override
    public long getOutputHeldBytes() {
        return snapshot().heldBytes();
    }

    @Override
    public int getInitialSyncPercent() {
        ProtectionStatus r = snapshot().row();
        return r == null ? 0 : initialSyncPercent(r.state(), r.detail());
    }

    @Override
    public String getLastAlarm() {
        return snapshot().lastAlarm();
    }

    @Override
    public String switchover() throws MBeanException {
        try {
            return engine.switchover(domain);
        } catch (Exception e) {
            throw new MBeanException(e, "switchover " + domain + ": " + e.getMessage());
        }
    }

    @Override
    public String failover() throws MBeanException {
        try {
            return engine.failover(domain).toString();
        } catch (Exception e) {
            throw new MBeanException(e, "failover " + domain + ": " + e.getMessage());
        }
    }

    @Override
    public void unprotect() throws MBeanException {
        try {
            engine.unprotect(domain);
        } catch (Exception e) {
            throw new MBeanException(e, "unprotect " + domain + ": " + e.getMessage());
        }
    }
}
