package io.romulus.xen.internal.image;

/**
 * Constants of Xen's domain image formats (libxc migration stream v3, libxl stream v2, libvirt's libxl header), as
 * docs/specs/libxc-migration-stream.pandoc and libxl-migration-stream.pandoc define them, and the one record type
 * Romulus adds.
 */
public final class StreamFormat {

    /**
     * Domain header type: x86 HVM. libxc writes it for every domain Xen runs as an HVM container, PVH included, and
     * its HVM restore refuses any other type; so the image's domain header carries it for both HVM and PVH domains.
     */
    public static final int DOMAIN_X86_HVM = 2;
    /**
     * Romulus's mark for an x86 PVH domain in {@link XenDeviceState#domainType()}. It is not a domain header type:
     * libxc defines none for PVH (only PV = 1 and HVM = 2) and saves PVH domains as {@link #DOMAIN_X86_HVM}.
     */
    public static final int DOMAIN_X86_PVH = 3;

    /** Page size of x86 guests, as a power of two (the domain header's {@code page_shift}). */
    public static final int PAGE_SHIFT = 12;
    /** Page size of x86 guests in bytes. */
    public static final int PAGE_SIZE = 1 << PAGE_SHIFT;

    // libvirt's libxl save header (src/libxl/libxl_conf.h: LIBXL_SAVE_MAGIC, struct _libxlSavefileHeader)

    /** {@code "libvirt-xml\n \0 \r"}, the first 16 bytes of a libvirt libxl save image. */
    static final byte[] LIBVIRT_MAGIC = {'l', 'i', 'b', 'v', 'i', 'r', 't', '-', 'x', 'm', 'l', '\n', ' ', 0, ' ', '\r'};
    /** {@code LIBXL_SAVE_VERSION} of a libvirt built against libxl with migration stream v2. */
    static final int LIBVIRT_SAVE_VERSION = 2;
    /** Size of the libvirt header: magic, version, xmlLen and ten unused words. */
    static final int LIBVIRT_HEADER_SIZE = 64;

    // libxl stream v2

    /** {@code "LibxlFmt"}, big-endian. */
    static final long LIBXL_IDENT = 0x4c6962786c466d74L;
    static final int LIBXL_VERSION = 2;
    /** ident (8), version (4), options (4). */
    static final int LIBXL_HEADER_SIZE = 16;
    static final int LIBXL_REC_END = 0;
    static final int LIBXL_REC_LIBXC_CONTEXT = 1;
    static final int LIBXL_REC_EMULATOR_XENSTORE_DATA = 2;
    static final int LIBXL_REC_EMULATOR_CONTEXT = 3;
    /** Emulator id of QEMU upstream in the emulator records' sub-header. */
    static final int EMULATOR_QEMU_UPSTREAM = 2;

    // libxc stream v3

    static final long IHDR_MARKER = 0xffffffffffffffffL;
    /** {@code "XENF"}. */
    static final int IHDR_ID = 0x58454e46;
    static final int IHDR_VERSION = 3;
    /** marker (8), id (4), version (4), options (2), reserved (2 + 4). */
    static final int IMAGE_HEADER_SIZE = 24;
    /** type (4), page_shift (2), reserved (2), xen_major (4), xen_minor (4). */
    static final int DOMAIN_HEADER_SIZE = 16;

    static final int REC_END = 0x00;
    static final int REC_PAGE_DATA = 0x01;
    static final int REC_X86_TSC_INFO = 0x08;
    static final int REC_HVM_CONTEXT = 0x09;
    static final int REC_HVM_PARAMS = 0x0a;
    static final int REC_STATIC_DATA_END = 0x10;
    static final int REC_X86_CPUID_POLICY = 0x11;
    static final int REC_X86_MSR_POLICY = 0x12;
    /** Bit 31 of a record type: the record is optional, a restore that does not know it skips it. */
    static final int REC_OPTIONAL = 0x8000_0000;
    /**
     * Romulus's padding record: optional (bit 31), the low bytes spell {@code "ROM"}; its body is zeros. It fills the
     * fixed-capacity static data region and aligns each region's page data to a page boundary of the file; libxc
     * restore ignores it ({@code Ignoring optional record}).
     */
    static final int REC_ROMULUS_PADDING = REC_OPTIONAL | 0x524f4d;

    /** Record header: type (4), body_length (4). */
    static final int RECORD_HEADER_SIZE = 8;
    /** Records end on a multiple of 8 bytes. */
    static final int RECORD_ALIGN = 8;
    /** libxc restore refuses a record whose body is longer ({@code REC_LENGTH_MAX}, 128 MiB). */
    static final int RECORD_LENGTH_MAX = 128 << 20;
    /** libxc restore's {@code MAX_BATCH_SIZE}: pages in one {@code PAGE_DATA} record at the most. */
    static final int MAX_BATCH_SIZE = 1024;
    /** {@code PAGE_DATA} header: count (4), reserved (4). */
    static final int PAGE_DATA_HEADER_SIZE = 8;
    /** Bits 51-0 of a {@code PAGE_DATA} pfn entry; the type ({@code XEN_DOMCTL_PFINFO_NOTAB} = 0) is in bits 63-60. */
    static final long PFN_MASK = 0x000f_ffff_ffff_ffffL;
    /** {@code X86_TSC_INFO} body: mode, khz, nsec, incarnation, reserved. */
    static final int TSC_INFO_SIZE = 24;
    /** {@code HVM_PARAMS} header: count (4), reserved (4); each entry is index (8), value (8). */
    static final int HVM_PARAMS_HEADER_SIZE = 8;
    /** Emulator records' sub-header: emulator_id (4), index (4). */
    static final int EMULATOR_HEADER_SIZE = 8;

    private StreamFormat() {
    }
}
