package io.romulus.support.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.net.InetAddress;

import org.junit.jupiter.api.Test;

/** The host name is what the resolver says this host is called. */
class HostNameTest {

    @Test
    void theHostNameIsTheResolvers() throws Exception {
        String name = HostName.get();
        assertFalse(name.isBlank());
        assertEquals(InetAddress.getLocalHost().getHostName(), name);
        assertEquals(name, HostName.orElse("elsewhere"));
    }
}
