package io.romulus.nbd.internal;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** A hand-written NBD client for the tests that need exact bytes or requests QEMU would never send. */
final class RawNbdClient implements AutoCloseable {

    final SocketChannel channel;
    final DataInputStream in;
    final DataOutputStream out;

    RawNbdClient(Path socket) throws IOException {
        channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        channel.connect(UnixDomainSocketAddress.of(socket));
        in = new DataInputStream(Channels.newInputStream(channel));
        out = new DataOutputStream(Channels.newOutputStream(channel));
    }

    byte[] readBytes(int n) throws IOException {
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }

    void option(int option, byte[] data) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16 + data.length).putLong(NbdProtocol.IHAVEOPT).putInt(option)
                .putInt(data.length).put(data);
        out.write(b.array());
    }

    static byte[] goData(String name, int... infos) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + n.length + 2 + 2 * infos.length).putInt(n.length).put(n)
                .putShort((short) infos.length);
        for (int i : infos) {
            b.putShort((short) i);
        }
        return b.array();
    }

    /** Greeting, client flags, NBD_OPT_GO without information requests: ready for requests. */
    static RawNbdClient connected(Path socket, String export) throws IOException {
        RawNbdClient c = new RawNbdClient(socket);
        c.readBytes(18);
        c.out.writeInt(NbdProtocol.FLAG_C_FIXED_NEWSTYLE | NbdProtocol.FLAG_C_NO_ZEROES);
        c.option(NbdProtocol.OPT_GO, goData(export));
        while (true) {
            c.in.readLong();
            c.in.readInt();
            int type = c.in.readInt();
            int length = c.in.readInt();
            c.readBytes(length);
            if (type == NbdProtocol.REP_ACK) {
                return c;
            }
            if (type != NbdProtocol.REP_INFO) {
                throw new IOException("NBD_OPT_GO failed: reply type " + Integer.toHexString(type));
            }
        }
    }

    void request(int flags, int type, long cookie, long offset, int length, byte[] payload) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(28 + (payload == null ? 0 : payload.length)).putInt(NbdProtocol.REQUEST_MAGIC)
                .putShort((short) flags).putShort((short) type).putLong(cookie).putLong(offset).putInt(length);
        if (payload != null) {
            b.put(payload);
        }
        out.write(b.array());
    }

    /** Reads a simple reply for {@code cookie}; returns its error. */
    int reply(long cookie) throws IOException {
        int magic = in.readInt();
        if (magic != NbdProtocol.SIMPLE_REPLY_MAGIC) {
            throw new IOException("not a simple reply: " + Integer.toHexString(magic));
        }
        int error = in.readInt();
        long got = in.readLong();
        if (got != cookie) {
            throw new IOException("reply for cookie " + got + ", expected " + cookie);
        }
        return error;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
