// The write path of put(): stream the file's bytes into arena buffers one group at a time,
// compute parity and checksums in the worker pool, write every extent of a group in one
// batch, and keep several groups in flight. Nothing here touches metadata: the caller commits
// the returned groups after flush, so a crash before that leaves only free space behind
// (copy-on-write: there is no write hole).
import { LB_BYTES } from '../constants.js';
import { AbortedError, DeviceFailedError, DeviceIoError, NoSpaceError } from '../errors.js';
import { unlessAborted } from './abort_race.js';
import type { Arena, ArenaBuffer } from '../kernels/arena.js';
import type { Codec } from '../kernels/codec.js';
import type { ExtentAllocator } from '../meta/extent_allocator.js';
import type { NewExtent, NewGroup } from '../meta/rows.js';
import type { ArrayDevices } from './array_devices.js';
import type { FlushCoalescer } from './flush_coalescer.js';
import { groupCapacityBytes, groupShape, type GroupShape } from './layout.js';
import type { PartnerCounts } from './partner_counts.js';
import { placeGroup, widestPlaceableShape, type PlacementCandidate } from './placement.js';
import type { Progress } from './types.js';

export interface WriteContext {
  arena: Arena;
  codec: Codec;
  allocator: ExtentAllocator;
  devices: ArrayDevices;
  parityCount: number;
  maxDataWidth: number;
  extentLbMax: number;
  groupsInFlightMax: number;
  /** A running counter that rotates parity positions across groups. */
  nextRotation: () => number;
  /** Groups each pair of devices shares: placement spreads a device's partners with it (declustering). */
  partners?: PartnerCounts;
  /** Shares device flushes between puts finishing together. */
  flusher: FlushCoalescer;
  /** A device failed a write: the array marks it failed so placement stops choosing it. */
  onWriteError: (deviceId: number, error: DeviceIoError | DeviceFailedError) => void;
}

/** ENOSPC: errno of a write or flush to an image file whose host filesystem is full. */
const ENOSPC = 28;

/**
 * A full host filesystem under an image file is not a device failure (the device is fine, and
 * marking devices failed for it would brick the array): the write fails with NO_SPACE, saying
 * what is full, and nothing is marked.
 */
export function isHostFull(error: unknown): error is DeviceIoError {
  return error instanceof DeviceIoError && error.errno === ENOSPC;
}

export function throwIfHostFull(error: unknown): void {
  if (isHostFull(error)) {
    throw new NoSpaceError(`the filesystem holding ${error.device} is full (ENOSPC from the host, not a device failure): free space there, then retry`, { cause: error });
  }
}

/**
 * Extents up to this long (16 LB = 64 KiB: a small put's groups, a large put's short tail) are
 * written durably where the device can (Device.writeDurable: RWF_DSYNC, a FUA write), so the
 * put needs no flush of that device before its commit: one device round trip instead of two.
 * Longer extents are written plainly and flushed once per device at the end of the put (many
 * writes share that flush; a FUA write a device emulates costs a cache flush each).
 */
export const DURABLE_WRITE_LB_MAX = 16;

/** Placements tried for one group before the put fails: each failed write removes a device. */
const GROUP_WRITE_ATTEMPTS_MAX = 4;

export interface WriteOptions {
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
  sizeBytes?: number;
}

/**
 * What the writer reads, in the cheapest form the caller has it:
 *  - chunks: any stream of bytes, copied into arena group buffers as they come;
 *  - arena: bytes already in the arena (array.allocBuffer), 4 KiB aligned: whole data blocks
 *    are encoded and written in place, only a group's partial tail block is padded in a copy;
 *  - reader: a file read by position straight into each group's arena buffer (io_uring where
 *    it can), so a file's bytes are never copied in user space.
 */
export type WriteInput =
  | { kind: 'chunks'; chunks: AsyncIterable<Uint8Array> }
  | { kind: 'arena'; bytes: Uint8Array }
  | { kind: 'reader'; reader: PositionalReader }
  | { kind: 'sequential'; reader: SequentialReader };

/** A source read by position (file_source.ts): fills `target` with the bytes at `position`. */
export interface PositionalReader {
  readonly sizeBytes: number;
  readAt(target: Uint8Array, position: number): Promise<void>;
}

/** A pipe or FIFO read in order (file_source.ts): fills part of `target`, 0 at the end. */
export interface SequentialReader {
  read(target: Uint8Array): Promise<number>;
}

export interface WrittenFile {
  sizeBytes: number;
  groups: NewGroup[];
  /** Gives the reserved extents back; for a write that will not be committed. */
  releaseExtents: () => void;
}

interface FillingGroup {
  /** The group's own buffer: data blocks, then parity (undefined for borrowed data). */
  buffer: ArenaBuffer | undefined;
  /** The caller's arena bytes this group stores in place (WriteInput 'arena'). */
  borrowed?: Uint8Array;
  shape: GroupShape;
  filledBytes: number;
}

interface EncodedGroup {
  blocks: Uint8Array[];
  checksums: Uint8Array[];
  /** Parity and padding of a borrowed group live in a buffer of their own. */
  scratch?: ArenaBuffer;
}

/** Writes the whole source; on any failure releases what it reserved and rethrows. */
export async function writeFile(
  context: WriteContext,
  input: WriteInput,
  options: WriteOptions,
): Promise<WrittenFile> {
  const writer = new FileWriter(context, options);
  try {
    if (input.kind === 'chunks') await writer.consume(input.chunks);
    else if (input.kind === 'arena') await writer.consumeArena(input.bytes);
    else if (input.kind === 'reader') await writer.consumeReader(input.reader);
    else await writer.consumeSequential(input.reader);
    await writer.flush();
  } catch (error) {
    await writer.settle();
    writer.releaseExtents();
    throw error;
  }
  return { sizeBytes: writer.totalBytes, groups: writer.sortedGroups(), releaseExtents: () => writer.releaseExtents() };
}

class FileWriter {
  totalBytes = 0;
  private doneBytes = 0;
  private sequence = 0;
  private current: FillingGroup | undefined;
  private firstError: unknown;
  private readonly inflight = new Set<Promise<void>>();
  private readonly groups: NewGroup[] = [];
  private readonly reserved: NewExtent[] = [];
  /** Devices written plainly: flushed before the commit. */
  private readonly touchedDeviceIds = new Set<number>();
  /** Devices written only durably (writeDurable): nothing to flush, but they must still be usable. */
  private readonly durableDeviceIds = new Set<number>();
  /** Where the next group's data starts in the device rotation (see rotationFor). */
  private rotationNext: number | undefined;

  constructor(
    private readonly context: WriteContext,
    private readonly options: WriteOptions,
  ) {
    if (options.sizeBytes !== undefined) this.checkRoomFor(options.sizeBytes);
  }

  async consume(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    try {
      for await (const chunk of chunks) {
        let offset = 0;
        while (offset < chunk.byteLength) {
          this.throwIfStopped();
          this.current ??= await this.startGroup();
          const group = this.current;
          const capacityBytes = group.shape.dataCount * group.shape.extentLb * LB_BYTES;
          const takeBytes = Math.min(chunk.byteLength - offset, capacityBytes - group.filledBytes);
          group.buffer!.bytes.set(chunk.subarray(offset, offset + takeBytes), group.filledBytes);
          group.filledBytes += takeBytes;
          offset += takeBytes;
          this.totalBytes += takeBytes;
          if (group.filledBytes === capacityBytes) this.dispatch();
        }
      }
      this.throwIfStopped();
      if (this.current && this.current.filledBytes > 0) this.dispatch();
    } finally {
      this.dropCurrent();
    }
    await this.settle();
    if (this.firstError !== undefined) throw this.firstError;
  }

  /** Bytes already in the arena: each group's data blocks are views of them (no copy). */
  async consumeArena(bytes: Uint8Array): Promise<void> {
    while (this.totalBytes < bytes.byteLength) {
      this.throwIfStopped();
      const shape = await this.startSlot();
      const takeBytes = Math.min(bytes.byteLength - this.totalBytes, groupCapacityBytes(shape));
      this.current = { buffer: undefined, borrowed: bytes.subarray(this.totalBytes, this.totalBytes + takeBytes), shape, filledBytes: takeBytes };
      this.totalBytes += takeBytes;
      this.dispatch();
    }
    await this.settle();
    if (this.firstError !== undefined) throw this.firstError;
  }

  /** A file read by position into each group's buffer; reads overlap the writes of earlier groups. */
  async consumeReader(reader: PositionalReader): Promise<void> {
    try {
      while (this.totalBytes < reader.sizeBytes) {
        this.throwIfStopped();
        this.current = await this.startGroup();
        const group = this.current;
        const takeBytes = Math.min(reader.sizeBytes - this.totalBytes, groupCapacityBytes(group.shape));
        await reader.readAt(group.buffer!.bytes.subarray(0, takeBytes), this.totalBytes);
        group.filledBytes = takeBytes;
        this.totalBytes += takeBytes;
        this.dispatch();
      }
    } finally {
      this.dropCurrent();
    }
    await this.settle();
    if (this.firstError !== undefined) throw this.firstError;
  }

  /**
   * A pipe read straight into each group's buffer until the group is full or the pipe ends. An
   * abort does not wait for a read blocked on an idle pipe: the put ends at once, and the buffer
   * that read still targets goes back to the arena only once the read has settled.
   */
  async consumeSequential(reader: SequentialReader): Promise<void> {
    try {
      for (let ended = false; !ended; ) {
        this.throwIfStopped();
        this.current = await this.startGroup();
        const group = this.current;
        const capacityBytes = groupCapacityBytes(group.shape);
        while (group.filledBytes < capacityBytes) {
          const read = reader.read(group.buffer!.bytes.subarray(group.filledBytes, capacityBytes));
          const bytesRead = await unlessAborted(read, this.options.signal, () => {
            // The read may still land in this buffer: it is freed when the read settles.
            const buffer = group.buffer!;
            this.current = undefined;
            read.then(() => this.context.arena.free(buffer), () => this.context.arena.free(buffer));
          });
          if (bytesRead === 0) {
            ended = true;
            break;
          }
          group.filledBytes += bytesRead;
          this.totalBytes += bytesRead;
        }
        if (group.filledBytes > 0) this.dispatch();
        else this.dropCurrent();
      }
    } finally {
      this.dropCurrent();
    }
    await this.settle();
    if (this.firstError !== undefined) throw this.firstError;
  }

  private dropCurrent(): void {
    if (this.current?.buffer) this.context.arena.free(this.current.buffer);
    this.current = undefined;
  }

  /**
   * Makes every written extent durable before the caller commits metadata: flushes the devices
   * written plainly (extents written durably need no flush). A device that drops
   * out now (offline, or its flush fails) costs each group at most one block, so with at most
   * parityCount such devices every group is still readable: the put finishes degraded (the
   * devices are marked failed and a rebuild restores redundancy), as md and ZFS finish writes.
   */
  async flush(): Promise<void> {
    const lost: { deviceId: number; error: DeviceIoError | DeviceFailedError }[] = [];
    for (const deviceId of this.durableDeviceIds) {
      // Its writes are durable already; a device gone since counts against the groups as below.
      if (this.touchedDeviceIds.has(deviceId) || this.context.devices.usable(deviceId)) continue;
      lost.push({ deviceId, error: new DeviceFailedError(`#${deviceId}`, 'it went offline before the put committed') });
    }
    await Promise.all(
      [...this.touchedDeviceIds].map(async (deviceId) => {
        const device = this.context.devices.usable(deviceId);
        try {
          if (!device) throw new DeviceFailedError(`#${deviceId}`, 'it went offline before its writes were flushed');
          // mayWait: while the journal writes a record, share the flush that follows it.
          await this.context.flusher.flush(device, { mayWait: true });
        } catch (error) {
          if (!(error instanceof DeviceIoError || error instanceof DeviceFailedError)) throw error;
          throwIfHostFull(error);
          lost.push({ deviceId, error });
        }
      }),
    );
    if (lost.length === 0) return;
    // Each group must keep at least dataCount durable blocks on devices still usable; if one
    // cannot, the put fails and no device is marked (so many at once is more likely the host).
    const gone = new Set(lost.map((entry) => entry.deviceId));
    for (const group of this.groups) {
      const missing = group.extents.filter((extent) => gone.has(extent.deviceId) || !this.context.devices.usable(extent.deviceId)).length;
      if (missing > this.context.parityCount) throw lost[0]!.error;
    }
    for (const { deviceId, error } of lost) this.context.onWriteError(deviceId, error);
  }

  async settle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  releaseExtents(): void {
    for (const extent of this.reserved.splice(0)) {
      this.context.allocator.release(extent.deviceId, extent.startLb, extent.lengthLb);
    }
  }

  sortedGroups(): NewGroup[] {
    return [...this.groups].sort((a, b) => a.sequence - b.sequence);
  }

  private throwIfStopped(): void {
    if (this.firstError !== undefined) throw this.firstError;
    if (this.options.signal?.aborted) throw new AbortedError('put was aborted');
  }

  /** Waits for a pipeline slot, then takes an arena buffer for the largest group that fits now. */
  private async startGroup(): Promise<FillingGroup> {
    const shape = await this.startSlot();
    const lengthBytes = (shape.dataCount + this.context.parityCount) * shape.extentLb * LB_BYTES;
    const buffer = await this.context.arena.acquire(lengthBytes, this.options.signal);
    return { buffer, shape, filledBytes: 0 };
  }

  /** Waits for a pipeline slot; the shape of the next group (smaller for a known last group). */
  private async startSlot(): Promise<GroupShape> {
    while (this.inflight.size >= this.context.groupsInFlightMax) await Promise.race(this.inflight);
    this.throwIfStopped();
    let shape = this.largestPlaceableShape();
    // With the size known, the last group's buffer is only as large as its bytes need (a 1-byte
    // file takes 1+m LB of the arena, not a full group's worth).
    const remainingBytes = this.options.sizeBytes === undefined ? Infinity : this.options.sizeBytes - this.totalBytes;
    if (remainingBytes > 0 && remainingBytes < shape.dataCount * shape.extentLb * LB_BYTES) {
      shape = groupShape(remainingBytes, shape.dataCount, shape.extentLb);
    }
    return shape;
  }

  private dispatch(): void {
    const group = this.current!;
    this.current = undefined;
    const sequence = this.sequence++;
    // Taken here, in sequence order: groups reach placement in whatever order their encodes finish.
    const rotation = this.rotationFor(group.shape.dataCount);
    const task = this.writeGroup(group, sequence, rotation)
      .catch((error: unknown) => {
        this.firstError ??= error;
      })
      .finally(() => {
        if (group.buffer) this.context.arena.free(group.buffer);
        this.inflight.delete(task);
      });
    this.inflight.add(task);
  }

  private async writeGroup(group: FillingGroup, sequence: number, rotation: number): Promise<void> {
    const { context } = this;
    let shape = groupShape(group.filledBytes, group.shape.dataCount, group.shape.extentLb);
    let encoded = await this.encode(group, shape);
    try {
      for (let attempt = 1; ; attempt++) {
        if (!this.placeable(shape)) {
          // Devices failed since the group was sized: re-cut the same bytes into a narrower
          // group (longer extents, new parity) in a buffer of its own.
          shape = this.narrowerShape(group.filledBytes);
          const reshaped = await this.reshape(group, shape);
          if (encoded.scratch) context.arena.free(encoded.scratch);
          encoded = await this.encode(reshaped, shape).catch((error: unknown) => {
            context.arena.free(reshaped.buffer!);
            throw error;
          });
          encoded.scratch = reshaped.buffer;
        }
        const extents = this.reserveExtents(shape, rotation);
        extents.forEach((extent, i) => (extent.checksum = encoded.checksums[i]!));
        const { failure, durable } = await this.writeExtents(extents, encoded.blocks);
        if (failure === undefined) {
          extents.forEach((extent, i) => (durable[i] ? this.durableDeviceIds : this.touchedDeviceIds).add(extent.deviceId));
          this.groups.push({ sequence, ...shape, parityCount: context.parityCount, lengthBytes: group.filledBytes, extents });
          this.doneBytes += group.filledBytes;
          this.options.onProgress?.({ doneBytes: this.doneBytes, totalBytes: this.options.sizeBytes });
          return;
        }
        // The failed devices are marked failed now, so the next placement avoids them.
        this.unreserve(extents);
        if (attempt >= GROUP_WRITE_ATTEMPTS_MAX) throw failure;
      }
    } finally {
      if (encoded.scratch) context.arena.free(encoded.scratch);
    }
  }

  /** A copy of the group's bytes in a buffer of the narrower shape (its caller frees it). */
  private async reshape(group: FillingGroup, shape: GroupShape): Promise<FillingGroup> {
    const buffer = await this.context.arena.acquire((shape.dataCount + this.context.parityCount) * shape.extentLb * LB_BYTES);
    buffer.bytes.set(this.groupBytes(group));
    return { buffer, shape, filledBytes: group.filledBytes };
  }

  private groupBytes(group: FillingGroup): Uint8Array {
    return group.borrowed ?? group.buffer!.bytes.subarray(0, group.filledBytes);
  }

  /**
   * Zero-pads the data blocks and computes parity and every block's checksum. A group of
   * borrowed bytes is encoded in place: its whole data blocks are the caller's memory, and only
   * parity and the partly filled blocks (zero-padded copies) take a scratch buffer.
   */
  private async encode(group: FillingGroup, shape: GroupShape): Promise<EncodedGroup> {
    const extentBytes = shape.extentLb * LB_BYTES;
    const width = shape.dataCount + this.context.parityCount;
    let blocks: Uint8Array[];
    let scratch: ArenaBuffer | undefined;
    if (group.borrowed === undefined) {
      const buffer = group.buffer!;
      buffer.bytes.fill(0, group.filledBytes, shape.dataCount * extentBytes);
      blocks = Array.from({ length: width }, (_, i) => buffer.bytes.subarray(i * extentBytes, (i + 1) * extentBytes));
    } else {
      const borrowed = group.borrowed;
      const wholeBlocks = Math.floor(group.filledBytes / extentBytes);
      const scratchBlocks = width - wholeBlocks;
      scratch = await this.context.arena.acquire(scratchBlocks * extentBytes);
      const own = scratch.bytes;
      const tailBytes = group.filledBytes - wholeBlocks * extentBytes;
      own.set(borrowed.subarray(wholeBlocks * extentBytes, group.filledBytes));
      own.fill(0, tailBytes, (shape.dataCount - wholeBlocks) * extentBytes);
      blocks = Array.from({ length: width }, (_, i) =>
        i < wholeBlocks ? borrowed.subarray(i * extentBytes, (i + 1) * extentBytes) : own.subarray((i - wholeBlocks) * extentBytes, (i - wholeBlocks + 1) * extentBytes),
      );
    }
    try {
      const checksums = await this.context.codec.encodeWithChecksums(blocks.slice(0, shape.dataCount), blocks.slice(shape.dataCount));
      return { blocks, checksums, scratch };
    } catch (error) {
      if (scratch) this.context.arena.free(scratch);
      throw error;
    }
  }

  private placeable(shape: GroupShape): boolean {
    const roomy = this.candidates().filter((candidate) => candidate.largestFreeLb >= shape.extentLb);
    return roomy.length >= shape.dataCount + this.context.parityCount;
  }

  /** The widest shape for these bytes that the devices left can hold (NoSpaceError if none). */
  private narrowerShape(lengthBytes: number): GroupShape {
    const shape = widestPlaceableShape(this.candidates(), lengthBytes, this.largestPlaceableShape().dataCount, this.context.parityCount);
    if (!shape) throw new NoSpaceError(`no ${this.context.parityCount + 1} devices are left with room for a group of ${lengthBytes} bytes`);
    return shape;
  }

  /**
   * Writes every extent of a group in one batch; returns the first device error, if any, and
   * which extents were written durably (short extents on devices that can: DURABLE_WRITE_LB_MAX).
   */
  private async writeExtents(extents: NewExtent[], blocks: Uint8Array[]): Promise<{ failure: Error | undefined; durable: boolean[] }> {
    const durable = extents.map(() => false);
    const outcomes = await Promise.allSettled(
      extents.map(async (extent, i) => {
        const device = this.context.devices.usable(extent.deviceId);
        if (!device) throw new DeviceFailedError(`#${extent.deviceId}`, 'it went offline during a write');
        const range = [{ startLb: extent.startLb, lengthLb: extent.lengthLb }];
        if (device.writeDurable && extent.lengthLb <= DURABLE_WRITE_LB_MAX) {
          durable[i] = true;
          await device.writeDurable(range, [blocks[i]!]);
        } else {
          await device.write(range, [blocks[i]!]);
        }
      }),
    );
    let failure: Error | undefined;
    for (const outcome of outcomes) if (outcome.status === 'rejected') throwIfHostFull(outcome.reason);
    outcomes.forEach((outcome, i) => {
      if (outcome.status === 'fulfilled') return;
      const reason: unknown = outcome.reason;
      if (!(reason instanceof DeviceIoError || reason instanceof DeviceFailedError)) throw reason;
      this.context.onWriteError(extents[i]!.deviceId, reason);
      failure ??= reason;
    });
    return { failure, durable };
  }

  private unreserve(extents: NewExtent[]): void {
    for (const extent of extents) {
      this.reserved.splice(this.reserved.indexOf(extent), 1);
      this.context.allocator.release(extent.deviceId, extent.startLb, extent.lengthLb);
    }
  }

  /** Chooses devices and takes extents from the allocator; synchronous, so no other put interleaves. */
  private reserveExtents(shape: GroupShape, rotation: number): NewExtent[] {
    const { context } = this;
    const placement = placeGroup(this.candidates(), shape.dataCount, context.parityCount, shape.extentLb, rotation, context.partners);
    const roles = [
      ...placement.dataDeviceIds.map((deviceId, index) => ({ deviceId, role: 'data' as const, index })),
      ...placement.parityDeviceIds.map((deviceId, index) => ({ deviceId, role: 'parity' as const, index })),
    ];
    return roles.map(({ deviceId, role, index }) => {
      const startLb = context.allocator.allocate(deviceId, shape.extentLb);
      if (startLb === undefined) throw new Error(`write path: placement chose device ${deviceId} without room`);
      const extent: NewExtent = { deviceId, startLb, lengthLb: shape.extentLb, role, index, checksum: new Uint8Array(0) };
      this.reserved.push(extent);
      return extent;
    });
  }

  /**
   * A file's data blocks continue round the devices from group to group (group j+1's first data
   * block goes where group j's data ended), so any run of consecutive blocks no longer than the
   * device count lies on distinct devices: when the array grows, the in-place combine
   * (combine_groups.ts) re-cuts them into wider groups and moves none of them — it writes only
   * the new parity. Parity still rotates over every device (by k per group).
   */
  private rotationFor(dataCount: number): number {
    const rotation = this.rotationNext ?? this.context.nextRotation();
    this.rotationNext = rotation + dataCount;
    return rotation;
  }

  private candidates(): PlacementCandidate[] {
    const { allocator, devices } = this.context;
    return devices.placeable().map(({ row }) => ({
      deviceId: row.deviceId,
      usedLb: allocator.dataAreaLb(row.deviceId) - allocator.freeLb(row.deviceId),
      dataAreaLb: allocator.dataAreaLb(row.deviceId),
      largestFreeLb: allocator.largestFreeLb(row.deviceId),
    }));
  }

  /**
   * The widest, longest group that can be placed right now: k = min(maxDataWidth, devices with
   * room - m), and extents no longer than the (k+m)-th largest free run.
   */
  private largestPlaceableShape(): GroupShape {
    const { parityCount, maxDataWidth, extentLbMax } = this.context;
    const runs = this.candidates()
      .map((candidate) => candidate.largestFreeLb)
      .filter((lengthLb) => lengthLb > 0)
      .sort((a, b) => b - a);
    const dataCount = Math.min(maxDataWidth, runs.length - parityCount);
    if (dataCount < 1) {
      throw new NoSpaceError(`the array is full: ${runs.length} devices have free space, a group needs at least ${parityCount + 1}`);
    }
    return { dataCount, extentLb: Math.min(extentLbMax, runs[dataCount + parityCount - 1]!) };
  }

  /** Refuses at once a write of known size that cannot fit, so nothing is half-written. */
  private checkRoomFor(sizeBytes: number): void {
    const { allocator, devices, parityCount, maxDataWidth } = this.context;
    const online = devices.placeable();
    const dataCount = Math.min(maxDataWidth, online.length - parityCount);
    const freeBytes = online.reduce((sum, { row }) => sum + allocator.freeLb(row.deviceId), 0) * LB_BYTES;
    const usableBytes = dataCount >= 1 ? (freeBytes * dataCount) / (dataCount + parityCount) : 0;
    if (sizeBytes > usableBytes) {
      throw new NoSpaceError(`${sizeBytes} bytes do not fit: about ${Math.floor(usableBytes)} bytes of data space are free`);
    }
  }
}
