package io.romulus.hawtio.internal;

import javax.management.DynamicMBean;
import javax.management.NotCompliantMBeanException;
import javax.management.StandardMBean;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.http.HttpService;
import org.osgi.service.http.NamespaceException;

/**
 * The Romulus view in Hawtio: serves the plugin's script at {@value #CONTEXT} (from the bundle's
 * {@value #RESOURCES} folder, through the HttpService of Karaf's {@code http} feature) and, as the MBean
 * {@code hawtio:type=plugin,name=romulus} (a service with {@code jmx.objectname}, Karaf's JMX whiteboard), tells
 * Hawtio 2 to load it.
 */
@Component(service = {HawtioPluginMBean.class, DynamicMBean.class},
        property = "jmx.objectname=hawtio:type=plugin,name=" + HawtioPlugin.NAME)
public class HawtioPlugin extends StandardMBean implements HawtioPluginMBean {

    static final String NAME = "romulus";
    static final String CONTEXT = "/romulus-hawtio";
    static final String RESOURCES = "/hawtio-plugin";
    static final String SCRIPT = "romulus.js";

    private final HttpService http;

    @Activate
    public HawtioPlugin(@Reference HttpService http) throws NotCompliantMBeanException, NamespaceException {
        super(HawtioPluginMBean.class);
        this.http = http;
        // the default context: resources come from this bundle, anyone may fetch them (the data comes through
        // Hawtio's Jolokia, behind its login and the JMX ACLs)
        http.registerResources(CONTEXT, RESOURCES, null);
    }

    @Deactivate
    void deactivate() {
        http.unregister(CONTEXT);
    }

    @Override
    public String getName() {
        return NAME;
    }

    @Override
    public String getContext() {
        return CONTEXT;
    }

    @Override
    public String getDomain() {
        return "io.romulus";
    }

    @Override
    public String[] getScripts() {
        return new String[] {SCRIPT};
    }
}
