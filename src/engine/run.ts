/**
 * The orchestrator shared by plan (dry run: probes only, nothing written on any host) and apply:
 * batches (`serial`) × hosts (up to `forks` at once, one connection each for the whole run) ×
 * steps; failure policy (`on_failure`, `any_errors_fatal`, `max_fail_percentage`); the lock;
 * the journal; events to the reporter.
 */
import { execFile } from 'node:child_process';
import { dirname, basename, resolve } from 'node:path';
import pLimit from 'p-limit';
import type { HostEntry } from '../inventory/types.js';
import type { LoadedRunbook } from '../runbook/model.js';
import { Redactor } from '../runbook/vars.js';
import type { ConnectOptions } from './connect.js';
import { Emitter, secretForms } from './emitter.js';
import {
  type EventSink,
  type RecapRow,
  type RunbookRef,
  type SliceRef,
  type StepEndEvent,
} from './events.js';
import { JournalWriter } from './journal.js';
import { buildPlan, type SavedPlan } from './plan.js';
import { newRunId } from './run-id.js';
import { defaultStateDir } from './state-dir.js';
import type { ResumeSpec } from './resume-spec.js';
import { runPlays, runSecrets } from './plays.js';
import { EXIT } from './exit-codes.js';
import { connectionRef, connectionSecrets, DEFAULT_FORKS, hostRef, operatorName } from './host-connection.js';
import { selectSteps } from './select-steps.js';

export interface EngineOptions {
  rb: LoadedRunbook;
  hosts: HostEntry[];
  inventoryFile?: string;
  extraVars?: Record<string, unknown>;
  dryRun: boolean;
  /** default: a new one */
  runId?: string;
  forks?: number;
  connect?: ConnectOptions;
  tags?: string[];
  skipTags?: string[];
  /** 1-based index, `steps[N]`, or the step's name */
  startAtStep?: string;
  breakLock?: boolean;
  /** where `runs/` lives; default `.runbook` */
  stateDir?: string;
  /** write a journal; default: when not a dry run */
  journal?: boolean;
  sink?: EventSink;
  /** `runbook resume`: what the interrupted run's journal says (./resume.ts) */
  resume?: ResumeSpec;
  /** operator-side directory for fetch's relative dest; default the working directory */
  localDir?: string;
  /** this run is one slice of a logical run (--slice) */
  slice?: SliceRef;
  /** multi-play: each play's hosts, selected from the whole inventory (src/cli/run-options.ts) */
  playHosts?: string[][];
  /** `--diff`: file-writing steps show how they change the file */
  diff?: boolean;
}

export interface EngineResult {
  runId: string;
  exitCode: number;
  recap: RecapRow[];
  changesPending: boolean;
  /** dry run: the plan (redacted) */
  plan?: SavedPlan;
  journalPath?: string;
}

/** The runbook file's git commit and whether it has uncommitted changes (undefined outside git). */
export function gitInfo(file: string): Promise<{ commit: string; dirty: boolean } | undefined> {
  const dir = dirname(resolve(file));
  const git = (args: string[]) =>
    new Promise<string | undefined>((res) => {
      execFile('git', ['-C', dir, ...args], { timeout: 5000 }, (err, stdout) => res(err ? undefined : stdout));
    });
  return (async () => {
    // both at once: each is a process start, and every run waits for them before its first host
    const [head, status] = await Promise.all([git(['rev-parse', 'HEAD']), git(['status', '--porcelain', '--', basename(file)])]);
    const commit = head?.trim();
    if (!commit) return undefined;
    return { commit, dirty: status === undefined ? true : status.trim() !== '' };
  })();
}

/** Exit code from the recap (documented in `runbook --help`). */
export function exitCodeOf(recap: RecapRow[], dryRun: boolean, changesPending: boolean): number {
  if (recap.some((r) => r.status === 'failed' || r.status === 'rollback-failed')) return EXIT.failedHosts;
  if (recap.some((r) => r.status === 'unreachable')) return EXIT.unreachableHosts;
  if (!dryRun && recap.some((r) => r.status === 'rolled-back')) return EXIT.rolledBack;
  if (recap.some((r) => r.status === 'not-run' || r.status === 'aborted')) return EXIT.failedHosts;
  if (dryRun && changesPending) return EXIT.changesPending;
  return EXIT.ok;
}

export async function runEngine(o: EngineOptions): Promise<EngineResult> {
  const started = Date.now();
  const rb = o.rb;
  const runId = o.runId ?? newRunId();
  const dryRun = o.dryRun;
  const mode = dryRun ? 'plan' : 'apply';
  const extra = o.extraVars ?? {};
  const steps = selectSteps(rb, o).filter((s) => !o.resume || o.resume.selected.has(s.step.id));
  // fetch: a relative dest is relative to where the operator runs runbook (never the system temp dir)
  const localDir = o.localDir ?? process.cwd();

  // secrets first: every event is redacted with every host's secret values, in every play
  const secrets = runSecrets(rb, o.hosts, extra, { id: runId, dry_run: dryRun });
  if (o.connect?.becomePassword) secrets.push(o.connect.becomePassword);
  for (const h of o.hosts) secrets.push(...connectionSecrets(h));
  const emitter = new Emitter();
  emitter.redactor = new Redactor(secretForms(secrets));
  const journalOn = o.journal ?? !dryRun;
  // one place whatever the working directory: the runbook's git root, else the XDG state dir
  const stateDir = o.stateDir ?? defaultStateDir(rb.file);
  const journal = journalOn ? new JournalWriter(runId, stateDir, o.resume ? { append: true } : { index: o.stateDir === undefined }) : undefined;
  emitter.add(journal);
  const planEvents: StepEndEvent[] = [];
  if (dryRun) emitter.add({ emit: (e) => void (e.kind === 'step-end' && planEvents.push(e)) });
  emitter.add(o.sink);

  const git = await gitInfo(rb.file);
  const runbookRef: RunbookRef = { file: resolve(rb.file), name: rb.runbook.name, sha256: rb.sha256, ...(git ? { git } : {}) };
  const operator = operatorName();
  const startTime = new Date(started).toISOString();
  emitter.emit({
    kind: 'run-start',
    runId,
    mode,
    dryRun,
    time: startTime,
    operator,
    pid: process.pid,
    runbook: runbookRef,
    inventory: { ...(o.inventoryFile ? { file: resolve(o.inventoryFile) } : {}), hosts: o.hosts.map(hostRef) },
    extraVars: extra,
    connection: connectionRef(o.connect),
    steps: steps.map((s) => ({ id: s.step.id, name: s.step.name, type: s.step.type })),
    ...(o.slice ? { slice: o.slice } : {}),
  });

  // a journal that cannot be written (disk full): every host stops before its next change
  let journalBroken: string | undefined;
  if (journal) {
    journal.onError = (m) => {
      journalBroken = m;
      emitter.emit({ kind: 'warning', message: `${m}: stopping every host before its next change (rolled back when on_failure is rollback); this run's journal is incomplete` });
    };
    if (journal.failed !== undefined) journal.onError(journal.failed); // already the run-start line
  }
  const { rows: ran, pendingChanges, aborted } = await runPlays({
    rb,
    hosts: o.hosts,
    steps,
    extra,
    runId,
    dryRun,
    localDir,
    ...(o.connect ? { connect: o.connect } : {}),
    breakLock: o.breakLock === true,
    emitter,
    operator,
    startTime,
    halted: () => journalBroken,
    ...(o.resume ? { resume: o.resume } : {}),
    limit: pLimit(Math.max(1, o.forks ?? DEFAULT_FORKS)),
    ...(o.playHosts ? { playHosts: o.playHosts } : {}),
    ...(o.diff ? { diff: { redact: (t: string) => emitter.redactor.redact(t) } } : {}),
  });
  // resume: the hosts that had finished keep their rows, in the run's host order
  const rows = o.resume ? [...o.resume.finishedRows, ...ran] : ran;
  const changesPending = dryRun && pendingChanges > 0;
  const exitCode = exitCodeOf(rows, dryRun, changesPending);
  emitter.emit({
    kind: 'run-end',
    runId,
    mode,
    time: new Date().toISOString(),
    durationMs: Date.now() - started,
    exitCode,
    changesPending,
    recap: rows,
    ...(aborted ? { aborted } : {}),
  });
  journal?.close();
  return {
    runId,
    exitCode,
    recap: rows,
    changesPending,
    ...(dryRun ? { plan: buildPlan(runId, runbookRef, rb.hostsPattern, rows, planEvents, changesPending) } : {}),
    ...(journal ? { journalPath: journal.path } : {}),
  };
}
