package io.romulus.transport.mina.internal;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * A TCP relay on loopback between a primary and its backup that sees every record (the header is readable on the
 * wire) and lets a test alter, drop, hold, replay or inject records in either direction, as someone on the path
 * could. It fixes the CRC32C of what it alters, so only the record protection can catch it.
 */
final class OnPathProxy implements AutoCloseable {

    /** What the relay does with one record. */
    interface Attack {
        /**
         * Called for every whole record, in order, per direction; {@code out} sends towards the record's receiver,
         * {@code back} towards its sender. Forwarding is up to the attack ({@code out.send(frame)}).
         */
        void record(boolean toBackup, byte[] frame, Link out, Link back) throws IOException;
    }

    /** One direction's output. */
    static final class Link {
        private final OutputStream out;

        Link(OutputStream out) {
            this.out = out;
        }

        void send(byte[] frame) throws IOException {
            synchronized (this) {
                out.write(frame);
                out.flush();
            }
        }
    }

    private final ServerSocket server;
    private final InetSocketAddress backup;
    private final Attack attack;
    private final Thread acceptor;
    private volatile Socket fromPrimary;
    private volatile Socket toBackup;

    OnPathProxy(InetSocketAddress backup, Attack attack) throws IOException {
        this.server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        this.backup = backup;
        this.attack = attack;
        this.acceptor = new Thread(this::run, "on-path-proxy");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    InetSocketAddress address() {
        return (InetSocketAddress) server.getLocalSocketAddress();
    }

    private void run() {
        try {
            fromPrimary = server.accept();
            toBackup = new Socket(backup.getAddress(), backup.getPort());
            Link primaryOut = new Link(fromPrimary.getOutputStream());
            Link backupOut = new Link(toBackup.getOutputStream());
            Thread up = pump(fromPrimary, true, backupOut, primaryOut);
            Thread down = pump(toBackup, false, primaryOut, backupOut);
            up.join();
            down.join();
        } catch (IOException e) {
            // closed
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private Thread pump(Socket from, boolean toBackupSide, Link out, Link back) {
        Thread t = new Thread(() -> {
            try {
                DataInputStream in = new DataInputStream(from.getInputStream());
                while (true) {
                    byte[] header = new byte[RecordCodec.HEADER_BYTES];
                    in.readFully(header);
                    int length = ByteBuffer.wrap(header).getInt(4);
                    byte[] frame = new byte[RecordCodec.HEADER_BYTES + length + RecordCodec.TRAILER_BYTES];
                    System.arraycopy(header, 0, frame, 0, header.length);
                    in.readFully(frame, header.length, length + RecordCodec.TRAILER_BYTES);
                    attack.record(toBackupSide, frame, out, back);
                }
            } catch (IOException e) {
                closeQuietly();
            }
        }, "on-path-proxy-" + (toBackupSide ? "up" : "down"));
        t.setDaemon(true);
        t.start();
        return t;
    }

    static int type(byte[] frame) {
        return ByteBuffer.wrap(frame).getShort(0);
    }

    static int flags(byte[] frame) {
        return Short.toUnsignedInt(ByteBuffer.wrap(frame).getShort(2));
    }

    static long epoch(byte[] frame) {
        return ByteBuffer.wrap(frame).getLong(8);
    }

    /** Recomputes the CRC32C of a frame that was altered. */
    static byte[] fixCrc(byte[] frame) {
        CRC32C crc = new CRC32C();
        crc.update(frame, 0, frame.length - RecordCodec.TRAILER_BYTES);
        ByteBuffer.wrap(frame).putInt(frame.length - RecordCodec.TRAILER_BYTES, (int) crc.getValue());
        return frame;
    }

    private void closeQuietly() {
        for (Socket s : new Socket[] {fromPrimary, toBackup}) {
            if (s != null) {
                try {
                    s.close();
                } catch (IOException e) {
                    // closing
                }
            }
        }
    }

    @Override
    public void close() throws IOException {
        closeQuietly();
        server.close();
    }
}
