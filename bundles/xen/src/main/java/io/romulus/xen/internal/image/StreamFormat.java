package io.romulus.xen.internal.image;

/** Constants of Xen's domain image formats (libxc migration stream v3, libxl stream v2, libvirt's libxl header). */
public final class StreamFormat {

    /** Domain header type: x86 HVM. */
    public static final int DOMAIN_X86_HVM = 2;
    /** Domain header type: x86 PVH. */
    public static final int DOMAIN_X86_PVH = 3;

    private StreamFormat() {
    }
}
