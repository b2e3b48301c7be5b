package io.romulus.engine.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A TCP relay on loopback between a primary and its backup that a test can cut the way a dead host cuts it: both
 * sides reset at once, nothing more crosses, and later connections are refused.
 */
final class CuttableLink implements AutoCloseable {

    private final ServerSocket server;
    private final InetSocketAddress target;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private volatile boolean cut;

    CuttableLink(InetSocketAddress target) throws IOException {
        this.target = target;
        this.server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(this::accept, "cuttable-link");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    InetSocketAddress address() {
        return InetSocketAddress.createUnresolved("127.0.0.1", server.getLocalPort());
    }

    private void accept() {
        while (!cut) {
            try {
                Socket in = server.accept();
                if (cut) {
                    reset(in);
                    return;
                }
                Socket out = new Socket(target.getHostString(), target.getPort());
                sockets.add(in);
                sockets.add(out);
                pump(in, out);
                pump(out, in);
            } catch (IOException e) {
                return;
            }
        }
    }

    private void pump(Socket from, Socket to) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[1 << 16];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                int n;
                while (!cut && (n = in.read(buf)) >= 0) {
                    out.write(buf, 0, n);
                }
            } catch (IOException e) {
                // the other pump, or cut(), closed it
            }
            if (!cut) {
                reset(from);
                reset(to);
            }
        }, "cuttable-link-pump");
        t.setDaemon(true);
        t.start();
    }

    /** Cuts the link: every connection is reset, and no new one is accepted. */
    void cut() {
        cut = true;
        sockets.forEach(CuttableLink::reset);
        try {
            server.close();
        } catch (IOException e) {
            // closing anyway
        }
    }

    private static void reset(Socket s) {
        try {
            s.setSoLinger(true, 0);
            s.close();
        } catch (IOException e) {
            // already gone
        }
    }

    @Override
    public void close() {
        cut();
    }
}
