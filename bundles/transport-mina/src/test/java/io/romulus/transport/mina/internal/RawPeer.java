package io.romulus.transport.mina.internal;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.util.Map;

import io.romulus.api.transport.Hello;
import io.romulus.api.transport.RecordType;

/** A hand-driven primary on a plain socket, to send what a real one never would. */
final class RawPeer implements AutoCloseable {

    static final int PAGE = 4096;
    private final Socket socket;
    private final DataInputStream in;
    private final OutputStream out;
    private final RecordCodec codec = new RecordCodec(RecordCodec.DEFAULT_MAX_RECORD_BYTES);
    private final StreamProtection protection;
    private RecordCipher sealer;
    private RecordCipher opener;

    RawPeer(InetSocketAddress address) throws IOException {
        this(address, StreamProtection.ENCRYPTED);
    }

    RawPeer(InetSocketAddress address, StreamProtection protection) throws IOException {
        this.protection = protection;
        socket = new Socket(address.getAddress(), address.getPort());
        socket.setSoTimeout(5000);
        in = new DataInputStream(socket.getInputStream());
        out = socket.getOutputStream();
    }

    static Hello hello(String domain) {
        return new Hello("raw-primary", domain, "sim", 1L << 20, PAGE, Map.of());
    }

    /**
     * Does the whole HELLO exchange with an optional secret, as a primary would (records after it are sealed);
     * returns the welcome.
     */
    Messages.Welcome handshake(SharedSecret secret, long cacheBytes) throws IOException {
        byte[] nonce = SharedSecret.nonce();
        Record first = Messages.clientHello(new Messages.ClientHello(Messages.PROTOCOL_VERSION, hello("sim:raw"),
                cacheBytes, nonce, protection));
        send(first);
        Record challenge = read();
        if (challenge.type() != RecordType.HELLO) {
            throw new IOException("expected the challenge, got " + challenge + ": " + Messages.parseError(
                    challenge.body()));
        }
        Messages.Challenge c = Messages.parseChallenge(challenge.body());
        send(Messages.proof(secret == null ? new byte[0] : secret.primaryProof(c.nonce(), first.body())));
        StreamProtection agreed = protection.max(c.protection());
        StreamKeys keys = StreamKeys.derive(secret, first.body(), challenge.body(), nonce, c.nonce(), agreed);
        sealer = new RecordCipher(agreed, keys.primaryToBackup(), true);
        opener = new RecordCipher(agreed, keys.backupToPrimary(), false);
        Record welcome = read();
        if (welcome.type() != RecordType.HELLO) {
            throw new IOException("expected the welcome, got " + welcome + ": " + Messages.parseError(
                    welcome.body()));
        }
        return Messages.parseWelcome(welcome.body());
    }

    void send(Record record) throws IOException {
        sendBytes(frame(record));
    }

    /** The record framed as the stream sends it now (sealed once the handshake is done); it counts as sent. */
    byte[] frame(Record record) {
        return codec.encode(record, sealer);
    }

    void sendBytes(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    Record read() throws IOException {
        byte[] header = new byte[RecordCodec.HEADER_BYTES];
        in.readFully(header);
        int length = ByteBuffer.wrap(header).getInt(4);
        byte[] rest = new byte[length + RecordCodec.TRAILER_BYTES];
        in.readFully(rest);
        ByteBuffer all = ByteBuffer.allocate(header.length + rest.length).put(header).put(rest);
        all.flip();
        try {
            return codec.decode(all, codec.maxRecordBytes(), opener);
        } catch (MalformedRecordException e) {
            if (opener != null && ByteBuffer.wrap(header).getShort(0) == RecordType.ERROR.code()) {
                // the backup refused before the keys: its ERROR is in clear
                return new RecordCodec(RecordCodec.DEFAULT_MAX_RECORD_BYTES).decode(
                        ByteBuffer.allocate(all.capacity()).put(header).put(rest).flip());
            }
            throw e;
        }
    }

    /** Reads until the backup's ERROR and then the end of the stream; returns the error text. */
    String readErrorThenEof() throws IOException {
        String error = null;
        try {
            while (true) {
                Record r = read();
                if (r.type() == RecordType.ERROR) {
                    error = Messages.parseError(r.body());
                }
            }
        } catch (EOFException | java.net.SocketException e) {
            // the backup closed the connection, as it should
        } catch (SocketTimeoutException e) {
            throw new IOException("the backup did not close the connection; error so far: " + error, e);
        }
        return error;
    }

    void shutdownOutput() throws IOException {
        socket.shutdownOutput();
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
