package io.romulus.netbuf.internal.netlink;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;

/**
 * Runs code inside a named network namespace ({@code ip netns add NAME}, i.e. {@code /var/run/netns/NAME}).
 *
 * <p>{@code setns} moves only the calling thread, so the code runs on a dedicated thread that enters the namespace,
 * runs it, and goes back to the namespace it started in ({@code /proc/thread-self/ns/net}, opened beforehand) before
 * it ends. Sockets created there stay in that namespace for their whole life, whichever thread uses them later.
 */
public final class NetworkNamespace {

    /** Where {@code ip netns} keeps its named namespaces. */
    public static final String NETNS_DIR = "/var/run/netns/";

    /** Code to run inside a namespace. */
    @FunctionalInterface
    public interface Action<T> {
        T run() throws Exception;
    }

    private NetworkNamespace() {
    }

    /** Runs {@code action} inside namespace {@code name}, or directly when {@code name} is null or empty. */
    public static <T> T call(LinuxNetlink lib, String name, Action<T> action) throws Exception {
        if (name == null || name.isEmpty()) {
            return action.run();
        }
        if (name.contains("/") || name.equals(".") || name.equals("..")) {
            throw new IllegalArgumentException("not a network namespace name: " + name);
        }
        FutureTask<T> task = new FutureTask<>(() -> inside(lib, name, action));
        Thread t = new Thread(task, "romulus-netns-" + name);
        t.setDaemon(true);
        t.start();
        try {
            return task.get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof Exception exception) {
                throw exception;
            }
            if (cause instanceof Error error) {
                throw error;
            }
            throw e;
        }
    }

    private static <T> T inside(LinuxNetlink lib, String name, Action<T> action) throws Exception {
        String what = "network namespace " + name;
        int home = lib.openNamespace("/proc/thread-self/ns/net", "this thread's network namespace");
        try {
            int target = lib.openNamespace(NETNS_DIR + name, what);
            try {
                lib.setNetworkNamespace(target, what);
            } finally {
                lib.close(target);
            }
            try {
                return action.run();
            } finally {
                // if this fails the thread ends anyway, and with it the only thread that was in the namespace
                lib.setNetworkNamespace(home, "the original network namespace");
            }
        } finally {
            lib.close(home);
        }
    }
}
