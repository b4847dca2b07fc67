// Deterministic test data for the demo: a plan of files (sizes from 1 byte to ~64 MiB, edge
// sizes around the 4 KiB logical block first) and their contents in four patterns, all derived
// from one seed, so a run can be repeated byte for byte and every file verified by SHA-256.
import { createHash, type Hash } from 'node:crypto';
import { LB_BYTES } from '../constants.js';

export type ContentPattern = 'random' | 'zeros' | 'text' | 'mixed';

export interface DemoFilePlan {
  name: string;
  sizeBytes: number;
  pattern: ContentPattern;
  seed: number;
}

const MIB_BYTES = 1024 * 1024;
const FILE_BYTES_MAX = 64 * MIB_BYTES;
const FILE_BYTES_MIN_RANDOM = 1024;
/** Sizes that sit on and around logical block and chunk boundaries, where off-by-ones live. */
const EDGE_SIZES_BYTES = [1, LB_BYTES - 1, LB_BYTES, LB_BYTES + 1, 3 * LB_BYTES + 7, MIB_BYTES + 1];
const PATTERNS: readonly ContentPattern[] = ['random', 'zeros', 'text', 'mixed'];
export const CHUNK_BYTES = MIB_BYTES;
/** Run length of the random and zero stretches of the 'mixed' pattern. */
const MIXED_RUN_BYTES = 64 * 1024;

/** splitmix32: small, fast, and good enough to make data that does not compress. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** Files adding up to exactly `totalBytes`: the edge sizes first, then log-uniform sizes. */
export function planFiles(seed: number, totalBytes: number): DemoFilePlan[] {
  const random = createRandom(seed);
  const sizeMax = Math.max(FILE_BYTES_MIN_RANDOM, Math.min(FILE_BYTES_MAX, Math.floor(totalBytes / 3)));
  const plans: DemoFilePlan[] = [];
  let remainingBytes = totalBytes;
  while (remainingBytes > 0) {
    const index = plans.length;
    const wanted = index < EDGE_SIZES_BYTES.length ? EDGE_SIZES_BYTES[index]! : logUniform(random, FILE_BYTES_MIN_RANDOM, sizeMax);
    const sizeBytes = Math.min(wanted, remainingBytes);
    const pattern = PATTERNS[index % PATTERNS.length]!;
    plans.push({ name: `f${String(index).padStart(3, '0')}-${pattern}.bin`, sizeBytes, pattern, seed: random() });
    remainingBytes -= sizeBytes;
  }
  return plans;
}

function logUniform(random: () => number, minimum: number, maximum: number): number {
  const unit = random() / 2 ** 32;
  return Math.floor(Math.exp(Math.log(minimum) + unit * (Math.log(maximum) - Math.log(minimum))));
}

/** The file's bytes in chunks of at most CHUNK_BYTES, computed as they are consumed. */
export function* generateContent(plan: DemoFilePlan): Generator<Buffer> {
  const random = createRandom(plan.seed);
  let lineNumber = 0;
  for (let offsetBytes = 0; offsetBytes < plan.sizeBytes; offsetBytes += CHUNK_BYTES) {
    const lengthBytes = Math.min(CHUNK_BYTES, plan.sizeBytes - offsetBytes);
    if (plan.pattern === 'zeros') {
      yield Buffer.alloc(lengthBytes);
    } else if (plan.pattern === 'random') {
      yield randomBytes(random, lengthBytes);
    } else if (plan.pattern === 'text') {
      const text = textBytes(plan.name, lineNumber, lengthBytes);
      lineNumber = text.nextLineNumber;
      yield text.chunk;
    } else {
      yield mixedBytes(random, offsetBytes, lengthBytes);
    }
  }
}

function randomBytes(random: () => number, lengthBytes: number): Buffer {
  const words = new Uint32Array(Math.ceil(lengthBytes / 4));
  for (let index = 0; index < words.length; index += 1) words[index] = random();
  return Buffer.from(words.buffer, 0, lengthBytes);
}

function textBytes(name: string, firstLine: number, lengthBytes: number): { chunk: Buffer; nextLineNumber: number } {
  const lines: string[] = [];
  let textLength = 0;
  let lineNumber = firstLine;
  while (textLength < lengthBytes) {
    const line = `${name} line ${lineNumber}: the quick brown fox jumps over the lazy dog\n`;
    lines.push(line);
    textLength += line.length;
    lineNumber += 1;
  }
  // A line cut at the chunk's end continues nowhere; the next chunk starts a fresh line.
  return { chunk: Buffer.from(lines.join('').slice(0, lengthBytes), 'latin1'), nextLineNumber: lineNumber };
}

/** Alternating runs of random bytes and zeros: data that is partly compressible. */
function mixedBytes(random: () => number, offsetBytes: number, lengthBytes: number): Buffer {
  const chunk = randomBytes(random, lengthBytes);
  const endBytes = offsetBytes + lengthBytes;
  for (let position = offsetBytes; position < endBytes; ) {
    const run = Math.floor(position / MIXED_RUN_BYTES);
    const runEnd = Math.min(endBytes, (run + 1) * MIXED_RUN_BYTES);
    if (run % 2 === 1) chunk.fill(0, position - offsetBytes, runEnd - offsetBytes);
    position = runEnd;
  }
  return chunk;
}

/** Wraps a chunk source so every byte passing through is hashed and counted. */
export function* hashing(chunks: Iterable<Buffer>, hash: Hash, onChunk: (lengthBytes: number) => void): Generator<Buffer> {
  for (const chunk of chunks) {
    hash.update(chunk);
    onChunk(chunk.byteLength);
    yield chunk;
  }
}

export function sha256Hex(chunks: Iterable<Buffer>): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}
