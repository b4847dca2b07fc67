// Typed errors. Every error elastripe raises on purpose extends ElastripeError and carries a
// stable `code` that scripts and the CLI can rely on; messages are one clear sentence.

export class ElastripeError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A caller passed something that cannot work (bad size, bad name, bad geometry, ...). */
export class InvalidArgumentError extends ElastripeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_ARGUMENT', message, options);
  }
}

/** A named thing (file, device, job) does not exist. */
export class NotFoundError extends ElastripeError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

/** One I/O operation on one device failed; `errno` is the positive errno value (EIO = 5). */
export class DeviceIoError extends ElastripeError {
  readonly device: string;
  readonly offsetBytes: number;
  readonly errno: number;
  readonly operation: string;
  constructor(device: string, operation: string, offsetBytes: number, errno: number, detail?: string) {
    super(
      'DEVICE_IO',
      `${operation} on ${device} at byte ${offsetBytes} failed: ${errnoName(errno)}${detail ? ` (${detail})` : ''}`,
    );
    this.device = device;
    this.operation = operation;
    this.offsetBytes = offsetBytes;
    this.errno = errno;
  }
}

/** The device is marked failed or offline; no I/O is attempted on it. */
export class DeviceFailedError extends ElastripeError {
  readonly device: string;
  constructor(device: string, reason: string) {
    super('DEVICE_FAILED', `device ${device} is failed or offline: ${reason}`);
    this.device = device;
  }
}

/** An I/O request whose buffer address, offset or length is not aligned as O_DIRECT needs. */
export class MisalignedIoError extends ElastripeError {
  constructor(message: string) {
    super('MISALIGNED_IO', message);
  }
}

/** A device is smaller than the minimum elastripe can use. */
export class DeviceTooSmallError extends ElastripeError {
  constructor(device: string, sizeBytes: number, minimumBytes: number) {
    super('DEVICE_TOO_SMALL', `device ${device} has ${sizeBytes} bytes; at least ${minimumBytes} are needed`);
  }
}

/** The device is already open or claimed (O_EXCL refused, mounted, or opened twice). */
export class DeviceBusyError extends ElastripeError {
  constructor(device: string, detail: string) {
    super('DEVICE_BUSY', `device ${device} is busy: ${detail}`);
  }
}

export class NoSpaceError extends ElastripeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NO_SPACE', message, options);
  }
}

export class TooManyErasuresError extends ElastripeError {
  constructor(message: string) {
    super('TOO_MANY_ERASURES', message);
  }
}

/** A block failed its checksum and could not be repaired. */
export class CorruptBlockError extends ElastripeError {
  constructor(message: string) {
    super('CORRUPT_BLOCK', message);
  }
}

/** The array's metadata cannot be trusted (SQLite corruption, schema from the future, ...). */
export class CorruptMetadataError extends ElastripeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CORRUPT_METADATA', message, options);
  }
}

/**
 * The device carries a superblock of another array (or of another device slot), or, with
 * holdingData, no superblock but other content (a file system, an archive, non-zero bytes).
 */
export class ForeignDeviceError extends ElastripeError {
  readonly device: string;
  constructor(device: string, detail: string, message?: string) {
    super('FOREIGN_DEVICE', message ?? `device ${device} belongs to another array (${detail}); use --force (force: true) to overwrite it`);
    this.device = device;
  }

  /** `found`: what the device holds, e.g. "holds an XFS file system (signature at byte 0)". */
  static holdingData(device: string, found: string): ForeignDeviceError {
    return new ForeignDeviceError(device, found, `device ${device} is not blank: it ${found}; use --force (force: true) to overwrite it`);
  }
}

/**
 * A change was asked of an array opened read-only, or a home (or device) that cannot be written
 * was opened for writing.
 */
export class ReadOnlyError extends ElastripeError {
  constructor(message: string) {
    super('READ_ONLY', message);
  }
}

export class ArrayLockedError extends ElastripeError {
  /** `hint`: what to do about it, appended after a semicolon. */
  constructor(home: string, holder: string, hint?: string) {
    super('ARRAY_LOCKED', `array at ${home} is already open by ${holder}${hint ? `; ${hint}` : ''}`);
  }
}

/** The shared arena has no free buffer of the requested size. */
export class ArenaExhaustedError extends ElastripeError {
  constructor(message: string) {
    super('ARENA_EXHAUSTED', message);
  }
}

/**
 * The command's output could not be written: its standard output, or the file `get` writes
 * (a full file system, /dev/full, an I/O error). Not about the array's devices (DEVICE_IO).
 */
export class OutputError extends ElastripeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('OUTPUT_ERROR', message, options);
  }
}

/**
 * A put's source stream failed while it was read: it errored, it was destroyed before its end,
 * or its length differed from the `sizeBytes` the caller declared. `cause` is the stream's own
 * error where there is one. Nothing is stored (an older file of the name stays).
 */
export class SourceError extends ElastripeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SOURCE_ERROR', message, options);
  }
}

/** The operation was cancelled through an AbortSignal. */
export class AbortedError extends ElastripeError {
  constructor(message = 'the operation was aborted') {
    super('ABORTED', message);
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 4: 'EINTR', 5: 'EIO', 6: 'ENXIO', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM',
  13: 'EACCES', 15: 'ENOTBLK', 16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV', 20: 'ENOTDIR', 21: 'EISDIR',
  22: 'EINVAL', 27: 'EFBIG', 28: 'ENOSPC', 30: 'EROFS', 32: 'EPIPE', 40: 'ELOOP',
  95: 'EOPNOTSUPP', 104: 'ECONNRESET', 107: 'ENOTCONN', 108: 'ESHUTDOWN', 110: 'ETIMEDOUT', 111: 'ECONNREFUSED',
  125: 'ECANCELED',
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/** A directory tree leads back into itself (a symbolic link to an ancestor): not followed. */
export class DirectoryLoopError extends ElastripeError {
  constructor(message: string) {
    super('DIRECTORY_LOOP', message);
  }
}

/**
 * Some files of a batch (put/get --recursive, put --files) failed and the others were done;
 * `report` lists both (the CLI prints it, with --json as the error document's report).
 */
export class BatchIncompleteError extends ElastripeError {
  readonly report: unknown;
  constructor(message: string, report: unknown) {
    super('BATCH_INCOMPLETE', message);
    this.report = report;
  }
}
