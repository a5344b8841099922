/**
 * The journal: one JSON line per event in `<stateDir>/runs/<id>.jsonl` (dir 0700, file 0600).
 * Each line is written with a synchronous write(2) as it happens, so killing the runner (even
 * SIGKILL) loses nothing already reported; fsync runs at most every 100 ms and at the end, for
 * power loss. Rollback reads the backup directories and step results from it.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, writeSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { userError } from '../errors.js';
import type { Event, EventSink, RunEndEvent, RunStartEvent, SliceRef, StepEndEvent } from './events.js';
import { isRunId } from './run-id.js';
import { eventJsonAt } from './event-json.js';
import { phase } from './profile.js';
import { defaultStateDir, indexRun, stateDirsFor } from './state-dir.js';

/** The state dir's name inside a git repository (see ./state-dir.ts for where it is). */
export const DEFAULT_STATE_DIR = '.runbook';

/** `stateDir` undefined: the one for the working directory (its git root's .runbook, else the XDG state dir). */
export function runsDir(stateDir?: string): string {
  return resolve(stateDir ?? defaultStateDir(process.cwd()), 'runs');
}

export function journalPath(id: string, stateDir?: string): string {
  if (stateDir === undefined) stateDir = stateDirsFor(id).find((d) => existsSync(join(d, 'runs', `${id}.jsonl`))) ?? defaultStateDir(process.cwd());
  return join(runsDir(stateDir), `${id}.jsonl`);
}

export type JournalLine = Event & { t: string };

export class JournalWriter implements EventSink {
  private fd: number | undefined;
  private lastSync = 0;
  private dirty = false;
  readonly path: string;
  /** set once a write or fsync failed (disk full...): nothing more is written */
  failed: string | undefined;
  /** told once, on the first failure: the engine stops every host before its next change */
  onError: ((message: string) => void) | undefined;

  constructor(id: string, stateDir: string, opts: { append?: boolean; index?: boolean } = {}) {
    const dir = runsDir(stateDir);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      chmodSync(dir, 0o700);
    } catch {
      /* not ours to fix */
    }
    this.path = journalPath(id, stateDir);
    if (!opts.append && existsSync(this.path)) {
      throw userError('usage', `run ${id} already has a journal (${this.path})`, { hint: 'a saved plan can be applied once; make a new plan' });
    }
    this.fd = openSync(this.path, opts.append ? 'a' : 'wx', 0o600);
    if (opts.index) indexRun(id, stateDir);
  }

  emit(e: Event): void {
    phase('journal', () => this.write(e));
  }

  private write(e: Event): void {
    if (this.fd === undefined || this.failed !== undefined) return;
    try {
      const buf = Buffer.from(eventJsonAt(new Date().toISOString(), e) + '\n');
      // a short write (the disk filling up) is continued until it fails with the reason
      for (let off = 0; off < buf.length; ) off += writeSync(this.fd, buf, off, buf.length - off);
      this.dirty = true;
      const now = Date.now();
      if (e.kind === 'run-start' || e.kind === 'run-end' || e.kind === 'rollback-end' || now - this.lastSync >= 100) this.sync(now);
    } catch (err) {
      // never thrown into a step: the change it reports is made; the engine stops before the next one
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      this.failed = `the journal ${this.path} cannot be written: ${(err as Error).message.replace(/^\w+: /, '')} (${code})`;
      this.onError?.(this.failed);
    }
  }

  private sync(now = Date.now()): void {
    if (this.fd === undefined || !this.dirty) return;
    fsyncSync(this.fd);
    this.dirty = false;
    this.lastSync = now;
  }

  close(): void {
    if (this.fd === undefined) return;
    try {
      if (this.failed === undefined) this.sync();
    } finally {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

/**
 * Every line of run `id`'s journal: under `stateDir`, or (undefined) wherever ./state-dir.ts finds it.
 * A torn last line (the runner was killed mid-write) is ignored.
 */
export function readJournal(id: string, stateDir?: string): JournalLine[] {
  if (!isRunId(id)) throw userError('usage', `"${id}" is not a run id (like 20261122T191500Z-ab12cd)`, { hint: 'runbook history lists them' });
  const path = journalPath(id, stateDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    const where = stateDirsFor(id, stateDir).map((d) => runsDir(d)).join(', ');
    throw userError('usage', `no run ${id} in ${where}`, { hint: 'runbook history lists the runs; give --state-dir when the run used one' });
  }
  return parseJournal(text);
}

export function parseJournal(text: string): JournalLine[] {
  const out: JournalLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as JournalLine);
    } catch {
      /* torn line */
    }
  }
  return out;
}

export interface RunSummary {
  id: string;
  time: string;
  mode: string;
  runbook: string;
  name: string;
  hosts: number;
  operator: string;
  /** finished, or interrupted when no run-end was written */
  state: 'finished' | 'interrupted';
  exitCode?: number;
  changed: number;
  failed: number;
  unreachable: number;
  rolledBack: number;
  /** later `runbook rollback` runs appended to this journal */
  rollbacks: number;
  /** --slice: which slice of which logical run */
  slice?: SliceRef;
}

export function summarize(id: string, lines: JournalLine[]): RunSummary | undefined {
  const start = lines.find((l): l is RunStartEvent & { t: string } => l.kind === 'run-start');
  if (!start) return undefined;
  const end = lines.find((l): l is RunEndEvent & { t: string } => l.kind === 'run-end' && l.runId === id && l.mode === start.mode);
  const recap = end?.recap ?? [];
  return {
    id,
    time: start.time,
    mode: start.mode,
    runbook: start.runbook.file,
    name: start.runbook.name,
    hosts: start.inventory.hosts.length,
    operator: start.operator,
    state: end ? 'finished' : 'interrupted',
    ...(end ? { exitCode: end.exitCode } : {}),
    changed: end ? recap.reduce((n, r) => n + r.changed, 0) : lines.filter((l) => l.kind === 'step-end' && (l as StepEndEvent).status === 'changed').length,
    failed: recap.filter((r) => r.status === 'failed' || r.status === 'rollback-failed').length,
    unreachable: recap.filter((r) => r.status === 'unreachable').length,
    rolledBack: recap.filter((r) => r.status === 'rolled-back').length,
    rollbacks: lines.filter((l) => l.kind === 'run-start' && l.mode === 'rollback').length,
    ...(start.slice ? { slice: start.slice } : {}),
  };
}

/** Every run journal under `stateDir` (runs/<id>.jsonl): its id and lines; unreadable ones are skipped. */
export function* journalsIn(stateDir?: string): Generator<{ id: string; lines: JournalLine[] }> {
  const dir = runsDir(stateDir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.endsWith('.jsonl')) continue;
    const id = n.slice(0, -'.jsonl'.length);
    if (!isRunId(id)) continue;
    let lines: JournalLine[];
    try {
      lines = parseJournal(readFileSync(join(dir, n), 'utf8'));
    } catch {
      continue;
    }
    yield { id, lines };
  }
}

/** Runs recorded under stateDir, newest first. */
export function listRuns(stateDir?: string): RunSummary[] {
  const out: RunSummary[] = [];
  for (const { id, lines } of journalsIn(stateDir)) {
    try {
      const s = summarize(id, lines);
      if (s) out.push(s);
    } catch {
      /* a journal summarize cannot read: skip */
    }
  }
  return out.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}
