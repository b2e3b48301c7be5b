package io.romulus.hawtio.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import javax.management.Attribute;
import javax.management.AttributeList;
import javax.management.MBeanServer;
import javax.management.MBeanServerFactory;
import javax.management.ObjectName;

import org.junit.jupiter.api.Test;
import org.osgi.service.http.HttpService;

/**
 * The plugin as Hawtio 2's {@code /hawtio/plugin} servlet reads it (the attributes Context, Domain, Name and Scripts
 * of every {@code hawtio:type=plugin,name=*}), and the script it names, served from the bundle.
 */
class HawtioPluginTest {

    @Test
    void announcesTheScriptItServes() throws Exception {
        List<String> calls = new ArrayList<>();
        HttpService http = (HttpService) Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {HttpService.class}, (proxy, method, args) -> {
                    calls.add(method.getName() + " " + args[0] + (args.length > 1 ? " " + args[1] : ""));
                    return null;
                });
        HawtioPlugin plugin = new HawtioPlugin(http);
        assertEquals(List.of("registerResources /romulus-hawtio /hawtio-plugin"), calls);

        MBeanServer server = MBeanServerFactory.newMBeanServer();
        server.registerMBean(plugin, new ObjectName("hawtio:type=plugin,name=romulus"));
        AttributeList read = server.getAttributes(new ObjectName("hawtio:type=plugin,name=romulus"),
                new String[] {"Context", "Domain", "Name", "Scripts"});
        assertEquals(4, read.size(), "the servlet ignores a plugin that lacks one of them");
        List<Attribute> attributes = read.asList();
        assertEquals("/romulus-hawtio", attributes.get(0).getValue());
        assertEquals("io.romulus", attributes.get(1).getValue());
        assertEquals("romulus", attributes.get(2).getValue());
        assertArrayEquals(new String[] {"romulus.js"}, (String[]) attributes.get(3).getValue());

        // what Hawtio fetches: Context + "/" + script, from the bundle's resource folder
        String script = resource(HawtioPlugin.RESOURCES + "/" + plugin.getScripts()[0]);
        assertTrue(script.contains("hawtioPluginLoader.addModule(MODULE)"), "registers its Angular module");
        assertTrue(script.contains("mainNavService.addItem"), "adds the Romulus tab");

        plugin.deactivate();
        assertEquals("unregister /romulus-hawtio", calls.get(1));
    }

    private static String resource(String path) throws IOException {
        try (InputStream in = HawtioPlugin.class.getResourceAsStream(path)) {
            assertNotNull(in, path);
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
