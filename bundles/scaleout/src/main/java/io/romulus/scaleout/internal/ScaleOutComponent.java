package io.romulus.scaleout.internal;

import java.util.List;
import java.util.function.Consumer;

import io.romulus.api.engine.Alarm;
import io.romulus.api.engine.ReplicationEngine;
import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.scaleout.ScaleOut;
import io.romulus.api.scaleout.ScalePair;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Modified;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.Designate;

/**
 * The {@link ScaleOut} service of a node: a {@link ScaleOutController} over this node's engine and HAProxy. It keeps
 * no state of its own (the balancer's backends and the engine's protections are the state), so an update of this
 * bundle, or of the engine, drops nothing.
 */
@Component(service = {ScaleOut.class, ScaleOutComponent.class}, configurationPid = "io.romulus.scaleout")
@Designate(ocd = ScaleOutConfig.class)
public final class ScaleOutComponent implements ScaleOut {

    private final ReplicationEngine engine;
    private final ScaleOutController controller;
    private final Consumer<Alarm> alarms;

    @Activate
    public ScaleOutComponent(@Reference ReplicationEngine engine, ScaleOutConfig config) {
        ScaleOutSettings s = ScaleOutSettings.of(config);
        this.engine = engine;
        this.controller = new ScaleOutController(s, engine, new HaproxyBalancer(s.balancerApi()));
        this.alarms = controller::onAlarm;
        engine.addAlarmListener(alarms);
    }

    /** New settings apply to the next command and alarm; a new {@code balancer.api} to the next call of HAProxy. */
    @Modified
    void modified(ScaleOutConfig config) {
        ScaleOutSettings s = ScaleOutSettings.of(config);
        controller.update(s, s.balancerApi().equals(controller.settings().balancerApi()) ? null
                : new HaproxyBalancer(s.balancerApi()));
    }

    @Deactivate
    void deactivate() {
        engine.removeAlarmListener(alarms);
    }

    public ScaleOutSettings settings() {
        return controller.settings();
    }

    @Override
    public List<ScalePair> scale(DomainId domain, int pairs) throws Exception {
        return controller.scale(domain, pairs);
    }

    @Override
    public List<ScalePair> pairs() throws Exception {
        return controller.pairs();
    }

    @Override
    public boolean isReadOnly(DomainId domain) {
        return controller.isReadOnly(domain);
    }
}
