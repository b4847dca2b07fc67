// How much file data a set of devices can hold at most, given parity m and the widest group
// kmax + m — the bound placement aims at and `status` reports.
//
// Theory. Count space in blocks (one extent each). Let the devices hold c_1..c_n blocks and let
// a layout have g groups of widths w_j (m + 1 <= w_j <= kmax + m, at most n), every group's
// blocks on distinct devices. A device takes at most one block per group, so it holds at most
// min(c_i, g) blocks, and the layout holds W = sum_j w_j <= S(g) := sum_i min(c_i, g) blocks.
// Conversely any W with (m+1)g <= W <= min(S(g), (kmax+m)g) is reachable: fill the groups
// round-robin from the devices taken in turn, each device contributing min(c_i, g) blocks to
// consecutive groups (wrapping around) — no device lands twice in a group because it
// contributes at most g blocks — then trim groups to the widths wanted (the classic condition:
// a layout with blocks on distinct devices exists iff no device holds more than W / w of a
// width-w layout's blocks). Each group costs m parity blocks, so the data a layout holds is
//
//     data(g) = min(S(g), (kmax + m)·g) − m·g,   subject to S(g) >= (m + 1)·g,
//
// and the array's data capacity is max over g of data(g). S is concave and piecewise linear
// (breakpoints at the c_i), so data(g) is concave too and its maximum lies at a breakpoint
// or where S(g) meets (kmax+m)·g or (m+1)·g; `dataCapacity` evaluates exactly those points.
//
// Consequences: with equal devices the bound is n·c·k/(k+m) for k = min(kmax, n − m). A device
// larger than the others combined can never be filled (each of its blocks needs m other
// devices' blocks beside it in its group): at the optimum it holds at most g* blocks, and
// `status` reports the rest as unusable. With one fixed width w this is the familiar rule:
// B blocks are placeable iff no device must hold more than B / w of them, i.e. S(B / w) >= B.
import { InvalidArgumentError } from '../errors.js';

export interface CapacityBound {
  /** Most data blocks a layout on these devices can hold. */
  dataBlocks: number;
  /** Raw blocks that layout uses (data + parity). */
  rawBlocks: number;
  /** Number of groups at the optimum (the largest g that reaches it). */
  groups: number;
  /** Blocks each device can be filled with at the optimum: min(c_i, g*). */
  usableBlocksByDevice: number[];
}

/** Tolerance of the floating-point comparisons (the inputs are whole numbers of blocks). */
const EPSILON = 1e-9;

/**
 * The data capacity bound of devices holding `capacities` blocks, parity `parityCount`, groups
 * of at most `dataCountMax` data blocks. Capacities may be fractional (e.g. LB / extent LB).
 */
export function dataCapacity(capacities: readonly number[], parityCount: number, dataCountMax: number): CapacityBound {
  if (!(parityCount >= 1) || !(dataCountMax >= 1)) throw new InvalidArgumentError(`capacity bound: parity ${parityCount}, data width ${dataCountMax}`);
  const caps = capacities.filter((c) => c > 0).sort((a, b) => a - b);
  const none: CapacityBound = { dataBlocks: 0, rawBlocks: 0, groups: 0, usableBlocksByDevice: capacities.map(() => 0) };
  if (caps.length < parityCount + 1) return none;
  const widthMax = Math.min(dataCountMax + parityCount, caps.length);
  const candidates = new Set<number>(caps);
  // On the segment between breakpoints, S(g) = below + g·above (below: sum of the smaller
  // capacities, above: how many are at least g). Where it meets w·g: g = below / (w − above).
  let below = 0;
  for (let i = 0; i <= caps.length; i++) {
    const above = caps.length - i;
    for (const width of [widthMax, parityCount + 1]) {
      if (width > above) candidates.add(below / (width - above));
    }
    if (i < caps.length) below += caps[i]!;
  }
  let best = { data: 0, raw: 0, g: 0 };
  for (const g of candidates) {
    if (!(g > 0) || !Number.isFinite(g)) continue;
    const s = spread(caps, g);
    if (s + EPSILON < (parityCount + 1) * g) continue;
    const raw = Math.min(s, widthMax * g);
    const data = raw - parityCount * g;
    if (data > best.data + EPSILON || (Math.abs(data - best.data) <= EPSILON && g > best.g)) best = { data, raw, g };
  }
  if (best.g === 0) return none;
  return { dataBlocks: best.data, rawBlocks: best.raw, groups: best.g, usableBlocksByDevice: capacities.map((c) => Math.max(0, Math.min(c, best.g))) };
}

/** S(g) = sum_i min(c_i, g): the most blocks g groups can take from these devices. */
export function spread(capacities: readonly number[], g: number): number {
  return capacities.reduce((sum, c) => sum + Math.min(c, g), 0);
}
