/**
 * `--profile FILE` (issue #12): where each host's time went, by phase, written as JSON when the
 * run ends. Phases are exclusive (a wait inside an apply counts as wait, not apply), timed with a
 * per-host stack of open phases. The host is found through AsyncLocalStorage, which is created
 * only when profiling: without --profile `phase()` is one `undefined` check.
 *
 *   connect  TCP, key exchange, jump hosts, sudo/become checks (openTransport minus auth)
 *   auth     SSH user authentication (from the key exchange's end to the session being ready)
 *   lock     taking and releasing the run's lock on the host (one command each)
 *   probe    reading the current state of a step
 *   apply    making a step's change
 *   wait     sleeping between tries (wait_for, retries/until)
 *   journal  writing the host's events to the journal (write + fsync)
 *   backup   backup steps, deferred backups, kept copies
 *   other    the host's wall time minus the phases: engine work (expressions, templates,
 *            closing the connection), and waiting for other hosts (forks, a later play or batch)
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Event, EventSink } from './events.js';

export const PHASES = ['connect', 'auth', 'lock', 'probe', 'apply', 'wait', 'journal', 'backup'] as const;
export type Phase = (typeof PHASES)[number];

interface HostClock {
  phases: Record<Phase, number>;
  /** open phases, innermost last; `since` is when it last started counting */
  stack: { phase: Phase; since: number }[];
  start?: number;
  end?: number;
}

export interface HostProfile {
  host: string;
  /** host-start to host-end */
  wallMs: number;
  phases: Record<Phase, number>;
  otherMs: number;
}

export interface RunProfile {
  kind: 'runbook-profile';
  version: 1;
  runId?: string;
  mode?: string;
  /** process start to the end of the run */
  wallMs: number;
  /** process start to run-start: module loading, reading and checking the runbook and inventory */
  beforeRunMs: number;
  /** time not inside any host's phases, by phase (journal writes of run-level events) */
  run: Record<Phase, number>;
  hosts: HostProfile[];
  /** each phase summed over the hosts (host time, so it exceeds the wall time with forks > 1) */
  totals: Record<Phase, number> & { otherMs: number; hostWallMs: number };
}

const zero = (): Record<Phase, number> => Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>;
const round = (ms: number) => Math.round(ms * 10) / 10;

class Profiler {
  readonly als = new AsyncLocalStorage<HostClock>();
  readonly hosts = new Map<string, HostClock>();
  /** phases outside any host */
  readonly run: HostClock = { phases: zero(), stack: [] };
  runId: string | undefined;
  mode: string | undefined;
  runStart: number | undefined;
  runEnd: number | undefined;

  clock(host: string): HostClock {
    let c = this.hosts.get(host);
    if (!c) this.hosts.set(host, (c = { phases: zero(), stack: [] }));
    return c;
  }

  enter(c: HostClock, phase: Phase): void {
    const now = performance.now();
    const top = c.stack[c.stack.length - 1];
    if (top) {
      c.phases[top.phase] += now - top.since;
      top.since = now;
    }
    c.stack.push({ phase, since: now });
  }

  leave(c: HostClock, phase: Phase): void {
    const now = performance.now();
    // normally the innermost; work interleaved inside one host (rare) closes another frame
    let i = c.stack.length - 1;
    while (i >= 0 && c.stack[i]!.phase !== phase) i--;
    if (i < 0) return;
    const [f] = c.stack.splice(i, 1);
    if (i === c.stack.length) {
      // it was counting: add its time, and the phase below it counts again from now
      c.phases[phase] += now - f!.since;
      const below = c.stack[c.stack.length - 1];
      if (below) below.since = now;
    }
  }
}

let active: Profiler | undefined;

/** Start profiling this process's run (the CLI, for --profile). */
export function startProfile(): void {
  active = new Profiler();
}

export function profiling(): boolean {
  return active !== undefined;
}

/** Run `fn` as host `host`'s work: phases inside it are that host's. */
export function inHost<T>(host: string, fn: () => T): T {
  if (!active) return fn();
  return active.als.run(active.clock(host), fn);
}

/** Time `fn` (sync or async) as `phase` of the current host (or of the run, outside any host). */
export function phase<T>(p: Phase, fn: () => T): T {
  const prof = active;
  if (!prof) return fn();
  const c = prof.als.getStore() ?? prof.run;
  prof.enter(c, p);
  let out: T;
  try {
    out = fn();
  } catch (e) {
    prof.leave(c, p);
    throw e;
  }
  if (out instanceof Promise) {
    return out.finally(() => prof.leave(c, p)) as T;
  }
  prof.leave(c, p);
  return out;
}

/** Move `ms` of the current host's `from` phase to `to` (the auth part of a connect, measured inside it). */
export function movePhase(from: Phase, to: Phase, ms: number): void {
  const prof = active;
  if (!prof || !(ms > 0)) return;
  const c = prof.als.getStore() ?? prof.run;
  c.phases[to] += ms;
  // still inside `from`: its open frame will add the whole span when it closes
  c.phases[from] -= ms;
}

/** The sink the run reports to, seen by the profiler (host-start/end, run-start/end) on the way. */
export function profileSink(sink: EventSink): EventSink {
  const prof = active;
  if (!prof) return sink;
  const tap = (e: Event): void => {
    const now = performance.now();
    if (e.kind === 'run-start') {
      prof.runStart = now;
      prof.runId = e.runId;
      prof.mode = e.mode;
    } else if (e.kind === 'run-end') prof.runEnd = now;
    else if (e.kind === 'host-start') prof.clock(e.host).start ??= now;
    else if (e.kind === 'host-end') prof.clock(e.host).end = now;
  };
  return {
    emit(e: Event) {
      tap(e);
      sink.emit(e);
    },
  };
}

/** The profile so far (the CLI writes it when the run ends). */
export function profileReport(): RunProfile | undefined {
  const prof = active;
  if (!prof) return undefined;
  const now = performance.now();
  const hosts: HostProfile[] = [];
  const totals = { ...zero(), otherMs: 0, hostWallMs: 0 };
  for (const [host, c] of prof.hosts) {
    const wall = c.start === undefined ? 0 : (c.end ?? now) - c.start;
    const phases = Object.fromEntries(PHASES.map((p) => [p, round(Math.max(0, c.phases[p]))])) as Record<Phase, number>;
    const sum = PHASES.reduce((n, p) => n + phases[p], 0);
    const otherMs = round(Math.max(0, wall - sum));
    hosts.push({ host, wallMs: round(wall), phases, otherMs });
    for (const p of PHASES) totals[p] = round(totals[p] + phases[p]);
    totals.otherMs = round(totals.otherMs + otherMs);
    totals.hostWallMs = round(totals.hostWallMs + wall);
  }
  return {
    kind: 'runbook-profile',
    version: 1,
    ...(prof.runId ? { runId: prof.runId } : {}),
    ...(prof.mode ? { mode: prof.mode } : {}),
    wallMs: round(prof.runEnd ?? now),
    beforeRunMs: round(prof.runStart ?? 0),
    run: Object.fromEntries(PHASES.map((p) => [p, round(prof.run.phases[p])])) as Record<Phase, number>,
    hosts,
    totals,
  };
}

/** Write the profile to `file` (JSON); stop profiling. */
export function writeProfile(file: string): void {
  const r = profileReport();
  active = undefined;
  if (r) writeFileSync(file, JSON.stringify(r, null, 2) + '\n');
}
