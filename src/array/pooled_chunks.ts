// Chunks of createReadStream({ pooledChunks: true }): the bytes of each group slice are copied
// out of the arena into one of POOLED_CHUNK_RING reused Buffers instead of a fresh allocation
// (a fresh multi-MiB Buffer costs a page fault per 4 KiB on first touch, often more than the
// read itself).
//
// When a chunk's memory is reused: the stream is built with highWaterMark 1 byte, so it reads
// one group ahead at most; the ring slot of chunk n is refilled for chunk n + POOLED_CHUNK_RING,
// which the stream produces only after the consumer has taken chunks n+1 .. n+RING-2. So a
// chunk stays intact while the consumer holds it through pipe()/pipeline() into a Writable
// whose highWaterMark is below a chunk (the default 16 KiB; write() returns false and the
// stream waits for 'drain', which comes after the write callback) or through `for await`. A
// consumer that keeps chunks (collects them, or writes into a Writable with a buffer of many
// MiB) must copy them, or use the default stream (fresh Buffers).
//
// Invariants (assertInvariants):
//  1. The ring holds at most POOLED_CHUNK_RING Buffers; the next slot is inside it.
export const POOLED_CHUNK_RING = 4;

export interface ChunkPool {
  /** A pooled Buffer holding a copy of `bytes` (valid until RING more chunks are taken). */
  copy(bytes: Uint8Array): Buffer;
  assertInvariants(): void;
}

export function pooledChunks(ringSize = POOLED_CHUNK_RING): ChunkPool {
  const ring: Buffer[] = [];
  let next = 0;
  return {
    copy(bytes) {
      let slot = ring[next];
      if (slot === undefined || slot.byteLength < bytes.byteLength) {
        // Grown to the largest slice seen (group sizes vary only at a file's tail); filled at
        // once, so its pages are touched here and not on every reuse.
        slot = Buffer.alloc(bytes.byteLength);
        ring[next] = slot;
      }
      next = (next + 1) % ringSize;
      slot.set(bytes);
      return slot.subarray(0, bytes.byteLength);
    },
    assertInvariants() {
      if (ring.length > ringSize || next >= ringSize) throw new Error('pooled_chunks: the ring outgrew its size');
    },
  };
}
