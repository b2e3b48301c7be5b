package io.romulus.xen.internal;

import java.nio.file.Path;

/**
 * The Xen binding's settings, usable without OSGi.
 *
 * @param libvirtUri        libvirt's URI for this host
 * @param imageDir          where replica images live
 * @param deviceModelQmp    the device model's QMP socket, {@code %d} for the domid
 * @param deviceModelState  the device model's state file, {@code %d} for the domid
 */
public record XenSettings(String libvirtUri, Path imageDir, String deviceModelQmp, String deviceModelState) {

    /** The defaults of a Xen dom0 (those of etc/io.romulus.xen.cfg). */
    public static XenSettings defaults() {
        return new XenSettings("xen:///system", Path.of("/var/lib/romulus/xen"), "/var/run/xen/qmp-libxl-%d",
                "/dev/shm/romulus-xen-dm-%d");
    }

    public XenSettings withImageDir(Path dir) {
        return new XenSettings(libvirtUri, dir, deviceModelQmp, deviceModelState);
    }

    public static XenSettings of(XenConfig c) {
        return new XenSettings(c.libvirt_uri(), Path.of(c.image_dir()), c.device_model_qmp(), c.device_model_state());
    }

    public XenSettings {
        if (libvirtUri == null || libvirtUri.isBlank()) {
            throw new IllegalArgumentException("libvirt.uri is empty; on a Xen host it is xen:///system");
        }
        for (String t : new String[] {deviceModelQmp, deviceModelState}) {
            if (t == null || !t.contains("%d")) {
                throw new IllegalArgumentException("'" + t + "' must contain %d, the place of the domid");
            }
        }
    }

    Path qmpSocket(int domid) {
        return Path.of(String.format(deviceModelQmp, domid));
    }

    Path stateFile(int domid) {
        return Path.of(String.format(deviceModelState, domid));
    }
}
