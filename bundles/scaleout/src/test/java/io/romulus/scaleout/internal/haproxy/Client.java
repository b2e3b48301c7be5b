package io.romulus.scaleout.internal.haproxy;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;

/** A client connection through HAProxy's frontend to whichever server it balances to. */
final class Client implements AutoCloseable {

    private final Socket socket;
    private final BufferedReader in;
    private final String server;

    Client(int frontendPort) throws IOException {
        socket = new Socket(InetAddress.getLoopbackAddress(), frontendPort);
        socket.setSoTimeout(3000);
        in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
        server = in.readLine();
        if (server == null) {
            throw new IOException("HAProxy closed the connection before any server greeted it");
        }
    }

    /** The name of the server HAProxy sent this connection to. */
    String server() {
        return server;
    }

    /** Sends a line and returns the server's answer, or null if the connection was closed. */
    String ask(String line) throws IOException {
        socket.getOutputStream().write((line + "\n").getBytes(StandardCharsets.UTF_8));
        socket.getOutputStream().flush();
        try {
            return in.readLine();
        } catch (SocketException e) {
            return null; // reset
        }
    }

    /** Opens a connection, reads which server answered and closes it. */
    static String serverOfNewConnection(int frontendPort) throws IOException {
        try (Client c = new Client(frontendPort)) {
            return c.server();
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
