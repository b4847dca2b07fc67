// RangeTree against a sorted array of ranges: random inserts, removes, updates and queries,
// every answer compared and every invariant asserted after every step. A fixed number of runs;
// the seed is printed and ELASTRIPE_RANGE_TREE_SEED replays it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NIL, RangeTree } from '../../src/meta/range_tree.js';

const SEED = Number(process.env.ELASTRIPE_RANGE_TREE_SEED ?? Date.now() % 1_000_000);
const NUM_RUNS = Number(process.env.ELASTRIPE_RANGE_TREE_RUNS ?? 300);
const KEY_MAX = 400;

type Range = { startLb: number; lengthLb: number };
type Operation =
  | { kind: 'insert'; startLb: number; lengthLb: number }
  | { kind: 'remove'; pick: number; existing: boolean }
  | { kind: 'update'; pick: number; shrinkLeftLb: number; shrinkRightLb: number; growLeft: boolean }
  | { kind: 'query'; key: number; lengthLb: number };

const operation: fc.Arbitrary<Operation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('insert' as const), startLb: fc.integer({ min: 0, max: KEY_MAX }), lengthLb: fc.integer({ min: 1, max: 12 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat(), existing: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('update' as const), pick: fc.nat(), shrinkLeftLb: fc.integer({ min: 0, max: 3 }), shrinkRightLb: fc.integer({ min: 0, max: 3 }), growLeft: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('query' as const), key: fc.integer({ min: -1, max: KEY_MAX + 20 }), lengthLb: fc.integer({ min: 1, max: 30 }) }) },
);

/** Sorted, disjoint ranges as the tree's arguments would build them (adjacent allowed). */
const sortedRanges: fc.Arbitrary<Range[]> = fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 9 })), { maxLength: 60 }).map((pairs) => {
  let cursorLb = 0;
  return pairs.map(([gapLb, lengthLb]) => {
    const range = { startLb: cursorLb + gapLb, lengthLb };
    cursorLb = range.startLb + lengthLb;
    return range;
  });
});

describe('RangeTree against a sorted array', () => {
  it('agrees over random operation sequences', () => {
    console.log(`range tree model test: seed ${SEED}, ${NUM_RUNS} runs (ELASTRIPE_RANGE_TREE_SEED to replay)`);
    fc.assert(
      fc.property(sortedRanges, fc.array(operation, { maxLength: 80 }), (initial, operations) => {
        const tree = RangeTree.fromSorted(initial.map((r) => r.startLb), initial.map((r) => r.lengthLb), initial.length);
        const model = initial.map((range) => ({ ...range }));
        check(tree, model);
        for (const op of operations) {
          apply(tree, model, op);
          check(tree, model);
        }
      }),
      { seed: SEED, numRuns: NUM_RUNS },
    );
  });

  it('stays balanced under sequential inserts and removes (the AVL worst case for a plain BST)', () => {
    const tree = new RangeTree();
    const count = 10_000;
    for (let i = 0; i < count; i++) tree.insert(i * 10, 1 + (i % 7));
    tree.assertInvariants();
    expect(tree.size).toBe(count);
    expect(tree.maxLengthLb()).toBe(7);
    expect(heightOf(tree)).toBeLessThanOrEqual(Math.ceil(1.45 * Math.log2(count + 2)));
    for (let i = 0; i < count; i += 2) tree.remove(i * 10);
    tree.assertInvariants();
    expect(tree.size).toBe(count / 2);
    expect(tree.startLb(tree.firstFit(1))).toBe(10);
  });

  it('reuses removed nodes rather than growing', () => {
    const tree = new RangeTree(4);
    for (let round = 0; round < 100; round++) {
      for (let i = 0; i < 4; i++) tree.insert(i * 10, 5);
      for (let i = 0; i < 4; i++) tree.remove(i * 10);
    }
    tree.assertInvariants();
    expect(tree.size).toBe(0);
    expect((tree as unknown as { startLbs: Float64Array }).startLbs.length).toBe(4);
  });

  it('refuses what breaks its contract', () => {
    const tree = RangeTree.fromSorted([0, 10], [5, 5], 2);
    expect(() => tree.insert(10, 1)).toThrow('range tree: a range already starts at 10');
    expect(() => tree.insert(20, 0)).toThrow('range tree: insert of empty range at 20');
    expect(() => tree.remove(3)).toThrow('range tree: no range starts at 3');
    expect(() => tree.update(3, 3, 1)).toThrow('range tree: no range starts at 3');
    expect(() => RangeTree.fromSorted([0, 3], [5, 5], 2)).toThrow('range tree: ranges unsorted or overlapping at 3');
    expect(() => RangeTree.fromSorted([0], [0], 1)).toThrow('range tree: empty range at 0');
    tree.assertInvariants();
  });

  // Test the test: every kind of damage is caught by assertInvariants.
  it.each([
    ['a wrong height', (t: TreeGuts) => (t.heights[t.root] = 9), /height/],
    ['a wrong augmented max', (t: TreeGuts) => (t.maxLbs[t.root] = 1), /max/],
    ['keys out of order', (t: TreeGuts) => (t.startLbs[t.root] = 1000), /unsorted or overlapping/],
    ['an overlap', (t: TreeGuts) => (t.lengthLbs[t.lefts[t.root]!] = 500), /unsorted or overlapping|max/],
    ['a lost subtree', (t: TreeGuts) => (t.count += 1), /reachable/],
    ['an unbalanced subtree', (t: TreeGuts) => unbalance(t), /unbalanced/],
  ])('assertInvariants catches %s', (_name, damage, message) => {
    const tree = RangeTree.fromSorted([0, 10, 20, 30, 40, 50, 60], [1, 2, 3, 4, 5, 6, 7], 7);
    tree.assertInvariants();
    damage(tree as unknown as TreeGuts);
    expect(() => tree.assertInvariants()).toThrow(message);
  });
});

interface TreeGuts {
  startLbs: Float64Array;
  lengthLbs: Float64Array;
  maxLbs: Float64Array;
  lefts: Int32Array;
  rights: Int32Array;
  heights: Uint8Array;
  root: number;
  count: number;
}

/**
 * Drops the root's left subtree of the balanced 7-node tree (root 3 over 1 (0, 2) and 5 (4, 6))
 * and fixes the root's height, maximum and the count: keys stay ordered and every stored figure
 * is right, so only the balance (0 against 2) is wrong.
 */
function unbalance(t: TreeGuts): void {
  t.lefts[t.root] = -1;
  t.count = 4;
  t.heights[t.root] = 3;
  t.maxLbs[t.root] = 7;
}

function heightOf(tree: RangeTree): number {
  const guts = tree as unknown as TreeGuts;
  return guts.root === -1 ? 0 : guts.heights[guts.root]!;
}

function apply(tree: RangeTree, model: Range[], op: Operation): void {
  switch (op.kind) {
    case 'insert': {
      const endLb = op.startLb + op.lengthLb;
      const clash = model.find((r) => r.startLb < endLb && op.startLb < r.startLb + r.lengthLb);
      if (clash?.startLb === op.startLb) {
        expect(() => tree.insert(op.startLb, op.lengthLb)).toThrow(`range tree: a range already starts at ${op.startLb}`);
      } else if (clash === undefined) {
        tree.insert(op.startLb, op.lengthLb);
        model.push({ startLb: op.startLb, lengthLb: op.lengthLb });
        model.sort((a, b) => a.startLb - b.startLb);
      }
      return;
    }
    case 'remove': {
      if (op.existing && model.length > 0) {
        const [removed] = model.splice(op.pick % model.length, 1);
        tree.remove(removed!.startLb);
      } else {
        const key = op.pick % (KEY_MAX + 10);
        if (model.some((r) => r.startLb === key)) return;
        expect(() => tree.remove(key)).toThrow(`range tree: no range starts at ${key}`);
      }
      return;
    }
    case 'update': {
      if (model.length === 0) return;
      const index = op.pick % model.length;
      const range = model[index]!;
      // Shrink from either side (keeping at least 1 LB), or grow left into the gap before it.
      const previousEndLb = index > 0 ? model[index - 1]!.startLb + model[index - 1]!.lengthLb : 0;
      let startLb = range.startLb + Math.min(op.shrinkLeftLb, range.lengthLb - 1);
      let endLb = Math.max(startLb + 1, range.startLb + range.lengthLb - op.shrinkRightLb);
      if (op.growLeft) startLb = Math.max(previousEndLb, range.startLb - op.shrinkLeftLb);
      endLb = Math.max(endLb, startLb + 1);
      tree.update(range.startLb, startLb, endLb - startLb);
      model[index] = { startLb, lengthLb: endLb - startLb };
      return;
    }
    case 'query': {
      const fit = model.find((r) => r.lengthLb >= op.lengthLb);
      expect(describeNode(tree, tree.firstFit(op.lengthLb))).toEqual(fit);
      expect(describeNode(tree, tree.floor(op.key))).toEqual(model.filter((r) => r.startLb <= op.key).at(-1));
      expect(describeNode(tree, tree.lower(op.key))).toEqual(model.filter((r) => r.startLb < op.key).at(-1));
      expect(describeNode(tree, tree.ceiling(op.key))).toEqual(model.find((r) => r.startLb >= op.key));
      return;
    }
  }
}

function describeNode(tree: RangeTree, node: number): Range | undefined {
  return node === NIL ? undefined : { startLb: tree.startLb(node), lengthLb: tree.lengthLb(node) };
}

function check(tree: RangeTree, model: Range[]): void {
  tree.assertInvariants();
  expect(tree.size).toBe(model.length);
  expect(tree.toArray()).toEqual(model);
  expect(tree.maxLengthLb()).toBe(model.reduce((max, r) => Math.max(max, r.lengthLb), 0));
}
