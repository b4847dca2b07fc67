// The simulator's model of the array's contents: for every file name, the set of states it may
// be in (a version of its bytes, or absent). A step's outcomes narrow or widen the sets:
//  - delete and get act synchronously when called (the array resolves names before its first
//    await), so their expected outcome is known from the state at call time;
//  - a put acknowledged before a power loss is committed; one that failed is not; one whose
//    promise settled after the power loss may or may not be in the durable state;
//  - puts of one name in the same step commit in an order the model does not know.
// The checker then reads every file and collapses each set to the one state observed, which
// must be one of the allowed states: never a mix, never a lost acknowledged put.

export interface Version {
  readonly id: number;
  readonly bytes: Buffer;
}

/** A file's state: a version of its bytes, or null when it does not exist. */
export type FileState = Version | null;

export class SimModel {
  private readonly files = new Map<string, Set<FileState>>();
  private nextVersionId = 1;

  newVersion(bytes: Buffer): Version {
    return { id: this.nextVersionId++, bytes };
  }

  /** The states a name may be in (absent if never written). */
  possible(name: string): ReadonlySet<FileState> {
    return this.files.get(name) ?? new Set([null]);
  }

  set(name: string, states: Iterable<FileState>): void {
    const set = new Set(states);
    if (set.size === 0) throw new Error(`sim model: ${name} left with no possible state`);
    if (set.size === 1 && set.has(null)) this.files.delete(name);
    else this.files.set(name, set);
  }

  /** Every name that may exist. */
  names(): string[] {
    return [...this.files.keys()].sort();
  }

  /** The one state of a name, or undefined while it is uncertain. */
  certain(name: string): FileState | undefined {
    const states = this.possible(name);
    return states.size === 1 ? [...states][0]! : undefined;
  }

  /** Bytes stored if every name holds its largest possible version. */
  storedBytesMax(): number {
    let total = 0;
    for (const states of this.files.values()) total += Math.max(0, ...[...states].map((state) => state?.bytes.length ?? 0));
    return total;
  }

  /** The number of names whose state is uncertain (after a power loss, before the check). */
  uncertainCount(): number {
    return [...this.files.values()].filter((states) => states.size > 1).length;
  }
}

/** The version among `states` whose bytes equal `bytes`, if any. */
export function matchVersion(states: ReadonlySet<FileState>, bytes: Uint8Array): Version | undefined {
  for (const state of states) if (state && state.bytes.length === bytes.length && state.bytes.equals(bytes)) return state;
  return undefined;
}

/** A short description of how `bytes` differs from each allowed state, for failure reports. */
export function describeMismatch(states: ReadonlySet<FileState>, bytes: Uint8Array): string {
  const parts = [...states].map((state) => {
    if (!state) return 'absent';
    if (state.bytes.length !== bytes.length) return `v${state.id} (${state.bytes.length} bytes; got ${bytes.length})`;
    let at = 0;
    while (at < bytes.length && bytes[at] === state.bytes[at]) at++;
    let differing = 0;
    for (let i = at; i < bytes.length; i++) if (bytes[i] !== state.bytes[i]) differing++;
    return `v${state.id} (${bytes.length} bytes; first difference at byte ${at}, ${differing} bytes differ)`;
  });
  return `allowed: ${parts.join(', ')}`;
}

/** Outcomes of one step's puts and deletes of one name, as the final-state rule needs them. */
export interface NameOutcomes {
  /** State after the step's synchronous deletes (every op starts before any I/O completes). */
  afterDeletes: ReadonlySet<FileState>;
  /** Puts acknowledged before any power loss. */
  acknowledged: Version[];
  /** Puts whose promise resolved after a power loss: committed or not. */
  uncertain: Version[];
}

/**
 * The states a name may be in after a step: an acknowledged put replaces whatever was there
 * (several acknowledged puts: any of them, as their commit order is unknown); an uncertain put
 * may have; failed puts never do.
 */
export function statesAfterStep(outcomes: NameOutcomes): FileState[] {
  const base: FileState[] = outcomes.acknowledged.length > 0 ? outcomes.acknowledged : [...outcomes.afterDeletes];
  return [...base, ...outcomes.uncertain];
}
