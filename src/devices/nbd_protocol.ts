// NBD wire format: constants and the encoders/decoders the client needs. Everything on the
// wire is big-endian (network byte order). Source: the NetworkBlockDevice project's
// doc/proto.md ("fixed newstyle" handshake, NBD_OPT_GO, simple replies).
//
// We speak only the subset elastripe uses: fixed newstyle negotiation with NBD_OPT_GO (falling
// back to NBD_OPT_EXPORT_NAME for old servers), simple replies (no structured replies, so a
// read reply is a 16-byte header followed by exactly the requested bytes), and the commands
// READ, WRITE (optionally with NBD_CMD_FLAG_FUA), DISC, FLUSH and TRIM.

/** "NBDMAGIC", the first 8 bytes the server sends. */
export const NBD_INIT_MAGIC = 0x4e42444d41474943n;
/** "IHAVEOPT": newstyle server magic, and the prefix of every client option. */
export const NBD_OPTS_MAGIC = 0x49484156454f5054n;
/** Magic of every option reply. */
export const NBD_OPT_REPLY_MAGIC = 0x3e889045565a9n;
export const NBD_REQUEST_MAGIC = 0x25609513;
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;

// Handshake flags (server) and client flags.
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_NO_ZEROES = 1 << 1;
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;

// Options.
export const NBD_OPT_EXPORT_NAME = 1;
export const NBD_OPT_ABORT = 2;
export const NBD_OPT_GO = 7;

// Option reply types; errors have bit 31 set.
export const NBD_REP_ACK = 1;
export const NBD_REP_INFO = 3;
export const NBD_REP_FLAG_ERROR = 0x80000000;
export const NBD_REP_ERR_UNSUP = NBD_REP_FLAG_ERROR + 1;
export const NBD_REP_ERR_POLICY = NBD_REP_FLAG_ERROR + 2;
export const NBD_REP_ERR_INVALID = NBD_REP_FLAG_ERROR + 3;
export const NBD_REP_ERR_PLATFORM = NBD_REP_FLAG_ERROR + 4;
export const NBD_REP_ERR_TLS_REQD = NBD_REP_FLAG_ERROR + 5;
export const NBD_REP_ERR_UNKNOWN = NBD_REP_FLAG_ERROR + 6;
export const NBD_REP_ERR_SHUTDOWN = NBD_REP_FLAG_ERROR + 7;
export const NBD_REP_ERR_BLOCK_SIZE_REQD = NBD_REP_FLAG_ERROR + 8;
export const NBD_REP_ERR_TOO_BIG = NBD_REP_FLAG_ERROR + 9;

// Info types inside NBD_REP_INFO.
export const NBD_INFO_EXPORT = 0;
export const NBD_INFO_BLOCK_SIZE = 3;

// Transmission flags (per export).
export const NBD_FLAG_HAS_FLAGS = 1 << 0;
export const NBD_FLAG_READ_ONLY = 1 << 1;
export const NBD_FLAG_SEND_FLUSH = 1 << 2;
export const NBD_FLAG_SEND_FUA = 1 << 3;
export const NBD_FLAG_SEND_TRIM = 1 << 5;
export const NBD_FLAG_CAN_MULTI_CONN = 1 << 8;

// Commands.
export const NBD_CMD_READ = 0;
export const NBD_CMD_WRITE = 1;
export const NBD_CMD_DISC = 2;
export const NBD_CMD_FLUSH = 3;
export const NBD_CMD_TRIM = 4;

// Command flags (request header bytes 4-5). FUA: the write is durable when its reply arrives
// (only where the export advertises NBD_FLAG_SEND_FUA).
export const NBD_CMD_FLAG_FUA = 1 << 0;

export const NBD_DEFAULT_PORT = 10809;
export const NBD_REQUEST_HEADER_BYTES = 28;
export const NBD_SIMPLE_REPLY_HEADER_BYTES = 16;
export const NBD_OPT_REPLY_HEADER_BYTES = 20;
/** The spec says servers must accept payloads up to 32 MiB unless they advertise otherwise. */
export const NBD_PAYLOAD_BYTES_MAX_DEFAULT = 32 * 1024 * 1024;
/** Export names and error strings are at most 4096 bytes. */
export const NBD_STRING_BYTES_MAX = 4096;

/**
 * NBD error numbers are a fixed set with Linux values (EPERM, EIO, ENOMEM, EINVAL, ENOSPC,
 * EOVERFLOW, ENOTSUP, ESHUTDOWN). They are already errno values on Linux; anything else a
 * server sends is treated as EIO, as the spec asks clients to.
 */
const NBD_ERRNO_KNOWN = new Set([1, 5, 12, 22, 28, 75, 95, 108]);
export const EIO = 5;
/** The server is shutting down: the connection is about to close (not a failed request). */
export const NBD_ESHUTDOWN = 108;
export function nbdErrorToErrno(nbdError: number): number {
  return NBD_ERRNO_KNOWN.has(nbdError) ? nbdError : EIO;
}

export function optionReplyName(type: number): string {
  const names: Record<number, string> = {
    [NBD_REP_ERR_UNSUP]: 'NBD_REP_ERR_UNSUP',
    [NBD_REP_ERR_POLICY]: 'NBD_REP_ERR_POLICY',
    [NBD_REP_ERR_INVALID]: 'NBD_REP_ERR_INVALID',
    [NBD_REP_ERR_PLATFORM]: 'NBD_REP_ERR_PLATFORM',
    [NBD_REP_ERR_TLS_REQD]: 'NBD_REP_ERR_TLS_REQD',
    [NBD_REP_ERR_UNKNOWN]: 'NBD_REP_ERR_UNKNOWN (no such export)',
    [NBD_REP_ERR_SHUTDOWN]: 'NBD_REP_ERR_SHUTDOWN',
    [NBD_REP_ERR_BLOCK_SIZE_REQD]: 'NBD_REP_ERR_BLOCK_SIZE_REQD',
    [NBD_REP_ERR_TOO_BIG]: 'NBD_REP_ERR_TOO_BIG',
  };
  return names[type] ?? `option reply 0x${type.toString(16)}`;
}

/** An option request: IHAVEOPT, option, length, data. */
export function encodeOption(option: number, data: Uint8Array): Buffer {
  const message = Buffer.alloc(16 + data.byteLength);
  message.writeBigUInt64BE(NBD_OPTS_MAGIC, 0);
  message.writeUInt32BE(option, 8);
  message.writeUInt32BE(data.byteLength, 12);
  message.set(data, 16);
  return message;
}

/** NBD_OPT_GO data: export name, then the info requests (we ask for block size limits). */
export function encodeGoData(exportName: string): Buffer {
  const name = Buffer.from(exportName, 'utf8');
  const data = Buffer.alloc(4 + name.byteLength + 2 + 2);
  data.writeUInt32BE(name.byteLength, 0);
  data.set(name, 4);
  data.writeUInt16BE(1, 4 + name.byteLength);
  data.writeUInt16BE(NBD_INFO_BLOCK_SIZE, 6 + name.byteLength);
  return data;
}

export interface OptionReplyHeader {
  option: number;
  type: number;
  lengthBytes: number;
}

export function decodeOptionReplyHeader(header: Uint8Array): OptionReplyHeader {
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (view.getBigUint64(0) !== NBD_OPT_REPLY_MAGIC) throw new Error('bad option reply magic');
  return { option: view.getUint32(8), type: view.getUint32(12), lengthBytes: view.getUint32(16) };
}

/**
 * Writes a request header into target (28 bytes). Handles are below 2^53, split into two
 * 32-bit halves so the hot path needs no BigInt.
 */
export function encodeRequestHeader(
  target: Buffer,
  command: number,
  handle: number,
  offsetBytes: number,
  lengthBytes: number,
  commandFlags = 0,
): void {
  target.writeUInt32BE(NBD_REQUEST_MAGIC, 0);
  target.writeUInt16BE(commandFlags, 4);
  target.writeUInt16BE(command, 6);
  target.writeUInt32BE(Math.floor(handle / 0x1_0000_0000), 8);
  target.writeUInt32BE(handle >>> 0, 12);
  target.writeUInt32BE(Math.floor(offsetBytes / 0x1_0000_0000), 16);
  target.writeUInt32BE(offsetBytes >>> 0, 20);
  target.writeUInt32BE(lengthBytes, 24);
}

export interface SimpleReply {
  magic: number;
  error: number;
  handle: number;
}

export function decodeSimpleReply(header: Uint8Array): SimpleReply {
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  return {
    magic: view.getUint32(0),
    error: view.getUint32(4),
    handle: view.getUint32(8) * 0x1_0000_0000 + view.getUint32(12),
  };
}
