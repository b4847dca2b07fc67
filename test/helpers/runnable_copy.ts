// A copy of the built tool that any user can run: package.json, bin/, dist/, the kernels, the
// io_uring addon and the runtime dependencies' closure in node_modules, in a world-readable
// directory. Tests that run the CLI as an unprivileged user need it, because the checkout may lie
// in a private folder (`mktemp -d` makes it 0700) that such a user cannot enter.
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));

/** Paths of the repository the built tool needs at run time. */
const RUNTIME_PATHS = ['package.json', 'bin', 'dist', join('asm', 'build'), join('native', 'build', 'Release')];

/** The packages `roots` depend on at run time, and theirs, as installed under node_modules. */
function dependencyClosure(roots: readonly string[]): string[] {
  const seen = new Set<string>();
  const pending = [...roots];
  while (pending.length > 0) {
    const name = pending.pop()!;
    const manifestPath = join(REPO_DIR, 'node_modules', name, 'package.json');
    if (seen.has(name) || !existsSync(manifestPath)) continue; // optional dependencies may be absent
    seen.add(name);
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, Record<string, string> | undefined>;
    pending.push(...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.optionalDependencies ?? {}));
  }
  return [...seen];
}

export interface RunnableCopy {
  /** The copy's root: run `node <root>/bin/elastripe.js`. */
  root: string;
  /** The launcher inside the copy. */
  binPath: string;
  remove(): void;
}

/** Copies the built tool into a fresh world-readable directory under the system's temp folder. */
export function copyRunnablePackage(): RunnableCopy {
  const root = mkdtempSync(join(tmpdir(), 'elastripe-runnable-'));
  chmodSync(root, 0o755);
  for (const path of RUNTIME_PATHS) {
    const source = join(REPO_DIR, path);
    if (!existsSync(source)) continue; // the addon is optional outside CI; the tool says why it is missing
    mkdirSync(join(root, path, '..'), { recursive: true });
    cpSync(source, join(root, path), { recursive: true });
  }
  const manifest = JSON.parse(readFileSync(join(REPO_DIR, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  for (const name of dependencyClosure(Object.keys(manifest.dependencies ?? {}))) {
    cpSync(join(REPO_DIR, 'node_modules', name), join(root, 'node_modules', name), { recursive: true, dereference: true });
  }
  return { root, binPath: join(root, 'bin', 'elastripe.js'), remove: () => rmSync(root, { recursive: true, force: true }) };
}
