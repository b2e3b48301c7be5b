package io.romulus.qemu.internal.vm;

import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * One disk of a VM as its definition gives it (keys {@code disk.N.*}): an image file of the primary host, how the
 * guest sees it, and how QEMU attaches it. On the backup the file is not used: the disk replicator's copy is.
 *
 * @param file     absolute path of the image on the primary host
 * @param format   {@code raw} or {@code qcow2} (a qcow2 image is converted to raw once: Romulus serves raw images)
 * @param bus      {@code virtio}, {@code sata} or {@code ide}
 * @param dev      the guest-side name ({@code vda}, {@code sda}, {@code hda}, ...)
 * @param readOnly whether the guest may only read it
 * @param discard  {@code unmap} (the guest's discards reach the image) or {@code ignore}
 */
public record VmDisk(String file, String format, String bus, String dev, boolean readOnly, String discard) {

    static final Set<String> FORMATS = Set.of("raw", "qcow2");
    static final Set<String> BUSES = Set.of("virtio", "sata", "ide");
    private static final Pattern DEV = Pattern.compile("(vd|sd|hd)[a-z]{1,2}");

    public VmDisk {
        format = format.toLowerCase(Locale.ROOT);
        bus = bus.toLowerCase(Locale.ROOT);
        if (file.isEmpty() || !file.startsWith("/")) {
            throw new IllegalArgumentException("a disk's file must be an absolute path, not '" + file + "'");
        }
        if (!FORMATS.contains(format)) {
            throw new IllegalArgumentException("a disk's format must be raw or qcow2, not '" + format + "'");
        }
        if (!BUSES.contains(bus)) {
            throw new IllegalArgumentException("a disk's bus must be virtio, sata or ide, not '" + bus + "'");
        }
        if (!DEV.matcher(dev).matches()) {
            throw new IllegalArgumentException("a disk's dev must be a name such as vda, sda or hda, not '" + dev + "'");
        }
        if (!discard.equals("unmap") && !discard.equals("ignore")) {
            throw new IllegalArgumentException("a disk's discard must be unmap or ignore, not '" + discard + "'");
        }
    }

    /** The disk's index on its bus from its name: {@code vda}, {@code sda}, {@code hda} are 0, {@code vdb} 1, ... */
    public int unit() {
        String letters = dev.substring(2);
        int n = 0;
        for (int i = 0; i < letters.length(); i++) {
            n = n * 26 + (letters.charAt(i) - 'a' + 1);
        }
        return n - 1;
    }
}
