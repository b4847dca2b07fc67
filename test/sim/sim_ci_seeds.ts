// The simulator's CI run (`npm run sim:ci`, run by .ci/run): a FIXED list of seeds, so every CI
// run explores the same operations, faults and power losses and a red CI is a change in the
// code, never an unlucky seed. The list holds seeds that were soaked (run and passed) when it was
// chosen; fresh seeds are explored by `npm run sim` (ELASTRIPE_SIM_MINUTES), and a seed that
// finds a bug is kept in sim_regressions.test.ts as its shrunk steps.
//
// Six seeds (parity 1, 2, 3 twice: configFor takes the parity from seed % 3) of 1,800 planned
// operations each, with the jobs' foreground backoff on (virtual clock, sim_clock.ts): 10,543
// operations run (a few are skipped as impossible at their moment), 286 power losses (asserted
// against SIM_CI_TARGETS), 681 injected faults and 1,114 job rests; 145 s of CPU on one core of
// this machine (a loaded host). 888006 found the combine bug kept in
// sim_regressions.test.ts; 888005 once failed with the wall-clock backoff (ARCHITECTURE.md,
// fault model: not replayable then; the cause that fits it is fixed and kept there too).
export const SIM_CI_SEEDS: readonly number[] = [888003, 888004, 888005, 888006, 888007, 888008];
export const SIM_CI_OPS_PER_SEED = 1_800;
/** What a CI run must explore at least (issue 11). */
export const SIM_CI_TARGETS = { ops: 10_000, powerLosses: 200 } as const;
