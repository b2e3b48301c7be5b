package io.romulus.engine.internal.management;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.reflect.Proxy;
import java.util.List;

import javax.management.openmbean.CompositeData;
import javax.management.openmbean.TabularData;

import io.romulus.api.engine.EpochStats;
import io.romulus.api.engine.PauseBreakdown;
import io.romulus.api.engine.ReplicationEngine;

import org.junit.jupiter.api.Test;

/** The Engine MBean's {@code epochs} operation: a row per checkpoint, with the pause's breakdown. */
class EngineMBeanEpochsTest {

    @Test
    void epochsShowWhereEachPauseWent() throws Exception {
        EpochStats stats = new EpochStats(41, 1_000, 25_000_000, 120, 640_000, 300_000, 491_520, 40_960, 3_200_000,
                new PauseBreakdown(111_000, 22_000, 300_000, 133_000, 4_000, 55_000, 6_000), 1_250_000, 118);
        ReplicationEngine engine = (ReplicationEngine) Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {ReplicationEngine.class},
                (proxy, method, args) -> method.getName().equals("epochs") ? List.of(stats) : null);
        TabularData table = new EngineMBeanImpl(engine).epochs("sim:demo", 5);
        CompositeData row = table.get(new Object[] {41L});
        assertEquals(640L, row.get("pauseMicros"));
        assertEquals(111L, row.get("stopMicros"));
        assertEquals(22L, row.get("harvestMicros"));
        assertEquals(300L, row.get("copyMicros"));
        assertEquals(133L, row.get("deviceStateMicros"));
        assertEquals(4L, row.get("diskBarrierMicros"));
        assertEquals(55L, row.get("contMicros"));
        assertEquals(6L, row.get("handOffMicros"));
        assertEquals(9L, row.get("otherMicros"), "what no part covers: 640 - 631");
        assertEquals(3_200L, row.get("ackMicros"));
        assertEquals(1_250L, row.get("cpuMicros"));
        assertEquals(118L, row.get("writeFaults"));
    }
}
