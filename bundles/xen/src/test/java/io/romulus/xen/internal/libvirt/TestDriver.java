package io.romulus.xen.internal.libvirt;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A private instance of libvirt's test driver: {@code test:///PATH} reads a node description with the domains we
 * want (an HVM guest with a Xen-style vif and disk, a PVH guest, a PV guest, a defined but stopped one). Each domain
 * has a UUID of its own that stays the same across connections, as a real domain's does.
 */
public final class TestDriver {

    private TestDriver() {
    }

    public static String uri(Path dir) throws IOException {
        Path node = dir.resolve("node.xml");
        Files.writeString(node, """
                <node>
                  <cpu><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads><mhz>2000</mhz></cpu>
                  <memory>8388608</memory>
                  %s
                  %s
                  %s
                  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
                    <name>stopped</name>
                    <memory>131072</memory>
                    <os><type>hvm</type></os>
                    <on_poweroff>destroy</on_poweroff>
                    <test:runstate>5</test:runstate>
                  </domain>
                </node>
                """.formatted(domain("legacy-db", "hvm", "00:16:3e:12:34:56", "vif-db"),
                        domain("pvh-guest", "xenpvh", "00:16:3e:00:00:02", "vif-pvh"),
                        domain("pv-guest", "linux", "00:16:3e:00:00:03", "vif-pv")));
        return "test://" + node.toAbsolutePath();
    }

    static String domain(String name, String os, String mac, String vif) {
        return """
                <domain type='test'>
                  <name>%s</name>
                  <uuid>%s</uuid>
                  <memory>262144</memory>
                  <currentMemory>262144</currentMemory>
                  <vcpu>2</vcpu>
                  <os><type>%s</type></os>
                  <on_poweroff>destroy</on_poweroff>
                  <devices>
                    <disk type='file' device='disk'>
                      <source file='/var/lib/xen/images/%s.img'/>
                      <target dev='xvda' bus='xen'/>
                    </disk>
                    <disk type='file' device='cdrom'>
                      <target dev='hdc' bus='ide'/>
                    </disk>
                    <interface type='bridge'>
                      <mac address='%s'/>
                      <source bridge='xenbr0'/>
                      <target dev='%s'/>
                    </interface>
                  </devices>
                </domain>
                """.formatted(name, java.util.UUID.nameUUIDFromBytes(name.getBytes(java.nio.charset.StandardCharsets.UTF_8)),
                        os, name, mac, vif);
    }
}
