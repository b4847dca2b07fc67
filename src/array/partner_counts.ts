// How many groups each pair of devices shares: the memory placement uses to decluster.
//
// A rebuild of a lost device reads, for each of its groups, the other blocks of that group, so
// the survivors it reads from are that device's partners. If every device's groups are
// partnered evenly with all the others, a survivor reads about k/(n−1) of the lost bytes and
// the rebuild runs n−1 devices at once; if they form fixed neighbourhoods, a few partners are
// read for all of it. Placement (placement.ts) picks, among the devices that are equally good
// for balance, the ones sharing the fewest groups with those already chosen.
//
// The counts are of the groups this process placed (puts and restripes), not of the whole
// layout: they start at zero when the array opens, so the groups placed after an open spread
// among themselves. Deleting or moving a group does not lower them (what matters is only that
// new groups go where fewer partners were made).
//
// Invariants (assertInvariants):
//   1. count(a, b) === count(b, a) for every pair; the map is kept for a < b only.
//   2. Every count is a positive whole number (a pair is absent until it shares a group).
//   3. No device is its own partner.

export class PartnerCounts {
  /** key a * PAIR_KEY_BASE + b for a < b. */
  private readonly counts = new Map<number, number>();

  /** Groups devices `a` and `b` share (0 for a device with itself). */
  count(a: number, b: number): number {
    if (a === b) return 0;
    return this.counts.get(pairKey(a, b)) ?? 0;
  }

  /** Records one group on these distinct devices. */
  addGroup(deviceIds: readonly number[]): void {
    for (let i = 0; i < deviceIds.length; i++) {
      for (let j = i + 1; j < deviceIds.length; j++) {
        const [a, b] = [deviceIds[i]!, deviceIds[j]!];
        if (a === b) throw new Error(`partner counts: device ${a} twice in one group`);
        const key = pairKey(a, b);
        this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      }
    }
    this.assertInvariants();
  }

  /** Groups `deviceId` shares with each of `others`, summed: how partnered it already is with them. */
  shared(deviceId: number, others: readonly number[]): number {
    let sum = 0;
    for (const other of others) sum += this.count(deviceId, other);
    return sum;
  }

  assertInvariants(): void {
    for (const [key, value] of this.counts) {
      const a = Math.floor(key / PAIR_KEY_BASE);
      const b = key % PAIR_KEY_BASE;
      if (!(a < b)) throw new Error(`partner counts invariant 1/3: pair ${a},${b} stored out of order`);
      if (!Number.isInteger(value) || value < 1) throw new Error(`partner counts invariant 2: pair ${a},${b} counts ${value}`);
    }
  }
}

/** Device ids are small (a row id per device); this keeps the pair key a safe integer. */
const PAIR_KEY_BASE = 1 << 20;

function pairKey(a: number, b: number): number {
  if (!(a >= 0 && b >= 0 && a < PAIR_KEY_BASE && b < PAIR_KEY_BASE)) throw new Error(`partner counts: device ids ${a}, ${b} out of range`);
  return a < b ? a * PAIR_KEY_BASE + b : b * PAIR_KEY_BASE + a;
}
