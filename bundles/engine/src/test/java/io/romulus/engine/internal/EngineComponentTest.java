package io.romulus.engine.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;

import io.romulus.api.engine.ReplicationEngine;

import org.junit.jupiter.api.Test;

/**
 * The engine's OSGi component hands every operation of {@link ReplicationEngine} to the engine: an operation the
 * interface gives a default for (as it does for those added in a minor version) would otherwise answer "not supported"
 * in Karaf while every test of {@link Engine} passes (romulus:switchover did, in the demo).
 */
class EngineComponentTest {

    @Test
    void everyOperationOfTheServiceReachesTheEngine() throws Exception {
        List<String> missing = new ArrayList<>();
        for (Method m : ReplicationEngine.class.getMethods()) {
            if (Modifier.isStatic(m.getModifiers())) {
                continue;
            }
            Method implemented = EngineComponent.class.getMethod(m.getName(), m.getParameterTypes());
            if (implemented.getDeclaringClass() != EngineComponent.class) {
                missing.add(m.getName());
            }
        }
        assertEquals(List.of(), missing, "EngineComponent does not implement these: the interface's defaults answer");
    }
}
