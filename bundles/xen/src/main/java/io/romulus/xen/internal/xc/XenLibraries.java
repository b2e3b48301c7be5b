package io.romulus.xen.internal.xc;

import static io.romulus.support.linux.Errno.EACCES;
import static io.romulus.support.linux.Errno.EPERM;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;
import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The four Xen 4.17 libraries {@link NativeXenControl} calls, loaded and checked: every function their interfaces
 * declare is resolved at load, so that a missing library, or one of another Xen version, fails at once naming the
 * Debian package to install; and, when the control interface cannot be opened, why, in a user's words (no Xen under
 * this kernel, a guest and not dom0, a module or a permission missing).
 */
record XenLibraries(LibXenCtrl ctrl, LibXenGuest guest, LibXenForeignMemory fmem, LibXenStore store) {

    static final String LIBXENCTRL = "libxenctrl.so.4.17";
    static final String LIBXENGUEST = "libxenguest.so.4.17";
    static final String LIBXENFOREIGNMEMORY = "libxenforeignmemory.so.1";
    static final String LIBXENSTORE = "libxenstore.so.4";

    static final Path PROC_XEN_CAPABILITIES = Path.of("/proc/xen/capabilities");
    static final Path DEV_XEN_PRIVCMD = Path.of("/dev/xen/privcmd");

    /**
     * Loads the four libraries and resolves every function their interfaces declare, so that a missing library or
     * a library of another Xen version fails here, with the Debian package to install, and not at the first call.
     */
    static XenLibraries load() throws XenCallException {
        if (!Platform.isLinux() || !Platform.isIntel() || !Platform.is64Bit()) {
            throw new XenCallException("the Xen binding supports Linux on x86-64, not " + System.getProperty("os.name")
                    + " on " + Platform.ARCH, 0);
        }
        return new XenLibraries(
                load(LIBXENCTRL, "libxenmisc4.17", LibXenCtrl.class, Map.of()),
                load(LIBXENGUEST, "libxenmisc4.17", LibXenGuest.class, Map.of()),
                load(LIBXENFOREIGNMEMORY, "libxenforeignmemory1", LibXenForeignMemory.class, Map.of()),
                load(LIBXENSTORE, "libxenstore4", LibXenStore.class,
                        Map.of(Library.OPTION_STRING_ENCODING, StandardCharsets.UTF_8.name())));
    }

    static <T extends Library> T load(String soname, String debianPackage, Class<T> type,
                                              Map<String, ?> options) throws XenCallException {
        NativeLibrary library;
        try {
            library = NativeLibrary.getInstance(soname, options);
        } catch (UnsatisfiedLinkError e) {
            throw new XenCallException(soname + " not found: install Debian package " + debianPackage
                    + " (" + e.getMessage() + ")", e);
        } catch (LinkageError e) {
            throw new XenCallException("cannot load " + soname + " through JNA (is the JNA bundle installed?): "
                    + e.getMessage(), e);
        }
        for (Method method : type.getMethods()) {
            try {
                library.getFunction(method.getName());
            } catch (UnsatisfiedLinkError e) {
                throw new XenCallException(soname + " has no " + method.getName() + ": it is not the Xen 4.17 library"
                        + " this binding is written for (Debian package " + debianPackage + ")", e);
            }
        }
        return Native.load(soname, type, options);
    }

    /**
     * Why {@code xc_interface_open} failed, in a user's words: on a host without a Xen hypervisor neither
     * {@code /proc/xen/capabilities} nor {@code /dev/xen/privcmd} exists; in a domU the capabilities lack
     * {@code control_d}; in dom0 the module or the permissions may be missing.
     */
    static String notRunningOnXen(Path capabilities, Path privcmd, int errno) {
        boolean hasCapabilities = Files.exists(capabilities);
        boolean hasPrivcmd = Files.exists(privcmd);
        if (!hasCapabilities && !hasPrivcmd) {
            return "this host is not running on Xen: " + capabilities + " and " + privcmd + " do not exist (no Xen"
                    + " hypervisor under this kernel); Romulus' Xen binding must run in dom0 of a host booted with Xen";
        }
        String caps = null;
        if (hasCapabilities) {
            try {
                caps = Files.readString(capabilities, StandardCharsets.US_ASCII).trim();
            } catch (IOException e) {
                caps = null;
            }
        }
        if (caps != null && !caps.contains("control_d")) {
            return "this host is not running as Xen's control domain: " + capabilities + " says \"" + caps
                    + "\", without control_d (a Xen guest, not dom0); Romulus' Xen binding must run in dom0";
        }
        if (!hasPrivcmd) {
            return "this host is not running on Xen as far as this kernel can tell: " + privcmd + " does not exist"
                    + (hasCapabilities ? " although " + capabilities + " does (load the xen-privcmd module)" : "");
        }
        if (!hasCapabilities) {
            return "cannot open the Xen control interface " + privcmd + "; " + capabilities
                    + " does not exist (is xenfs mounted on /proc/xen?)";
        }
        if (errno == EACCES || errno == EPERM) {
            return "permission denied on " + privcmd + ": Romulus' Xen binding must run as root in dom0";
        }
        return "cannot open the Xen control interface " + privcmd + " although this is dom0";
    }
}
