// Little-endian word access on the arena as a Uint8Array, for the scalar twins.

export function readU32(memory: Uint8Array, offset: number): number {
  return (memory[offset]! | (memory[offset + 1]! << 8) | (memory[offset + 2]! << 16) | (memory[offset + 3]! << 24)) >>> 0;
}

/** The index-th u32 of an offset list (sources or targets) in the arena. */
export function offsetAt(memory: Uint8Array, listOffset: number, index: number): number {
  return readU32(memory, listOffset + 4 * index);
}

export function writeU32(memory: Uint8Array, offset: number, value: number): void {
  memory[offset] = value & 0xff;
  memory[offset + 1] = (value >>> 8) & 0xff;
  memory[offset + 2] = (value >>> 16) & 0xff;
  memory[offset + 3] = (value >>> 24) & 0xff;
}
