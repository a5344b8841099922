/**
 * The orchestrator shared by plan (dry run: probes only, nothing written on any host) and apply:
 * batches (`serial`) × hosts (up to `forks` at once, one connection each for the whole run) ×
 * steps; failure policy (`on_failure`, `any_errors_fatal`, `max_fail_percentage`); the lock;
 * the journal; events to the reporter.
 */
import { execFile } from 'node:child_process';
import { hostname, tmpdir, userInfo } from 'node:os';
import { dirname, basename, resolve } from 'node:path';
import pLimit from 'p-limit';
import { isUserError, messageOf, userError } from '../errors.js';
import type { HostEntry } from '../inventory/types.js';
import type { Scope } from '../runbook/expressions.js';
import type { LoadedRunbook, StepInfo } from '../runbook/model.js';
import { hostScope, Redactor, secretValues } from '../runbook/vars.js';
import type { Transport } from '../transport/types.js';
import { exceedsMaxFail, makeBatches } from './batches.js';
import { openTransport, type ConnectOptions } from './connect.js';
import { Emitter, secretForms } from './emitter.js';
import {
  emptyCounts,
  type ConnectionRef,
  type EventSink,
  type HostStatus,
  type InventoryHostRef,
  type RecapRow,
  type RunbookRef,
  type SliceRef,
  type StepEndEvent,
} from './events.js';
import { JournalWriter } from './journal.js';
import { acquireLock, DEFAULT_LOCK_PATH, lockHolder, releaseLock } from './lock.js';
import { buildPlan, type SavedPlan } from './plan.js';
import { rollbackHost } from './rollback.js';
import { newRunId } from './run-id.js';
import { HostRunner } from './steps.js';
import { EXIT } from '../cli/exit-codes.js';

export const DEFAULT_FORKS = 50;

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
  /** operator-side directory for fetch; default a temp dir */
  localDir?: string;
  /** this run is one slice of a logical run (--slice) */
  slice?: SliceRef;
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

export interface SelectedStep {
  step: StepInfo;
  /** 1-based position in the runbook */
  index: number;
}

/** --tags / --skip-tags / --start-at-step. `always` runs unless skipped by name. */
export function selectSteps(rb: LoadedRunbook, o: { tags?: string[]; skipTags?: string[]; startAtStep?: string }): SelectedStep[] {
  let start = 0;
  if (o.startAtStep !== undefined && o.startAtStep !== '') {
    const s = o.startAtStep.trim();
    const byIndex = /^\d+$/.test(s) ? Number(s) - 1 : -1;
    const byId = rb.steps.findIndex((st) => st.id === s);
    const byName = rb.steps.findIndex((st) => st.name === s);
    start = byIndex >= 0 && byIndex < rb.steps.length ? byIndex : byId >= 0 ? byId : byName;
    if (start < 0) {
      throw userError('usage', `--start-at-step ${JSON.stringify(s)}: no such step`, {
        hint: `give a number 1-${rb.steps.length} or a step name, e.g. ${JSON.stringify(rb.steps[0]?.name ?? '')}`,
      });
    }
  }
  const tags = (o.tags ?? []).filter(Boolean);
  const skip = new Set((o.skipTags ?? []).filter(Boolean));
  const out: SelectedStep[] = [];
  rb.steps.forEach((step, i) => {
    if (i < start) return;
    const st = step.raw.tags ?? [];
    if (st.some((t) => skip.has(t))) return;
    if (tags.length && !st.includes('always') && !st.some((t) => tags.includes(t))) return;
    out.push({ step, index: i + 1 });
  });
  return out;
}

export function operatorName(): string {
  let user = process.env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* keep $USER */
  }
  return `${user}@${hostname()}`;
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

export function hostRef(h: HostEntry): InventoryHostRef {
  return {
    name: h.name,
    address: h.address,
    port: h.port,
    ...(h.user ? { user: h.user } : {}),
    connection: h.connection,
    become: h.become,
    ...(h.privateKeyFile ? { privateKeyFile: h.privateKeyFile } : {}),
    ...(h.knownHostsFile ? { knownHostsFile: h.knownHostsFile } : {}),
    groups: h.groups,
    vars: h.vars,
  };
}

export function connectionRef(c: ConnectOptions | undefined): ConnectionRef {
  if (!c) return {};
  return {
    ...(c.acceptNew ? { acceptNew: true } : {}),
    ...(c.knownHosts ? { knownHosts: resolve(c.knownHosts) } : {}),
    ...(c.privateKey ? { privateKey: resolve(c.privateKey) } : {}),
    ...(c.user ? { user: c.user } : {}),
    ...(c.become ? { become: true } : {}),
    ...(c.becomeUser ? { becomeUser: c.becomeUser } : {}),
    ...(c.jump ? { jump: c.jump } : {}),
  };
}

/** Inventory variables that hold passwords (Ansible's names): redacted like `secrets:`. */
export const PASSWORD_VARS = ['ansible_become_password', 'ansible_become_pass', 'ansible_password', 'ansible_ssh_pass', 'ansible_ssh_password'];

export function connectionSecrets(h: HostEntry): string[] {
  return PASSWORD_VARS.map((k) => h.vars[k]).filter((v): v is string => typeof v === 'string' && v.length > 0);
}

export function lockPathFor(h: HostEntry): string {
  const v = h.vars.runbook_lock_path;
  return typeof v === 'string' && v.startsWith('/') ? v : DEFAULT_LOCK_PATH;
}

/** Exit code from the recap (documented in `runbook --help`). */
export function exitCodeOf(recap: RecapRow[], dryRun: boolean, changesPending: boolean): number {
  if (recap.some((r) => r.status === 'failed' || r.status === 'rollback-failed')) return EXIT.failedHosts;
  if (recap.some((r) => r.status === 'unreachable')) return EXIT.unreachableHosts;
  if (!dryRun && recap.some((r) => r.status === 'rolled-back')) return EXIT.rolledBack;
  if (recap.some((r) => r.status === 'not-run')) return EXIT.failedHosts;
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
  const steps = selectSteps(rb, o);
  const policy = rb.runbook.on_failure ?? 'stop';
  const localDir = o.localDir ?? tmpdir();

  // scopes and secrets first: every event is redacted with every host's secret values
  const scopes = new Map<string, Scope>();
  const scopeErrors = new Map<string, string>();
  const secrets: string[] = [];
  for (const h of o.hosts) {
    try {
      const s = hostScope(rb, h, extra, { id: runId, dry_run: dryRun });
      scopes.set(h.name, s);
      secrets.push(...secretValues(rb, s));
    } catch (e) {
      scopeErrors.set(h.name, messageOf(e));
    }
  }
  if (o.connect?.becomePassword) secrets.push(o.connect.becomePassword);
  for (const h of o.hosts) secrets.push(...connectionSecrets(h));
  const emitter = new Emitter();
  emitter.redactor = new Redactor(secretForms(secrets));
  const journalOn = o.journal ?? !dryRun;
  const journal = journalOn ? new JournalWriter(runId, o.stateDir) : undefined;
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

  const recap = new Map<string, RecapRow>();
  let fatal: string | undefined;
  let aborted: string | undefined;
  let pendingChanges = 0;

  const runHost = async (h: HostEntry): Promise<RecapRow> => {
    const hostStarted = Date.now();
    const row = (status: HostStatus, counts = emptyCounts(), message?: string): RecapRow => {
      const r: RecapRow = { host: h.name, status, ...counts, unreachable: status === 'unreachable' ? 1 : 0, ...(message ? { message } : {}) };
      emitter.emit({ kind: 'host-end', host: h.name, status, counts, ...(message ? { message } : {}), durationMs: Date.now() - hostStarted });
      return r;
    };
    emitter.emit({ kind: 'host-start', host: h.name });
    const scope = scopes.get(h.name);
    if (!scope) return row('failed', emptyCounts(), `variables: ${scopeErrors.get(h.name) ?? 'unknown error'}`);
    if (fatal) return row('not-run', emptyCounts(), `not started: ${fatal}`);
    let t: Transport;
    try {
      t = await openTransport(h, o.connect, rb.runbook);
    } catch (e) {
      const kind = isUserError(e) ? e.kind : 'connect';
      const message = messageOf(e);
      emitter.emit({ kind: 'host-unreachable', host: h.name, errorKind: kind, message });
      return row('unreachable', emptyCounts(), message);
    }
    emitter.emit({ kind: 'host-connected', host: h.name, ms: Date.now() - hostStarted });
    const lockPath = lockPathFor(h);
    let locked = false;
    let runner: HostRunner | undefined;
    let status: HostStatus = 'ok';
    let message: string | undefined;
    try {
      if (!dryRun) {
        await acquireLock(t, lockPath, { run_id: runId, operator, pid: process.pid, started: startTime }, { breakLock: o.breakLock === true });
        locked = true;
      } else {
        const holder = await lockHolder(t, lockPath);
        if (holder) emitter.emit({ kind: 'warning', host: h.name, message: `locked by ${holder}: an apply now would be refused` });
      }
      runner = new HostRunner({ rb, host: h.name, transport: t, scope, runId, dryRun, localDir, sink: emitter, total: rb.steps.length });
      let failed = false;
      for (const { step, index } of steps) {
        if (fatal) {
          message = `stopped: ${fatal}`;
          break;
        }
        const out = await runner.runStep(step, index);
        if (out.hostFailed) {
          failed = true;
          if (!dryRun && rb.runbook.any_errors_fatal) fatal ??= `${h.name} failed (any_errors_fatal)`;
          if (policy !== 'continue') break;
        }
      }
      runner.finish();
      if (failed) {
        status = 'failed';
        message = runner.failure;
        if (!dryRun && policy === 'rollback') {
          const rolled = await rollbackHost({
            rb,
            host: h.name,
            transport: t,
            scope: runner.scope,
            runId,
            backups: runner.backups,
            undos: runner.undos,
            withheld: runner.withheld,
            backupPaths: runner.backupPaths,
            sink: emitter,
            dryRun: false,
            localDir,
            reason: runner.failure ?? 'a step failed',
          });
          status = rolled.ok ? 'rolled-back' : 'rollback-failed';
          message = rolled.ok ? `rolled back after ${runner.failure}` : `${runner.failure}; rollback failed: ${rolled.message}`;
        }
      }
    } catch (e) {
      status = 'failed';
      message = messageOf(e);
      if (isUserError(e) && e.kind === 'lock') emitter.emit({ kind: 'warning', host: h.name, message });
    } finally {
      if (locked) await releaseLock(t, lockPath, runId).catch(() => undefined);
      await t.close().catch(() => undefined);
    }
    pendingChanges += runner?.pendingChanges ?? 0;
    return row(status, runner?.counts ?? emptyCounts(), message);
  };

  const batches = makeBatches(o.hosts, rb.runbook.serial);
  const limit = pLimit(Math.max(1, o.forks ?? DEFAULT_FORKS));
  for (let bi = 0; bi < batches.length; bi++) {
    const batch = batches[bi]!;
    if (aborted || fatal) {
      for (const h of batch) {
        const r: RecapRow = { host: h.name, status: 'not-run', ...emptyCounts(), unreachable: 0, message: `not started: ${aborted ?? fatal}` };
        emitter.emit({ kind: 'host-end', host: h.name, status: 'not-run', counts: emptyCounts(), message: r.message!, durationMs: 0 });
        recap.set(h.name, r);
      }
      continue;
    }
    emitter.emit({ kind: 'batch-start', index: bi + 1, count: batches.length, hosts: batch.map((h) => h.name) });
    const rows = await Promise.all(batch.map((h) => limit(() => runHost(h))));
    for (const r of rows) recap.set(r.host, r);
    const failedN = rows.filter((r) => r.status !== 'ok').length;
    const over = !dryRun && exceedsMaxFail(failedN, batch.length, rb.runbook.max_fail_percentage);
    if (over) aborted = `${failedN} of ${batch.length} hosts of batch ${bi + 1} failed, more than max_fail_percentage ${rb.runbook.max_fail_percentage}%`;
    emitter.emit({ kind: 'batch-end', index: bi + 1, failed: failedN, aborted: over, ...(over ? { message: aborted! } : {}) });
  }

  const rows = o.hosts.map((h) => recap.get(h.name)!).filter(Boolean);
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
    ...(aborted || fatal ? { aborted: aborted ?? fatal! } : {}),
  });
  journal?.close();
  return {
    runId,
    exitCode,
    recap: rows,
    changesPending,
    ...(dryRun ? { plan: buildPlan(runId, runbookRef, rb.runbook.hosts, rows, planEvents, changesPending) } : {}),
    ...(journal ? { journalPath: journal.path } : {}),
  };
}
