// A set of disjoint ranges [startLb, startLb + lengthLb), kept in an AVL tree keyed by startLb
// and augmented with the longest range of every subtree. The extent allocator keeps one per
// device for its free space; this file knows nothing of devices or allocation.
//
// Costs, n = ranges in the tree: firstFit, floor/lower/ceiling, insert, remove and update are
// O(log n) (one descent, or one descent and the way back up); maxLengthLb is O(1) (the root's
// augmented value); fromSorted builds a perfectly balanced tree in O(n); toArray and
// assertInvariants are O(n).
//
// Nodes live in typed arrays (struct of arrays) rather than one object each: a device with a
// million free ranges costs ~33 MB of flat memory the garbage collector never traces. A node
// is an index into those arrays; NIL is -1. Removed nodes go to a free list threaded through
// `left` and are reused. A node index handed out (firstFit, floor, ...) is valid until the next
// mutation.
//
// Invariants (checked by assertInvariants):
//  1. Ordered: an in-order walk gives strictly increasing startLb, and every range ends at or
//     before the next one starts (the ranges are disjoint). Every length is > 0.
//  2. Balanced (AVL): every node's height is 1 + the larger of its children's heights (NIL
//     has height 0), and its children's heights differ by at most 1.
//  3. Augmented: every node's maxLb is the largest lengthLb in its subtree.
//  4. size equals the number of nodes reachable from the root.

/** "No node": what firstFit, floor, lower and ceiling return when nothing matches. */
export const NIL = -1;
const INITIAL_CAPACITY = 16;
/** An AVL tree of n nodes is at most 1.44·log2(n + 2) high: 64 covers any array length. */
const HEIGHT_MAX = 64;

export class RangeTree {
  private startLbs: Float64Array;
  private lengthLbs: Float64Array;
  private maxLbs: Float64Array;
  private lefts: Int32Array;
  private rights: Int32Array;
  private heights: Uint8Array;
  private root = NIL;
  private count = 0;
  /** Nodes [0, used) have been handed out at least once. */
  private used = 0;
  /** Head of the list of removed nodes, linked through `lefts`. */
  private freeNode = NIL;
  /** Scratch for update's way back up. */
  private readonly path = new Int32Array(HEIGHT_MAX);

  constructor(capacity = INITIAL_CAPACITY) {
    const size = Math.max(1, capacity);
    this.startLbs = new Float64Array(size);
    this.lengthLbs = new Float64Array(size);
    this.maxLbs = new Float64Array(size);
    this.lefts = new Int32Array(size);
    this.rights = new Int32Array(size);
    this.heights = new Uint8Array(size);
  }

  /**
   * Builds a balanced tree from ranges already sorted by startLb and disjoint, in O(n).
   * `startLbs` and `lengthLbs` are read for indices [0, count).
   */
  static fromSorted(startLbs: ArrayLike<number>, lengthLbs: ArrayLike<number>, count: number): RangeTree {
    const tree = new RangeTree(count);
    for (let i = 0; i < count; i++) {
      if (!(lengthLbs[i]! > 0)) throw new Error(`range tree: empty range at ${startLbs[i]}`);
      if (i > 0 && startLbs[i - 1]! + lengthLbs[i - 1]! > startLbs[i]!) {
        throw new Error(`range tree: ranges unsorted or overlapping at ${startLbs[i]}`);
      }
      tree.startLbs[i] = startLbs[i]!;
      tree.lengthLbs[i] = lengthLbs[i]!;
    }
    tree.used = count;
    tree.count = count;
    tree.root = tree.buildBalanced(0, count - 1);
    return tree;
  }

  get size(): number {
    return this.count;
  }

  /** The longest range in the tree, or 0 when it is empty. O(1). */
  maxLengthLb(): number {
    return this.root === NIL ? 0 : this.maxLbs[this.root]!;
  }

  startLb(node: number): number {
    return this.startLbs[node]!;
  }

  lengthLb(node: number): number {
    return this.lengthLbs[node]!;
  }

  /** The range with the lowest startLb whose length is at least lengthLb, or NIL. */
  firstFit(lengthLb: number): number {
    let node = this.root;
    if (node === NIL || this.maxLbs[node]! < lengthLb) return NIL;
    for (;;) {
      // The subtree at node holds a fit; take the leftmost one.
      const left = this.lefts[node]!;
      if (left !== NIL && this.maxLbs[left]! >= lengthLb) node = left;
      else if (this.lengthLbs[node]! >= lengthLb) return node;
      else node = this.rights[node]!;
    }
  }

  /** The range with the greatest startLb ≤ key, or NIL. */
  floor(key: number): number {
    let node = this.root;
    let best = NIL;
    while (node !== NIL) {
      if (this.startLbs[node]! <= key) {
        best = node;
        node = this.rights[node]!;
      } else {
        node = this.lefts[node]!;
      }
    }
    return best;
  }

  /** The range with the greatest startLb < key, or NIL. */
  lower(key: number): number {
    let node = this.root;
    let best = NIL;
    while (node !== NIL) {
      if (this.startLbs[node]! < key) {
        best = node;
        node = this.rights[node]!;
      } else {
        node = this.lefts[node]!;
      }
    }
    return best;
  }

  /** The range with the smallest startLb ≥ key, or NIL. */
  ceiling(key: number): number {
    let node = this.root;
    let best = NIL;
    while (node !== NIL) {
      if (this.startLbs[node]! >= key) {
        best = node;
        node = this.lefts[node]!;
      } else {
        node = this.rights[node]!;
      }
    }
    return best;
  }

  /** Adds a range. The caller guarantees it is disjoint from every range in the tree. */
  insert(startLb: number, lengthLb: number): void {
    if (!(lengthLb > 0)) throw new Error(`range tree: insert of empty range at ${startLb}`);
    this.root = this.insertAt(this.root, startLb, lengthLb);
    this.count++;
  }

  /** Removes the range that starts at startLb; throws if there is none. */
  remove(startLb: number): void {
    this.root = this.removeAt(this.root, startLb);
    this.count--;
  }

  /**
   * Moves or resizes the range that starts at startLb to [newStartLb, newStartLb + newLengthLb).
   * The caller guarantees the result stays disjoint from, and in the same order as, its
   * neighbours, so the tree's shape does not change: one descent and the maxima on the way up.
   */
  update(startLb: number, newStartLb: number, newLengthLb: number): void {
    if (!(newLengthLb > 0)) throw new Error(`range tree: update of ${startLb} to an empty range`);
    const path = this.path;
    let depth = 0;
    let node = this.root;
    while (node !== NIL && this.startLbs[node] !== startLb) {
      path[depth++] = node;
      node = startLb < this.startLbs[node]! ? this.lefts[node]! : this.rights[node]!;
    }
    if (node === NIL) throw new Error(`range tree: no range starts at ${startLb}`);
    this.startLbs[node] = newStartLb;
    this.lengthLbs[node] = newLengthLb;
    this.refresh(node);
    while (depth > 0) this.refresh(path[--depth]!);
  }

  /** Every range in order of startLb. O(n). */
  toArray(): { startLb: number; lengthLb: number }[] {
    const ranges: { startLb: number; lengthLb: number }[] = [];
    this.walk((node) => ranges.push({ startLb: this.startLbs[node]!, lengthLb: this.lengthLbs[node]! }));
    return ranges;
  }

  assertInvariants(): void {
    let previousEndLb = -Infinity;
    let reached = 0;
    this.walk((node) => {
      const startLb = this.startLbs[node]!;
      const lengthLb = this.lengthLbs[node]!;
      if (!(lengthLb > 0)) throw new Error(`range tree: empty range at ${startLb}`);
      if (startLb < previousEndLb) throw new Error(`range tree: ranges unsorted or overlapping at ${startLb}`);
      previousEndLb = startLb + lengthLb;
      reached++;
      const left = this.lefts[node]!;
      const right = this.rights[node]!;
      const leftHeight = this.heightOf(left);
      const rightHeight = this.heightOf(right);
      if (this.heights[node] !== 1 + Math.max(leftHeight, rightHeight)) {
        throw new Error(`range tree: node at ${startLb} has height ${this.heights[node]}, children ${leftHeight} and ${rightHeight}`);
      }
      if (Math.abs(leftHeight - rightHeight) > 1) throw new Error(`range tree: unbalanced at ${startLb} (${leftHeight} vs ${rightHeight})`);
      const maxLb = Math.max(lengthLb, this.maxOf(left), this.maxOf(right));
      if (this.maxLbs[node] !== maxLb) throw new Error(`range tree: node at ${startLb} has max ${this.maxLbs[node]}, subtree max ${maxLb}`);
    });
    if (reached !== this.count) throw new Error(`range tree: size ${this.count} but ${reached} nodes reachable`);
  }

  // --- private: nodes, balance ---------------------------------------------------------

  /** In-order walk with an explicit stack (a broken tree must not overflow the call stack). */
  private walk(visit: (node: number) => void): void {
    const stack: number[] = [];
    let node = this.root;
    let steps = 0;
    while (node !== NIL || stack.length > 0) {
      while (node !== NIL) {
        if (++steps > this.used) throw new Error('range tree: a node is reachable twice (cycle)');
        stack.push(node);
        node = this.lefts[node]!;
      }
      node = stack.pop()!;
      visit(node);
      node = this.rights[node]!;
    }
  }

  private buildBalanced(low: number, high: number): number {
    if (low > high) return NIL;
    const middle = (low + high) >>> 1;
    this.lefts[middle] = this.buildBalanced(low, middle - 1);
    this.rights[middle] = this.buildBalanced(middle + 1, high);
    this.refresh(middle);
    return middle;
  }

  private newNode(startLb: number, lengthLb: number): number {
    let node = this.freeNode;
    if (node !== NIL) {
      this.freeNode = this.lefts[node]!;
    } else {
      if (this.used === this.startLbs.length) this.grow();
      node = this.used++;
    }
    this.startLbs[node] = startLb;
    this.lengthLbs[node] = lengthLb;
    this.maxLbs[node] = lengthLb;
    this.lefts[node] = NIL;
    this.rights[node] = NIL;
    this.heights[node] = 1;
    return node;
  }

  private freeNodeAt(node: number): void {
    this.lefts[node] = this.freeNode;
    this.freeNode = node;
  }

  private grow(): void {
    const capacity = this.startLbs.length * 2;
    const copy = <T extends Float64Array | Int32Array | Uint8Array>(old: T, fresh: T): T => {
      fresh.set(old);
      return fresh;
    };
    this.startLbs = copy(this.startLbs, new Float64Array(capacity));
    this.lengthLbs = copy(this.lengthLbs, new Float64Array(capacity));
    this.maxLbs = copy(this.maxLbs, new Float64Array(capacity));
    this.lefts = copy(this.lefts, new Int32Array(capacity));
    this.rights = copy(this.rights, new Int32Array(capacity));
    this.heights = copy(this.heights, new Uint8Array(capacity));
  }

  private insertAt(node: number, startLb: number, lengthLb: number): number {
    if (node === NIL) return this.newNode(startLb, lengthLb);
    const key = this.startLbs[node]!;
    if (startLb === key) throw new Error(`range tree: a range already starts at ${startLb}`);
    // The child is computed before it is stored: newNode may grow (replace) the arrays, and
    // `this.lefts[node] = this.insertAt(...)` would store into the array read before the call.
    if (startLb < key) {
      const left = this.insertAt(this.lefts[node]!, startLb, lengthLb);
      this.lefts[node] = left;
    } else {
      const right = this.insertAt(this.rights[node]!, startLb, lengthLb);
      this.rights[node] = right;
    }
    return this.rebalance(node);
  }

  private removeAt(node: number, startLb: number): number {
    if (node === NIL) throw new Error(`range tree: no range starts at ${startLb}`);
    const key = this.startLbs[node]!;
    if (startLb < key) {
      this.lefts[node] = this.removeAt(this.lefts[node]!, startLb);
    } else if (startLb > key) {
      this.rights[node] = this.removeAt(this.rights[node]!, startLb);
    } else {
      const left = this.lefts[node]!;
      const right = this.rights[node]!;
      this.freeNodeAt(node);
      if (left === NIL) return right;
      if (right === NIL) return left;
      // Two children: the smallest node of the right subtree takes this node's place.
      const successor = this.leftmost(right);
      this.rights[successor] = this.removeLeftmost(right);
      this.lefts[successor] = left;
      return this.rebalance(successor);
    }
    return this.rebalance(node);
  }

  private leftmost(node: number): number {
    while (this.lefts[node] !== NIL) node = this.lefts[node]!;
    return node;
  }

  /** Unlinks the leftmost node of the subtree (it stays allocated) and returns the new root. */
  private removeLeftmost(node: number): number {
    const left = this.lefts[node]!;
    if (left === NIL) return this.rights[node]!;
    this.lefts[node] = this.removeLeftmost(left);
    return this.rebalance(node);
  }

  private heightOf(node: number): number {
    return node === NIL ? 0 : this.heights[node]!;
  }

  private maxOf(node: number): number {
    return node === NIL ? 0 : this.maxLbs[node]!;
  }

  /** Recomputes a node's height and maxLb from its children. */
  private refresh(node: number): void {
    const left = this.lefts[node]!;
    const right = this.rights[node]!;
    this.heights[node] = 1 + Math.max(this.heightOf(left), this.heightOf(right));
    this.maxLbs[node] = Math.max(this.lengthLbs[node]!, this.maxOf(left), this.maxOf(right));
  }

  /** Restores the AVL balance at node (children already balanced); returns the subtree root. */
  private rebalance(node: number): number {
    this.refresh(node);
    const balance = this.heightOf(this.lefts[node]!) - this.heightOf(this.rights[node]!);
    if (balance > 1) {
      const left = this.lefts[node]!;
      if (this.heightOf(this.lefts[left]!) < this.heightOf(this.rights[left]!)) this.lefts[node] = this.rotateLeft(left);
      return this.rotateRight(node);
    }
    if (balance < -1) {
      const right = this.rights[node]!;
      if (this.heightOf(this.rights[right]!) < this.heightOf(this.lefts[right]!)) this.rights[node] = this.rotateRight(right);
      return this.rotateLeft(node);
    }
    return node;
  }

  private rotateRight(node: number): number {
    const pivot = this.lefts[node]!;
    this.lefts[node] = this.rights[pivot]!;
    this.rights[pivot] = node;
    this.refresh(node);
    this.refresh(pivot);
    return pivot;
  }

  private rotateLeft(node: number): number {
    const pivot = this.rights[node]!;
    this.rights[node] = this.lefts[pivot]!;
    this.lefts[pivot] = node;
    this.refresh(node);
    this.refresh(pivot);
    return pivot;
  }
}
