/**
 * Where run journals live, whatever the working directory: the git root's `.runbook/` when the
 * runbook (or, for history, the working directory) is in a git repository, else
 * `$XDG_STATE_HOME/runbook` (~/.local/state/runbook); `--state-dir` overrides both. A run
 * journaled in a repository also leaves a pointer in the XDG state dir (`index/<id>`), so
 * `runbook rollback ID` finds it from any directory.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** The nearest directory at or above `dir` holding `.git` (a directory, or a worktree's file). */
export function gitRoot(dir: string): string | undefined {
  let d = resolve(dir);
  for (;;) {
    if (existsSync(join(d, '.git'))) return d;
    const up = dirname(d);
    if (up === d) return undefined;
    d = up;
  }
}

/** $XDG_STATE_HOME/runbook, else ~/.local/state/runbook. */
export function xdgStateDir(): string {
  const xdg = process.env.XDG_STATE_HOME;
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.local', 'state'), 'runbook');
}

/** The default state dir for a runbook file (apply, plan) or a directory (history). */
export function defaultStateDir(near: string): string {
  const root = gitRoot(existsSync(near) && !near.endsWith('.yaml') && !near.endsWith('.yml') ? near : dirname(near));
  return root ? join(root, '.runbook') : xdgStateDir();
}

/** Record where run `id`'s journal is (best effort: a missing pointer only means "look in the usual places"). */
export function indexRun(id: string, stateDir: string): void {
  const abs = resolve(stateDir);
  if (abs === xdgStateDir()) return;
  try {
    const dir = join(xdgStateDir(), 'index');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, id), abs + '\n', { mode: 0o600 });
  } catch {
    /* no writable home: --state-dir or the repository still finds it */
  }
}

/** The state dir the index points to for run `id`, if there is a (readable, non-empty) pointer. */
function indexPointer(id: string): string | undefined {
  try {
    return readFileSync(join(xdgStateDir(), 'index', id), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The state dirs that may hold run `id`, most likely first (an explicit --state-dir is the only one). */
export function stateDirsFor(id: string, explicit?: string): string[] {
  if (explicit) return [explicit];
  const p = indexPointer(id);
  const out = p ? [p] : [];
  out.push(...usualStateDirs());
  return [...new Set(out.map((d) => resolve(d)))];
}

/** Where journals are looked for when no pointer says: this directory's (its git root's), the XDG one, ./.runbook. */
function usualStateDirs(): string[] {
  return [defaultStateDir(process.cwd()), xdgStateDir(), resolve('.runbook')];
}

/** Every state dir that may hold journals: the explicit one alone, else the usual places and every dir the index points to. */
export function allStateDirs(explicit?: string): string[] {
  if (explicit) return [resolve(explicit)];
  const out = usualStateDirs();
  const index = join(xdgStateDir(), 'index');
  try {
    for (const id of readdirSync(index)) {
      const p = indexPointer(id); // a pointer being written reads as none: the others still count
      if (p) out.push(p);
    }
  } catch {
    /* no index */
  }
  return [...new Set(out.map((d) => resolve(d)))];
}
