/**
 * `runbook prune`: what runs leave on the hosts and nobody removes. Kept copies
 * (`<keep root>/<run id>/`, beside the host's lock: src/actions/keep.ts) and backup directories
 * (`<backup root>/<run id>/`, the `{{ run.id }}` convention of the shipped runbooks) of runs older
 * than a given age. Only directories named exactly like a run id are considered, their age is
 * the time in that id (a copied tree's mtimes say nothing), and the host's lock is taken first, so
 * no run is using them meanwhile. Only those of runs that ended settled on the host (completed, or
 * rolled back) go, judged from this machine's journals (./run-outcome.ts, selectPrunable): never
 * what a failed or interrupted run may still be restored or resumed from. A dry run by default: it
 * lists; with `apply` it removes, and every directory removed (or that could not be) is a JSON
 * line in `<state dir>/prune.jsonl`.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { messageOf } from '../errors.js';
import type { HostEntry } from '../inventory/types.js';
import type { Transport } from '../transport/types.js';
import type { HostRef } from './events.js';
import { acquireLock, releaseLock } from './lock.js';
import { isRunId, newRunId } from './run-id.js';
import { runsOfHost, type HostSettlement, type RunHostIndex, type RunOutcome } from './run-outcome.js';
import { keepRootFor } from './safety.js';

export const DEFAULT_BACKUP_ROOT = '/var/backups/runbook';

export interface PruneCandidate {
  host: string;
  path: string;
  kind: 'kept' | 'backup';
  runId: string;
  ageDays: number;
}

/** An old directory prune leaves alone, and why. */
export interface HeldDir extends PruneCandidate {
  reason: string;
}

export interface PruneHostResult {
  host: string;
  candidates: PruneCandidate[];
  /** old enough, but a host may still need it (or its run is unknown here) */
  held: HeldDir[];
  removed: string[];
  error?: string;
}

export interface PrunePolicy {
  /** the runs journaled on this machine (./run-outcome.ts) */
  runs: Map<string, RunOutcome>;
  /** indexRunHosts(runs.values()): built once for the whole pass, not searched again for each host */
  hosts: RunHostIndex;
  /** the newest N runs that ended completed or rolled back on a host keep their directories (default 1) */
  keepLast: number;
  /** prune directories of runs no journal here knows (default: keep them) */
  includeUnknown: boolean;
}

/** The time a run id names (`20261122T191500Z-ab12cd`). */
export function runIdTime(id: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-/.exec(id);
  if (!m) return NaN;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

type Listed = { root: string; kind: PruneCandidate['kind']; names: string[] }[];

/** The entries of `roots` that are run-id directories older than `olderThanMs` at `now`. */
export function selectOld(host: string, listed: Listed, olderThanMs: number, now: number): PruneCandidate[] {
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

/**
 * Which old directories may go. Never one a host may still be restored from: those of a run that
 * did not end settled on that host (failed, aborted, unreachable, rollback failed, interrupted and
 * resumable), every one on a host whose latest run is not settled (the operator may need any of
 * them), those of runs no journal here knows (unless `includeUnknown`), and those of the newest
 * `keepLast` runs that ended completed or rolled back on it (the last known-good state).
 */
export function selectPrunable(host: HostRef, listed: Listed, olderThanMs: number, now: number, policy: PrunePolicy): { candidates: PruneCandidate[]; held: HeldDir[] } {
  const old = selectOld(host.name, listed, olderThanMs, now);
  if (old.length === 0) return { candidates: [], held: [] }; // nothing old here: no run need be looked at
  const mine = runsOfHost(policy.hosts, host); // run id -> the host's name in that run
  const settlement = (id: string): HostSettlement | undefined => {
    const name = mine.get(id);
    return name === undefined ? undefined : policy.runs.get(id)?.of.get(name);
  };
  const myRuns = [...mine.keys()].flatMap((id) => policy.runs.get(id) ?? []);
  const newestFirst = (a: RunOutcome, b: RunOutcome) => b.started - a.started || (a.id < b.id ? 1 : -1);
  const latest = [...myRuns].sort(newestFirst)[0]?.id;
  const latestState = latest === undefined ? undefined : settlement(latest);
  const isGood = (s: HostSettlement | undefined): boolean => s?.settled === true && s.good;
  // counted over every run with a directory here, recent ones included
  const here = new Set(listed.flatMap((l) => l.names));
  const goodRuns = myRuns.filter((r) => here.has(r.id) && isGood(settlement(r.id))).sort(newestFirst);
  const newest = new Set(goodRuns.slice(0, policy.keepLast).map((r) => r.id));
  const candidates: PruneCandidate[] = [];
  const held: HeldDir[] = [];
  for (const c of old) {
    const s = settlement(c.runId);
    let reason: string | undefined;
    if (!s) {
      if (!policy.includeUnknown) reason = policy.runs.has(c.runId) ? `run ${c.runId}'s journal does not name ${host.name}: whether it still needs this is unknown (--include-unknown prunes it)` : `no journal of run ${c.runId} here: whether ${host.name} still needs it is unknown (--include-unknown prunes it)`;
    } else if (!s.settled) reason = s.why;
    else if (latestState && !latestState.settled) reason = `the latest run on ${host.name}, ${latest}, is not settled (${latestState.why}): everything on the host is kept until it is`;
    else if (newest.has(c.runId)) reason = `run ${c.runId} is ${policy.keepLast === 1 ? 'the newest run' : `among the ${policy.keepLast} newest runs`} that ${s.how === 'completed' ? 'completed' : `ended ${s.how}`} on ${host.name} (--keep-last ${policy.keepLast})`;
    if (reason === undefined) candidates.push(c);
    else held.push({ ...c, reason });
  }
  return { candidates, held };
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
  policy: PrunePolicy;
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
    return { host, candidates: [], held: [], removed: [], error: messageOf(e) };
  }
  const removed: string[] = [];
  try {
    const roots = [{ root: keepRootFor(o.lockPath), kind: 'kept' as const }, ...o.backupRoots.map((root) => ({ root: root.replace(/\/+$/, ''), kind: 'backup' as const }))];
    const listed = [];
    for (const r of roots) listed.push({ ...r, names: await listDirs(o.transport, r.root) });
    const { candidates, held } = selectPrunable(o.host, listed, o.olderThanMs, o.now ?? Date.now(), o.policy);
    if (!o.apply) return { host, candidates, held, removed };
    mkdirSync(o.stateDir, { recursive: true, mode: 0o700 });
    const log = join(o.stateDir, 'prune.jsonl');
    for (const c of candidates) {
      const r = await o.transport.exec(['rm', '-rf', '--', c.path]);
      const ok = r.code === 0;
      if (ok) removed.push(c.path);
      appendFileSync(log, JSON.stringify({ t: new Date().toISOString(), operator: o.operator, ...c, removed: ok, ...(ok ? {} : { message: (r.stderr || r.stdout).trim() }) }) + '\n', { mode: 0o600 });
      if (!ok) return { host, candidates, held, removed, error: `cannot remove ${c.path} on ${host}: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}` };
    }
    return { host, candidates, held, removed };
  } catch (e) {
    return { host, candidates: [], held: [], removed, error: messageOf(e) };
  } finally {
    await releaseLock(o.transport, o.lockPath, id).catch(() => undefined);
  }
}
