package io.romulus.scaleout.internal.management;

import java.util.List;

import javax.management.MBeanException;
import javax.management.NotCompliantMBeanException;
import javax.management.StandardMBean;

import io.romulus.api.hypervisor.DomainId;
import io.romulus.api.management.ScaleOutMBean;
import io.romulus.api.scaleout.ScalePair;
import io.romulus.scaleout.internal.ScaleOutComponent;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/** {@code io.romulus:type=ScaleOut,name=scaleout}: a thin adapter over {@link ScaleOutComponent}. */
@Component(service = {ScaleOutMBean.class, javax.management.DynamicMBean.class},
        property = "jmx.objectname=io.romulus:type=ScaleOut,name=scaleout")
public class ScaleOutMBeanImpl extends StandardMBean implements ScaleOutMBean {

    private final ScaleOutComponent scaleOut;

    @Activate
    public ScaleOutMBeanImpl(@Reference ScaleOutComponent scaleOut) throws NotCompliantMBeanException {
        super(ScaleOutMBean.class);
        this.scaleOut = scaleOut;
    }

    @Override
    public String[] getPairs() throws MBeanException {
        try {
            return lines(scaleOut.pairs());
        } catch (Exception e) {
            throw new MBeanException(e, e.getMessage());
        }
    }

    @Override
    public String[] getReadOnlyDomains() {
        return scaleOut.settings().readOnly().stream().sorted().toArray(String[]::new);
    }

    @Override
    public String[] scale(String domain, int pairs) throws MBeanException {
        try {
            return lines(scaleOut.scale(DomainId.parse(domain), pairs));
        } catch (Exception e) {
            // an exception of the JDK only, so that a remote client without Romulus classes can read it
            throw new MBeanException(new Exception(e.getMessage()), e.getMessage());
        }
    }

    static String[] lines(List<ScalePair> pairs) {
        return pairs.stream().map(p -> p.origin() + " pair " + p.pair() + " " + p.domain() + " " + p.server() + " "
                + p.address() + " " + p.balancer() + " " + p.protection()).toArray(String[]::new);
    }
}
