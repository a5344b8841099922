/**
 * How each host of a run stands, from the run's journal: settled (it completed, or was put back)
 * or not (it failed, was aborted or unreachable, its rollback failed, or the runner died and the
 * run can still be resumed or rolled back). `runbook prune` keeps every backup and kept copy a host
 * that is not settled may still need to be restored from (src/engine/prune.ts).
 */
import type { HostRef, HostStatus, RunStartEvent } from './events.js';
import { journalsIn, type JournalLine } from './journal.js';

export type HostSettlement =
  /** good: it ended completed (every step, its verifies included) or rolled back: what it has is a known state */
  | { settled: true; good: boolean; how: string }
  | { settled: false; why: string };

export interface RunOutcome {
  id: string;
  /** when it started (ms): run ids of one second do not sort by time */
  started: number;
  /** the hosts the run worked on, as its journal names them */
  hosts: HostRef[];
  of: Map<string, HostSettlement>;
}

const UNSETTLED: Partial<Record<HostStatus, string>> = {
  failed: 'failed',
  'rollback-failed': 'failed and its rollback failed',
  aborted: 'was aborted',
  unreachable: 'was unreachable',
};

/** The outcome of each host of run `id`; undefined for a journal that changed nothing (a plan, a dry run). */
export function runOutcome(id: string, lines: JournalLine[]): RunOutcome | undefined {
  const start = lines.find((l): l is RunStartEvent & { t: string } => l.kind === 'run-start' && l.mode === 'apply');
  if (!start || start.dryRun) return undefined;
  const applied = new Map<string, { status: HostStatus; message?: string }>();
  const rolledBack = new Map<string, { status: HostStatus; message?: string }>();
  let ended = false;
  let part: { mode: string; dryRun: boolean } = { mode: 'apply', dryRun: false };
  for (const l of lines) {
    if (l.kind === 'run-start') part = { mode: l.mode, dryRun: l.dryRun };
    else if (l.kind === 'host-end' && !part.dryRun) {
      // the latest word on a host: an apply part's (the run, then each resume), then `runbook rollback ID`'s
      (part.mode === 'rollback' ? rolledBack : applied).set(l.host, { status: l.status, ...(l.message ? { message: l.message } : {}) });
    } else if (l.kind === 'run-end' && l.mode === 'apply') {
      ended = true;
      for (const r of l.recap) applied.set(r.host, { status: r.status, ...(r.message ? { message: r.message } : {}) });
    }
  }
  const of = new Map<string, HostSettlement>();
  for (const h of start.inventory.hosts) {
    const rb = rolledBack.get(h.name);
    const a = applied.get(h.name);
    let s: HostSettlement;
    if (rb) {
      s = rb.status === 'ok' ? { settled: true, good: true, how: `rolled back by runbook rollback ${id}` } : { settled: false, why: `runbook rollback ${id} did not put it back (${rb.status}${rb.message ? `: ${rb.message}` : ''})` };
    } else if (!ended) {
      // a host that finished is still part of a run that can be resumed, or rolled back as a whole
      s = { settled: false, why: `run ${id} was interrupted (its journal has no end): runbook resume ${id} continues it, runbook rollback ${id} undoes it` };
    } else if (!a) {
      s = { settled: false, why: `run ${id} recorded no outcome for it` };
    } else if (a.status === 'ok') {
      s = { settled: true, good: true, how: 'completed' };
    } else if (a.status === 'rolled-back') {
      s = { settled: true, good: true, how: 'rolled back' };
    } else if (a.status === 'not-run') {
      s = { settled: true, good: false, how: 'not run' };
    } else {
      s = { settled: false, why: `run ${id} ${UNSETTLED[a.status] ?? a.status} on it${a.message ? ` (${a.message})` : ''}: runbook rollback ${id} may still need what the run saved` };
    }
    of.set(h.name, s);
  }
  const started = Date.parse(start.time);
  return { id, started: Number.isNaN(started) ? 0 : started, hosts: start.inventory.hosts.map((h) => ({ name: h.name, address: h.address, port: h.port })), of };
}

/**
 * Every run each host is in, built once for a whole pass over many hosts (`runbook prune`), so
 * finding a host's runs does not scan every run's hosts: by inventory name, and by address and
 * port, each to run id → the name the run's journal gives the host (its first such host).
 */
export interface RunHostIndex {
  byName: Map<string, Map<string, string>>;
  byAddress: Map<string, Map<string, string>>;
}

const addressKey = (h: HostRef) => `${h.address} ${h.port}`;

export function indexRunHosts(runs: Iterable<RunOutcome>): RunHostIndex {
  const index: RunHostIndex = { byName: new Map(), byAddress: new Map() };
  const add = (by: Map<string, Map<string, string>>, key: string, runId: string, name: string) => {
    let m = by.get(key);
    if (!m) by.set(key, (m = new Map()));
    if (!m.has(runId)) m.set(runId, name);
  };
  for (const r of runs) {
    for (const h of r.hosts) {
      add(index.byName, h.name, r.id, h.name);
      add(index.byAddress, addressKey(h), r.id, h.name);
    }
  }
  return index;
}

/** The runs `host` is in (run id → its name there): in each, the same inventory name, else the same address and port. */
export function runsOfHost(index: RunHostIndex, host: HostRef): Map<string, string> {
  const out = new Map(index.byAddress.get(addressKey(host)));
  for (const [id, name] of index.byName.get(host.name) ?? []) out.set(id, name);
  return out;
}

/** The host of `run` that is `host`: the same inventory name, else the same address and port. */
export function hostInRun(run: RunOutcome, host: HostRef): string | undefined {
  return runsOfHost(indexRunHosts([run]), host).get(run.id);
}

/** The outcome of every run journaled under `stateDirs`, by run id. */
export function loadRunOutcomes(stateDirs: string[]): Map<string, RunOutcome> {
  const out = new Map<string, RunOutcome>();
  for (const d of stateDirs) {
    for (const { id, lines } of journalsIn(d)) {
      if (out.has(id)) continue;
      try {
        const o = runOutcome(id, lines);
        if (o) out.set(id, o);
      } catch {
        /* unreadable: its run counts as unknown, and unknown runs are kept */
      }
    }
  }
  return out;
}
