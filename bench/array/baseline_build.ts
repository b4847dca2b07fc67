// The array as an earlier commit had it, built beside the checkout so a benchmark can run it
// side by side with today's code on the same devices in the same run: a detached git worktree
// of that commit under the temp directory, with the checkout's node_modules (symlinked: same
// dependencies) and native addon build (copied), compiled with tsc and the asm build there.
// remove() takes the worktree away again, and a process 'exit' hook does so should a run die
// half way. A commit that cannot be built (no git, a shallow clone without it, a compile error)
// is reported as one sentence, never thrown.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdtempSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BaselineBuild {
  /** Full commit id that was built. */
  commit: string;
  /** The worktree (its dist/ holds the build). */
  directory: string;
  /** Absolute path of the built DiskArray module, for a dynamic import. */
  diskArrayModule: string;
  /** Removes the worktree; safe to call more than once. */
  remove(): void;
}

export type BaselineOutcome = { build: BaselineBuild } | { unavailable: string };

const liveBuilds = new Set<BaselineBuild>();
let exitHookInstalled = false;

/** Output of a command, or throws an Error whose message is the command's first stderr line. */
function run(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 }).trim();
  } catch (error) {
    const failure = error as { stderr?: string; stdout?: string; message: string; code?: string };
    if (failure.code === 'ENOENT') throw new Error(`${command} is not installed`);
    const text = `${failure.stderr ?? ''}\n${failure.stdout ?? ''}`.split('\n').map((line) => line.trim()).find((line) => line !== '');
    throw new Error(text ?? failure.message.split('\n')[0]);
  }
}

function removeWorktree(repositoryRoot: string, parent: string, tree: string): void {
  // The node_modules link goes first, so nothing below can ever walk into the checkout's.
  try {
    if (lstatSync(join(tree, 'node_modules')).isSymbolicLink()) unlinkSync(join(tree, 'node_modules'));
  } catch {
    // not there
  }
  try {
    run('git', ['worktree', 'remove', '--force', tree], repositoryRoot);
  } catch {
    rmSync(tree, { recursive: true, force: true });
    try {
      run('git', ['worktree', 'prune'], repositoryRoot);
    } catch {
      // git gone: nothing left to prune
    }
  }
  rmSync(parent, { recursive: true, force: true });
}

/**
 * Builds `commit` of the repository at `repositoryRoot` in a temporary worktree. Takes a few
 * tens of seconds (tsc and the asm build); returns why not in one sentence (naming it as
 * `what`) when it cannot.
 */
export function buildBaseline(repositoryRoot: string, commit: string, what = 'the commit before the change'): BaselineOutcome {
  let fullCommit: string;
  try {
    fullCommit = run('git', ['rev-parse', '--verify', '--quiet', `${commit}^{commit}`], repositoryRoot);
  } catch (error) {
    if ((error as Error).message === 'git is not installed') return { unavailable: `${what} (${commit}) cannot be built because git is not installed` };
    let shallow = false;
    try {
      shallow = run('git', ['rev-parse', '--is-shallow-repository'], repositoryRoot) === 'true';
    } catch {
      // not a git checkout at all
    }
    return { unavailable: `${what} (${commit}) is not in this checkout's git history${shallow ? ' (it is a shallow clone)' : ''}` };
  }
  const parent = mkdtempSync(join(tmpdir(), 'elastripe-baseline-'));
  const tree = join(parent, 'tree');
  let removed = false;
  const build: BaselineBuild = {
    commit: fullCommit,
    directory: tree,
    diskArrayModule: join(tree, 'dist', 'src', 'array', 'disk_array.js'),
    remove: () => {
      if (removed) return;
      removed = true;
      liveBuilds.delete(build);
      removeWorktree(repositoryRoot, parent, tree);
    },
  };
  liveBuilds.add(build);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const live of [...liveBuilds]) live.remove();
    });
  }
  let step = 'git worktree add';
  try {
    run('git', ['worktree', 'add', '--detach', tree, fullCommit], repositoryRoot);
    step = 'linking node_modules';
    symlinkSync(join(repositoryRoot, 'node_modules'), join(tree, 'node_modules'), 'dir');
    // Same addon sources (native/ is unchanged); without a build here the baseline would fall
    // back to the fs backend, so take the checkout's build if it has one.
    const nativeBuild = join(repositoryRoot, 'native', 'build');
    if (existsSync(nativeBuild)) {
      step = 'copying native/build';
      cpSync(nativeBuild, join(tree, 'native', 'build'), { recursive: true });
    }
    step = 'tsc';
    run(process.execPath, [join(repositoryRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], tree);
    step = 'asm/build.mjs';
    run(process.execPath, [join('asm', 'build.mjs')], tree);
    if (!existsSync(build.diskArrayModule)) throw new Error(`${build.diskArrayModule} was not built`);
    return { build };
  } catch (error) {
    build.remove();
    return { unavailable: `${what} (${commit}) could not be built (${step}: ${(error as Error).message})` };
  }
}
