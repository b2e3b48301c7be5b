package io.romulus.nbd.internal;

import static io.romulus.nbd.internal.NbdProtocol.*;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One NBD client: the fixed newstyle negotiation, then the transmission phase with simple replies, each request served
 * and replied to before the next is read (pipelined requests queue in the socket; replies go out in order).
 *
 * <p>Options: NBD_OPT_EXPORT_NAME, NBD_OPT_INFO and NBD_OPT_GO (NBD_INFO_EXPORT, and NBD_INFO_BLOCK_SIZE when
 * asked for), NBD_OPT_LIST, NBD_OPT_ABORT; NBD_REP_ERR_UNSUP for any other (structured replies, metadata contexts,
 * TLS). Commands: READ, WRITE (with FUA), FLUSH, TRIM and WRITE_ZEROES (both write zeroes, see {@link NbdExport}),
 * DISC. Errors as the protocol recommends: EINVAL for a read or trim outside the export, an unknown command or flag;
 * ENOSPC for a write or write-zeroes outside it; EPERM for a write to a read-only export; EIO when the image fails.
 */
final class NbdConnection implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(NbdConnection.class);
    private static final int TRANSMISSION_FLAGS = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_SEND_TRIM
            | FLAG_SEND_WRITE_ZEROES | FLAG_CAN_MULTI_CONN;

    private final NbdServer server;
    private final Closeable channel;
    private final long number;
    private final DataInputStream in;
    private final DataOutputStream out;
    private volatile NbdExport export;

    NbdConnection(NbdServer server, SocketChannel channel, long number) {
        this(server, Channels.newInputStream(channel), Channels.newOutputStream(channel), channel, number);
    }

    /** A connection over any pair of streams (NbdFuzzTest feeds it bytes); closing {@code channel} ends it. */
    NbdConnection(NbdServer server, InputStream in, OutputStream out, Closeable channel, long number) {
        this.server = server;
        this.channel = channel;
        this.number = number;
        this.in = new DataInputStream(new BufferedInputStream(in, 64 << 10));
        this.out = new DataOutputStream(new BufferedOutputStream(out, 64 << 10));
    }

    long number() {
        return number;
    }

    /** The transmission flags of {@code export}. */
    static int transmissionFlags(NbdExport export) {
        return export.readOnly() ? TRANSMISSION_FLAGS | FLAG_READ_ONLY : TRANSMISSION_FLAGS;
    }

    void run() {
        try {
            NbdExport chosen = negotiate();
            if (chosen != null) {
                export = chosen;
                chosen.attach(this);
                if (server.find(chosen.name()) != chosen) {
                    LOG.debug("NBD connection {}: export {} went away", number, chosen.name());
                    return;
                }
                LOG.debug("NBD connection {}: serving {}", number, chosen);
                transmit(chosen);
            }
        } catch (ProtocolViolation e) {
            LOG.warn("NBD connection {} dropped: {}", number, e.getMessage());
        } catch (EOFException | ClosedChannelException e) {
            LOG.debug("NBD connection {} closed", number);
        } catch (IOException e) {
            LOG.debug("NBD connection {} ended: {}", number, e.toString());
        } finally {
            NbdExport served = export;
            if (served != null) {
                served.detach(this);
            }
            close();
        }
    }

    // ---- negotiation ----

    private NbdExport negotiate() throws IOException {
        out.writeLong(NBD_MAGIC);
        out.writeLong(IHAVEOPT);
        out.writeShort(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
        out.flush();
        int clientFlags = in.readInt();
        if ((clientFlags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) != 0) {
            throw new ProtocolViolation(String.format("unknown client flags 0x%x", clientFlags));
        }
        boolean noZeroes = (clientFlags & FLAG_C_NO_ZEROES) != 0;
        while (true) {
            long magic = in.readLong();
            if (magic != IHAVEOPT) {
                throw new ProtocolViolation(String.format("option without IHAVEOPT (0x%x)", magic));
            }
            int option = in.readInt();
            int length = in.readInt();
            if (length < 0 || length > MAX_OPTION_LENGTH) {
                throw new ProtocolViolation("option " + option + " with " + Integer.toUnsignedString(length)
                        + " bytes of data");
            }
            byte[] data = in.readNBytes(length);
            if (data.length < length) {
                throw new EOFException();
            }
            switch (option) {
                case OPT_EXPORT_NAME -> {
                    String name = new String(data, StandardCharsets.UTF_8);
                    NbdExport chosen = server.find(name);
                    if (chosen == null) {
                        // this option cannot fail with a reply: the protocol says to close the connection
                        throw new ProtocolViolation("no export named '" + name + "' (NBD_OPT_EXPORT_NAME)");
                    }
                    out.writeLong(chosen.size());
                    out.writeShort(transmissionFlags(chosen));
                    if (!noZeroes) {
                        out.write(new byte[124]);
                    }
                    out.flush();
                    return chosen;
                }
                case OPT_ABORT -> {
                    optionReply(option, REP_ACK, new byte[0]);
                    out.flush();
                    return null;
                }
                case OPT_LIST -> {
                    if (length != 0) {
                        optionError(option, REP_ERR_INVALID, "NBD_OPT_LIST takes no data");
                    } else {
                        for (NbdExport e : server.exports()) {
                            byte[] name = e.name().getBytes(StandardCharsets.UTF_8);
                            ByteBuffer b = ByteBuffer.allocate(4 + name.length).putInt(name.length).put(name);
                            optionReply(option, REP_SERVER, b.array());
                        }
                        optionReply(option, REP_ACK, new byte[0]);
                    }
                }
                case OPT_INFO, OPT_GO -> {
                    NbdExport chosen = info(option, data);
                    if (chosen != null && option == OPT_GO) {
                        out.flush();
                        return chosen;
                    }
                }
                default -> optionError(option, REP_ERR_UNSUP, "option " + option + " is not supported");
            }
            out.flush();
        }
    }

    /** Answers NBD_OPT_INFO or NBD_OPT_GO; returns the export when the reply ended in NBD_REP_ACK. */
    private NbdExport info(int option, byte[] data) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(data);
        if (b.remaining() < 6) {
            optionError(option, REP_ERR_INVALID, "option data too short");
            return null;
        }
        long nameLength = Integer.toUnsignedLong(b.getInt());
        if (nameLength > b.remaining() - 2) {
            optionError(option, REP_ERR_INVALID, "export name longer than the option data");
            return null;
        }
        byte[] nameBytes = new byte[(int) nameLength];
        b.get(nameBytes);
        int requests = Short.toUnsignedInt(b.getShort());
        if (b.remaining() != 2 * requests) {
            optionError(option, REP_ERR_INVALID, "information requests do not match the option length");
            return null;
        }
        boolean blockSize = false;
        for (int i = 0; i < requests; i++) {
            blockSize |= Short.toUnsignedInt(b.getShort()) == INFO_BLOCK_SIZE;
        }
        String name = new String(nameBytes, StandardCharsets.UTF_8);
        NbdExport chosen = server.find(name);
        if (chosen == null) {
            optionError(option, REP_ERR_UNKNOWN, "no export named '" + name + "'");
            return null;
        }
        optionReply(option, REP_INFO, ByteBuffer.allocate(12).putShort((short) INFO_EXPORT)
                .putLong(chosen.size()).putShort((short) transmissionFlags(chosen)).array());
        if (blockSize) {
            optionReply(option, REP_INFO, ByteBuffer.allocate(14).putShort((short) INFO_BLOCK_SIZE)
                    .putInt(MIN_BLOCK).putInt(PREFERRED_BLOCK).putInt(MAX_PAYLOAD).array());
        }
        optionReply(option, REP_ACK, new byte[0]);
        return chosen;
    }

    private void optionReply(int option, int type, byte[] data) throws IOException {
        out.writeLong(OPTION_REPLY_MAGIC);
        out.writeInt(option);
        out.writeInt(type);
        out.writeInt(data.length);
        out.write(data);
    }

    private void optionError(int option, int type, String message) throws IOException {
        optionReply(option, type, message.getBytes(StandardCharsets.UTF_8));
    }

    // ---- transmission ----

    private void transmit(NbdExport target) throws IOException {
        while (true) {
            int magic = in.readInt();
            if (magic != REQUEST_MAGIC) {
                throw new ProtocolViolation(String.format("request without the request magic (0x%08x)", magic));
            }
            int flags = in.readUnsignedShort();
            int type = in.readUnsignedShort();
            long cookie = in.readLong();
            long offset = in.readLong();
            long length = Integer.toUnsignedLong(in.readInt());
            switch (type) {
                case CMD_READ -> read(target, flags, cookie, offset, length);
                case CMD_WRITE -> write(target, flags, cookie, offset, length);
                case CMD_DISC -> {
                    LOG.debug("NBD connection {}: client disconnected from {}", number, target.name());
                    return;
                }
                case CMD_FLUSH -> reply(cookie, flags != 0 ? EINVAL : attempt(target, "flush", target::flush));
                case CMD_TRIM -> zeroes(target, flags, CMD_FLAG_FUA, EINVAL, cookie, offset, length);
                case CMD_WRITE_ZEROES ->
                        zeroes(target, flags, CMD_FLAG_FUA | CMD_FLAG_NO_HOLE, ENOSPC, cookie, offset, length);
                default -> reply(cookie, EINVAL);
            }
            if (in.available() == 0) {
                out.flush();
            }
        }
    }

    private void read(NbdExport target, int flags, long cookie, long offset, long length) throws IOException {
        if (flags != 0 || length > MAX_PAYLOAD || !target.contains(offset, length)) {
            reply(cookie, EINVAL);
            return;
        }
        byte[] data = new byte[(int) length];
        int error = attempt(target, "read of " + length + " bytes at " + offset,
                () -> target.read(offset, ByteBuffer.wrap(data)));
        reply(cookie, error);
        if (error == 0) {
            out.write(data);
        }
    }

    private void write(NbdExport target, int flags, long cookie, long offset, long length) throws IOException {
        if (length > MAX_PAYLOAD) {
            throw new ProtocolViolation("write of " + length + " bytes, more than the " + MAX_PAYLOAD
                    + " announced");
        }
        byte[] data = in.readNBytes((int) length);
        if (data.length < length) {
            throw new EOFException();
        }
        int error = refusal(target, flags, CMD_FLAG_FUA, ENOSPC, offset, length);
        if (error == 0) {
            // logged before the reply is sent: see NbdExport
            error = attempt(target, "write of " + length + " bytes at " + offset,
                    () -> target.write(offset, data, (flags & CMD_FLAG_FUA) != 0));
        }
        reply(cookie, error);
    }

    private void zeroes(NbdExport target, int flags, int allowed, int outside, long cookie, long offset,
            long length) throws IOException {
        int error = refusal(target, flags, allowed, outside, offset, length);
        if (error == 0) {
            error = attempt(target, "zeroing " + length + " bytes at " + offset,
                    () -> target.writeZeroes(offset, length, (flags & CMD_FLAG_FUA) != 0));
        }
        reply(cookie, error);
    }

    /** The error a modifying request gets before it is tried, 0 if it may go ahead. */
    private static int refusal(NbdExport target, int flags, int allowed, int outside, long offset, long length) {
        if ((flags & ~allowed) != 0) {
            return EINVAL;
        }
        if (target.readOnly()) {
            return EPERM;
        }
        return target.contains(offset, length) ? 0 : outside;
    }

    /** Runs {@code op} on the image: 0, or EIO when the image failed; a closed export ends the connection. */
    private static int attempt(NbdExport target, String what, ImageOperation op) throws ClosedChannelException {
        try {
            op.run();
            return 0;
        } catch (ClosedChannelException e) {
            throw e;
        } catch (IOException e) {
            LOG.warn("NBD export {}: {} failed: {}", target.name(), what, e.getMessage());
            return EIO;
        }
    }

    @FunctionalInterface
    private interface ImageOperation {
        void run() throws IOException;
    }

    private void reply(long cookie, int error) throws IOException {
        out.writeInt(SIMPLE_REPLY_MAGIC);
        out.writeInt(error);
        out.writeLong(cookie);
    }

    /** Disconnects the client (hard disconnect). */
    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            // closed either way
        }
    }

    /** The client broke a mandatory rule of the protocol: the connection is dropped. */
    private static final class ProtocolViolation extends IOException {
        private static final long serialVersionUID = 1L;

        ProtocolViolation(String message) {
            super(message);
        }
    }
}
