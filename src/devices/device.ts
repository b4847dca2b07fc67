// The Device interface every backend implements (uring, fs, nbd). Addresses are in logical
// blocks (LB_BYTES); buffers are Uint8Array views, normally into the shared arena, whose
// address and length are LB-aligned so that O_DIRECT accepts them.

export type BackendName = 'uring' | 'fs' | 'nbd';

/** A contiguous range of one device, in logical blocks. */
export interface DeviceExtent {
  readonly startLb: number;
  readonly lengthLb: number;
}

export interface DeviceDescription {
  /** What the user named: a path or an nbd:// URL. */
  readonly path: string;
  readonly backend: BackendName;
  readonly sizeBytes: number;
  readonly logicalBlockBytes: number;
  /** 'file', 'block' or 'nbd'. */
  readonly kind: 'file' | 'block' | 'nbd';
  readonly online: boolean;
  /** Backend details worth showing (fixed buffers registered, ring depth, server, ...). */
  readonly detail: Readonly<Record<string, string | number | boolean>>;
}

export interface Device {
  readonly path: string;
  readonly backend: BackendName;
  /** Usable size, rounded down to whole logical blocks. */
  readonly sizeBytes: number;
  /** The device's own logical block size (512 or 4096); elastripe always does LB_BYTES I/O. */
  readonly logicalBlockBytes: number;
  /** False once the device has failed (error reply, dropped connection, detached). */
  readonly online: boolean;

  /**
   * Reads every extent into the buffer at the same index; buffers[i].byteLength must equal
   * extents[i].lengthLb * LB_BYTES. The whole batch is submitted at once. Rejects with
   * DeviceIoError (first failure; the others still complete first) or MisalignedIoError.
   */
  read(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void>;
  /** Writes every buffer to its extent; same contract as read. Not durable until flush(). */
  write(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void>;
  /**
   * Optional: writes like write(), but each write is durable once the call resolves (RWF_DSYNC,
   * a FUA write on a block device) — no flush needed for it; it says nothing about other
   * writes. Where absent, a caller that needs durability writes and then flushes
   * (durable_write.ts). A rejection leaves the extents' content unknown, as write's does.
   */
  writeDurable?(extents: readonly DeviceExtent[], buffers: readonly Uint8Array[]): Promise<void>;
  /** Makes every completed write durable. */
  flush(): Promise<void>;
  /** Tells the device the extents hold nothing (no-op where unsupported). */
  trim(extents: readonly DeviceExtent[]): Promise<void>;
  close(): Promise<void>;
  describe(): DeviceDescription;
}
