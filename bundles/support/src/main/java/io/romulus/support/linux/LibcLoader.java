package io.romulus.support.linux;

import com.sun.jna.Native;
import com.sun.jna.Platform;

/** Loads {@link LibC} through JNA, once per bundle that embeds this package, on 64-bit Linux only. */
public final class LibcLoader {

    private static final Object LOCK = new Object();
    private static volatile LibC instance;

    private LibcLoader() {
    }

    /**
     * libc, loaded on the first call.
     *
     * @param neededFor what needs it, in the domain's words ({@code netlink output buffering}), for the message when
     *                  it cannot be loaded
     * @throws NativeCallException where this is not 64-bit Linux or JNA cannot load libc
     */
    public static LibC load(String neededFor) throws NativeCallException {
        LibC result = instance;
        if (result != null) {
            return result;
        }
        synchronized (LOCK) {
            if (instance == null) {
                if (!Platform.isLinux()) {
                    throw new NativeCallException("dlopen(libc)", 0,
                            neededFor + " needs Linux; this is " + System.getProperty("os.name"));
                }
                if (!Platform.is64Bit()) {
                    throw new NativeCallException("dlopen(libc)", 0,
                            neededFor + " supports 64-bit Linux, not " + Platform.ARCH);
                }
                try {
                    instance = Native.load(Platform.C_LIBRARY_NAME, LibC.class);
                } catch (LinkageError e) {
                    throw new NativeCallException("dlopen(libc)", 0,
                            "could not load libc through JNA (is the JNA bundle installed?): " + e.getMessage(), e);
                }
            }
            return instance;
        }
    }

    /** The errno the last native call of this thread left. */
    public static int lastError() {
        return Native.getLastError();
    }
}
