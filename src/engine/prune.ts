/**
 * `runbook prune`: what runs leave on the hosts and nobody removes. Kept copies
 * (`<keep root>/<run id>/`, beside the host's lock: src/actions/keep.ts) and backup directories
 * (`<backup root>/<run id>/`, the `{{ run.id }}` convention of the shipped runbooks) of runs older
 * than a given age. Only directories named exactly like a run id are considered, their age is
 * the time in that id (a copied tree's mtimes say nothing), and the host's lock is taken first, so
 * no run is using them meanwhile. A dry run by default: it lists; with `apply` it removes, and
 * every directory removed (or that could not be) is a JSON line in `<state dir>/prune.jsonl`.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { messageOf } from '../errors.js';
import type { HostEntry } from '../inventory/types.js';
import type { Transport } from '../transport/types.js';
import { acquireLock, releaseLock } from './lock.js';
import { isRunId, newRunId } from './run-id.js';
import { keepRootFor } from './safety.js';

export const DEFAULT_BACKUP_ROOT = '/var/backups/runbook';

export interface PruneCandidate {
  host: string;
  path: string;
  kind: 'kept' | 'backup';
  runId: string;
  ageDays: number;
}

export interface PruneHostResult {
  host: string;
  candidates: PruneCandidate[];
  removed: string[];
  error?: string;
}

/** The time a run id names (`20261122T191500Z-ab12cd`). */
export function runIdTime(id: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-/.exec(id);
  if (!m) return NaN;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

/** The entries of `roots` that are run-id directories older than `olderThanMs` at `now`. */
export function selectOld(host: string, listed: { root: string; kind: PruneCandidate['kind']; names: string[] }[], olderThanMs: number, now: number): PruneCandidate[] {
  const out: PruneCandidate[] = [];
  for (const { root, kind, names } of listed) {
    for (const name of names) {
      if (!isRunId(name)) continue;
      const age = now - runIdTime(name);
      if (!(age > olderThanMs)) continue;
      out.push({ host, path: `${root}/${name}`, kind, runId: name, ageDays: Math.floor(age / 86_400_000) });
    }
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** Directories (not symlinks) directly under $1, one name a line; nothing when $1 is absent. */
const LIST_SCRIPT = 'for d in "$1"/*; do if [ -d "$d" ] && [ ! -L "$d" ]; then printf "%s\\n" "${d##*/}"; fi; done; exit 0';

async function listDirs(t: Transport, root: string): Promise<string[]> {
  const r = await t.exec(['sh', '-c', LIST_SCRIPT, 'sh', root]);
  if (r.code !== 0) throw new Error(`cannot list ${root} on ${t.host}: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`);
  return r.stdout.split('\n').filter(Boolean);
}

export interface PruneHostOptions {
  host: HostEntry;
  transport: Transport;
  lockPath: string;
  backupRoots: string[];
  olderThanMs: number;
  apply: boolean;
  operator: string;
  /** where prune.jsonl is appended (apply only) */
  stateDir: string;
  breakLock?: boolean;
  now?: number;
}

export async function pruneHost(o: PruneHostOptions): Promise<PruneHostResult> {
  const host = o.host.name;
  const id = newRunId();
  const started = new Date().toISOString();
  try {
    await acquireLock(o.transport, o.lockPath, { run_id: id, operator: o.operator, pid: process.pid, started }, { breakLock: o.breakLock === true });
  } catch (e) {
    return { host, candidates: [], removed: [], error: messageOf(e) };
  }
  const removed: string[] = [];
  try {
    const roots = [{ root: keepRootFor(o.lockPath), kind: 'kept' as const }, ...o.backupRoots.map((root) => ({ root: root.replace(/\/+$/, ''), kind: 'backup' as const }))];
    const listed = [];
    for (const r of roots) listed.push({ ...r, names: await listDirs(o.transport, r.root) });
    const candidates = selectOld(host, listed, o.olderThanMs, o.now ?? Date.now());
    if (!o.apply) return { host, candidates, removed };
    mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
    const log = join(o.stateDir, 'prune.jsonl');
    for (const c of candidates) {
      const r = await o.transport.exec(['rm', '-rf', '--', c.path]);
      const ok = r.code === 0;
      if (ok) removed.push(c.path);
      appendFileSync(log, JSON.stringify({ t: new Date().toISOString(), operator: o.operator, ...c, removed: ok, ...(ok ? {} : { message: (r.stderr || r.stdout).trim() }) }) + '\n', { mode: 0o600 });
      if (!ok) return { host, candidates, removed, error: `cannot remove ${c.path} on ${host}: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}` };
    }
    return { host, candidates, removed };
  } catch (e) {
    return { host, candidates: [], removed, error: messageOf(e) };
  } finally {
    await releaseLock(o.transport, o.lockPath, id).catch(() => undefined);
  }
}
