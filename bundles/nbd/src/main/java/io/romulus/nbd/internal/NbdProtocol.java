package io.romulus.nbd.internal;

/**
 * Numbers of the NBD protocol (NetworkBlockDevice/nbd {@code doc/proto.md}), as this server speaks it: fixed newstyle
 * negotiation, simple replies only. All values travel in network byte order.
 */
final class NbdProtocol {

    /** {@code NBDMAGIC}: the first 8 bytes of the server's greeting. */
    static final long NBD_MAGIC = 0x4e42444d41474943L;
    /** {@code IHAVEOPT}: newstyle negotiation, and the prefix of every option request. */
    static final long IHAVEOPT = 0x49484156454f5054L;
    /** Prefix of every option reply. */
    static final long OPTION_REPLY_MAGIC = 0x0003e889045565a9L;
    static final int REQUEST_MAGIC = 0x25609513;
    static final int SIMPLE_REPLY_MAGIC = 0x67446698;

    // handshake flags (server) and client flags
    static final int FLAG_FIXED_NEWSTYLE = 1;
    static final int FLAG_NO_ZEROES = 1 << 1;
    static final int FLAG_C_FIXED_NEWSTYLE = 1;
    static final int FLAG_C_NO_ZEROES = 1 << 1;

    // options
    static final int OPT_EXPORT_NAME = 1;
    static final int OPT_ABORT = 2;
    static final int OPT_LIST = 3;
    static final int OPT_INFO = 6;
    static final int OPT_GO = 7;

    // option replies
    static final int REP_ACK = 1;
    static final int REP_SERVER = 2;
    static final int REP_INFO = 3;
    static final int REP_ERR_UNSUP = 0x80000001;
    static final int REP_ERR_INVALID = 0x80000003;
    static final int REP_ERR_UNKNOWN = 0x80000006;

    // information types of NBD_OPT_INFO / NBD_OPT_GO
    static final int INFO_EXPORT = 0;
    static final int INFO_BLOCK_SIZE = 3;

    // transmission flags
    static final int FLAG_HAS_FLAGS = 1;
    static final int FLAG_READ_ONLY = 1 << 1;
    static final int FLAG_SEND_FLUSH = 1 << 2;
    static final int FLAG_SEND_FUA = 1 << 3;
    static final int FLAG_SEND_TRIM = 1 << 5;
    static final int FLAG_SEND_WRITE_ZEROES = 1 << 6;
    static final int FLAG_CAN_MULTI_CONN = 1 << 8;

    // commands and their flags
    static final int CMD_READ = 0;
    static final int CMD_WRITE = 1;
    static final int CMD_DISC = 2;
    static final int CMD_FLUSH = 3;
    static final int CMD_TRIM = 4;
    static final int CMD_WRITE_ZEROES = 6;
    static final int CMD_FLAG_FUA = 1;
    static final int CMD_FLAG_NO_HOLE = 1 << 1;

    // errors of simple replies
    static final int EPERM = 1;
    static final int EIO = 5;
    static final int EINVAL = 22;
    static final int ENOSPC = 28;

    /** Size constraints announced with NBD_INFO_BLOCK_SIZE: any alignment, 4 KiB preferred, 32 MiB payloads. */
    static final int MIN_BLOCK = 1;
    static final int PREFERRED_BLOCK = 4096;
    static final int MAX_PAYLOAD = 32 << 20;

    /** Longest option data accepted during negotiation (export names are at most 4096 bytes). */
    static final int MAX_OPTION_LENGTH = 64 << 10;

    private NbdProtocol() {
    }
}
