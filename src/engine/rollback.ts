/**
 * Rollback: restore each host from the backup manifests its run's `backup` steps made (newest
 * first, so the oldest copy of a path wins), verifying sha256 and removing files that appeared
 * since (src/actions/restore.ts does both), reverse from their undo records the changes no backup
 * covers (undoUncovered), then run the runbook's `rollback:` steps.
 * Idempotent: a restored host probes as identical and nothing is rewritten. Runs automatically on
 * failure with `on_failure: rollback`, or as `runbook rollback ID` from a journal (also one left
 * by a runner that was killed mid-run), with a dry run.
 */
import pLimit from 'p-limit';
import { inspectRestore, restoreFromManifest, unitCommands } from '../actions/restore.js';
import type { StepContext } from '../actions/types.js';
import { isUserError, messageOf, userError } from '../errors.js';
import type { HostEntry } from '../inventory/types.js';
import { evaluate, renderTemplate, type Scope } from '../runbook/expressions.js';
import { loadRunbookFile } from '../runbook/load.js';
import type { LoadedRunbook } from '../runbook/model.js';
import { hostScope, Redactor, secretValues, type ExtraVars } from '../runbook/vars.js';
import { extraVarNames, extraVarValues } from '../runbook/extra-var-types.js';
import type { Transport } from '../transport/types.js';
import { EXIT } from './exit-codes.js';
import { openTransport, sessionBecome, type ConnectOptions } from './connect.js';
import { Emitter, secretForms } from './emitter.js';
import { emptyCounts, type EventSink, type HostStatus, type InventoryHostRef, type RecapRow, type RunStartEvent, type StepApplyEvent, type StepEndEvent, type UndoEvent } from './events.js';
import { JournalWriter, journalPath, readJournal, type JournalLine } from './journal.js';
import { dirname } from 'node:path';
import { acquireLock, lockHolder, lockPathFor, releaseLock } from './lock.js';
import { connectionRef, connectionSecrets, DEFAULT_FORKS, PASSWORD_VARS, hostRef, operatorName, withRunAnsible } from './host-connection.js';
import { coveredBy, HostRunner, undoPaths, type UndoEntry } from './steps.js';
import { interruptedChange, notRestoredMessage } from './safety.js';
import { getAction } from '../actions/registry.js';
import { playOfStepId, playView, rollbackView } from './play-view.js';

/** The plays a host took part in, from the journal's step results (its rollback steps are theirs). */
function playsOf(lines: JournalLine[], host: string): number[] {
  return lines.filter((l): l is StepEndEvent & { t: string } => l.kind === 'step-end' && (l as StepEndEvent).host === host).map((l) => playOfStepId(l.step));
}

export interface RollbackHostOptions {
  rb: LoadedRunbook | undefined;
  host: string;
  transport: Transport;
  scope: Scope;
  /** the run being rolled back (its `{{ run.id }}` paths) */
  runId: string;
  backups: string[];
  /** changes with undo records, in the order they were made */
  undos?: UndoEntry[];
  /** changed steps whose undo record was withheld (no_log, secrets) */
  withheld?: string[];
  /** backup directory → the paths its step copied (journals from before this was recorded have none) */
  backupPaths?: Map<string, string[]>;
  sink: EventSink;
  dryRun: boolean;
  localDir: string;
  reason: string;
  /** the host's variables as play N saw them: each play's rollback steps run with their own play's */
  scopeOf?: (play: number) => Scope;
}

export interface RollbackHostResult {
  ok: boolean;
  message?: string;
  changed: number;
  counts: ReturnType<typeof emptyCounts>;
}

export async function rollbackHost(o: RollbackHostOptions): Promise<RollbackHostResult> {
  o.sink.emit({ kind: 'rollback-start', host: o.host, reason: o.reason, backups: o.backups });
  const ctx: StepContext = {
    transport: o.transport,
    hostName: o.host,
    runId: o.runId,
    dryRun: o.dryRun,
    localDir: o.localDir,
    evaluate: (expression, extra) => evaluate(expression, extra ? { ...o.scope, ...extra } : o.scope),
    render: (template) => renderTemplate(template, o.scope),
    runbookDir: o.rb?.dir ?? process.cwd(),
  };
  const problems: string[] = [];
  let changed = 0;
  const counts = emptyCounts();
  if (o.withheld?.length) {
    o.sink.emit({ kind: 'warning', host: o.host, message: `no undo record was kept for ${o.withheld.join(', ')} (no_log or a secret): the restore puts back what a backup covers; anything else those steps changed stays` });
  }
  changed += await undoUncovered(o, ctx, 'before', problems, counts);
  let restoreFailed = false;
  for (const dir of [...o.backups].reverse()) {
    try {
      if (o.dryRun) {
        const st = await inspectRestore(ctx, dir, undefined, undefined, o.backupPaths?.get(dir));
        const n = st.differences.length;
        o.sink.emit({
          kind: 'restore',
          host: o.host,
          dir,
          changed: n > 0,
          restored: st.units.filter((u) => u.fromBackup).map((u) => u.path),
          removed: st.units.filter((u) => !u.fromBackup).map((u) => u.path),
          commands: n ? unitCommands(dir, st.units) : [],
          dryRun: true,
          differences: st.differences,
        });
        if (n) counts.changed++;
        else counts.ok++;
      } else {
        const rep = await restoreFromManifest(ctx, dir, undefined, o.backupPaths?.get(dir));
        o.sink.emit({ kind: 'restore', host: o.host, dir, changed: rep.changed, restored: rep.restored, removed: rep.removed, commands: rep.commands, dryRun: false });
        if (rep.changed) {
          changed++;
          counts.changed++;
        } else counts.ok++;
      }
    } catch (e) {
      restoreFailed = true;
      counts.failed++;
      problems.push(`restore from ${dir}: ${messageOf(e)}`);
    }
  }
  changed += await undoUncovered(o, ctx, 'after', problems, counts, restoreFailed);
  const steps = o.rb?.rollback ?? [];
  // one runner per play (its steps are together, newest play first), with that play's variables
  for (let i = 0; i < steps.length; ) {
    const play = steps[i]!.play;
    const runner = new HostRunner({
      rb: o.rb!,
      host: o.host,
      transport: o.transport,
      scope: o.scopeOf?.(play) ?? o.scope,
      runId: o.runId,
      dryRun: o.dryRun,
      localDir: o.localDir,
      sink: o.sink,
      total: steps.length,
    });
    for (; i < steps.length && steps[i]!.play === play; i++) {
      const out = await runner.runStep(steps[i]!, i + 1);
      if (out.hostFailed) problems.push(`rollback step "${steps[i]!.name}": ${out.message ?? 'failed'}`);
    }
    runner.finish();
    for (const k of Object.keys(counts) as (keyof typeof counts)[]) counts[k] += runner.counts[k];
    changed += runner.counts.changed;
  }
  const ok = problems.length === 0;
  const message = ok ? undefined : problems.join('; ');
  o.sink.emit({ kind: 'rollback-end', host: o.host, ok, ...(message ? { message } : {}) });
  return { ok, ...(message ? { message } : {}), changed, counts };
}

/** Steps whose undo would act on the operator's machine, not the host: rollback leaves those alone. */
const LOCAL_SIDE = new Set(['fetch']);

/**
 * Whether rollback must reverse this change itself: not when a backup taken before it covers it
 * (the restore puts that path back, and undoing it again could only fail). A move is reversed
 * unless the backup covers both its ends: with only the destination covered the restore would
 * remove the file (the backup did not have it there), with only the source covered the restore
 * would put the source back and leave the moved copy where it went.
 */
function needsUndo(u: UndoEntry): boolean {
  if (LOCAL_SIDE.has(u.type)) return false;
  if (u.type === 'move') return !(u.covered.includes(String(u.record.src)) && u.covered.includes(String(u.record.dest)));
  return u.covered.length === 0;
}

/** A move from outside into a backed-up tree: reversed BEFORE the restore, which would remove its destination. */
function isRescue(u: UndoEntry): boolean {
  return u.type === 'move' && u.covered.includes(String(u.record.dest)) && !u.covered.includes(String(u.record.src));
}

/**
 * A move out of a backed-up tree: once the restore has put its source back, the moved copy is a
 * second one the run made (the move found its destination free), and goes (move.ts's undo). If
 * the restore failed it may be the only copy left: it stays, and rollback says so.
 */
function movedOut(u: UndoEntry): boolean {
  return u.type === 'move' && u.covered.includes(String(u.record.src)) && !u.covered.includes(String(u.record.dest));
}

/**
 * Reverse, newest first, the changes no earlier backup covers (a file written outside the
 * backed-up trees, a service started or stopped, a change made before the backup was taken): in
 * phase 'before' the moves into a backed-up tree (see isRescue), in phase 'after' the rest, once
 * the restore has put the backed-up trees back as they were when the backup was taken.
 */
async function undoUncovered(o: RollbackHostOptions, ctx: StepContext, phase: 'before' | 'after', problems: string[], counts: ReturnType<typeof emptyCounts>, restoreFailed = false): Promise<number> {
  let changed = 0;
  for (const u of [...(o.undos ?? [])].reverse()) {
    const action = getAction(u.type);
    if (!action?.undo || !needsUndo(u) || isRescue(u) !== (phase === 'before')) continue;
    const event = { kind: 'undo', host: o.host, step: u.step, name: u.name, type: u.type, record: u.record, dryRun: o.dryRun } as const;
    if (movedOut(u) && restoreFailed) {
      const message = `${String(u.record.dest)} was left where it is: the restore of ${String(u.record.src)} failed`;
      o.sink.emit({ ...event, changed: false, message });
      counts.failed++;
      problems.push(`undo "${u.name}": ${message}`);
      continue;
    }
    const record = movedOut(u) ? { ...u.record, source_restored: true } : u.record;
    if (o.dryRun) {
      o.sink.emit({ ...event, changed: true });
      counts.changed++;
      continue;
    }
    try {
      await action.undo(ctx, record);
      o.sink.emit({ ...event, changed: true });
      counts.changed++;
      changed++;
    } catch (e) {
      const message = messageOf(e);
      o.sink.emit({ ...event, changed: false, message });
      counts.failed++;
      problems.push(`undo "${u.name}": ${message}`);
    }
  }
  return changed;
}

export interface RollbackRunOptions {
  id: string;
  stateDir?: string;
  dryRun?: boolean;
  sink?: EventSink;
  /** merged over the connection options the run recorded */
  connect?: ConnectOptions;
  /** -e values merged over the run's (secrets are recorded as ***: give them again); as given on the command line, typed by the runbook */
  extraVars?: ExtraVars;
  /** only these hosts (names) */
  hosts?: string[];
  /**
   * where the run's hosts are reached now (an inventory given again): by host name, its address,
   * port, user, key, known_hosts, connection and become replace what the journal recorded; the
   * run's own variables stay
   */
  reachVia?: HostEntry[];
  forks?: number;
  breakLock?: boolean;
  localDir?: string;
}

export interface RollbackRunResult {
  exitCode: number;
  recap: RollbackRecap[];
}

export type RollbackRecap = RecapRow;

/** A host as the journal recorded it (passwords, journaled as ***, dropped). */
export function hostEntryOf(r: InventoryHostRef): HostEntry {
  // passwords were journaled as ***: drop them, so -K (or $RUNBOOK_BECOME_PASSWORD) supplies the real one
  const vars = Object.fromEntries(Object.entries(r.vars).filter(([k, v]) => !(PASSWORD_VARS.includes(k) && v === '***')));
  return {
    name: r.name,
    address: r.address,
    port: r.port,
    ...(r.user ? { user: r.user } : {}),
    ...(r.privateKeyFile ? { privateKeyFile: r.privateKeyFile } : {}),
    ...(r.knownHostsFile ? { knownHostsFile: r.knownHostsFile } : {}),
    become: r.become,
    connection: r.connection,
    groups: r.groups,
    vars,
  };
}

function undoKey(host: string, step: string, record: Record<string, unknown>): string {
  return JSON.stringify([host, step, record]);
}

/** What the journal says about each host of the original run: backups, undo records, whether it was reached. */
export function hostsFromJournal(lines: JournalLine[]): {
  start: RunStartEvent;
  backups: Map<string, string[]>;
  backupPaths: Map<string, Map<string, string[]>>;
  undos: Map<string, UndoEntry[]>;
  reached: Set<string>;
  /** changes whose undo record cannot be trusted (shown as warnings) */
  damaged: string[];
  withheld: Map<string, string[]>;
  /** per host: what its irreversible changes touched (no rollback puts those back) */
  notRestored: Map<string, string[]>;
} {
  const start = lines.find((l): l is RunStartEvent & { t: string } => l.kind === 'run-start' && l.mode === 'apply');
  if (!start) throw userError('usage', 'this journal has no apply run to roll back (plans change nothing)');
  const backups = new Map<string, string[]>();
  const backupPaths = new Map<string, Map<string, string[]>>();
  const undos = new Map<string, UndoEntry[]>();
  const reached = new Set<string>();
  // only the original run's events: those before the first rollback run-start, and for each host
  // those before its own automatic rollback began (the rollback steps' changes are not the run's)
  const firstRollback = lines.findIndex((l) => l.kind === 'run-start' && l.mode === 'rollback');
  const original = firstRollback < 0 ? lines : lines.slice(0, firstRollback);
  const rolling = new Set<string>();
  const damaged: string[] = [];
  const withheld = new Map<string, string[]>();
  const notRestored = new Map<string, string[]>();
  /** per host: the paths its backups copied so far, in journal order; undefined once a backup did not say */
  const roots = new Map<string, string[] | undefined>();
  /** per host and step: the applies journaled (step-apply) whose step-end never came: the runner died in them */
  const applying = new Map<string, { e: StepApplyEvent; roots: string[] | undefined }[]>();
  const applyKey = (host: string, step: string) => JSON.stringify([host, step]);
  /** those of an earlier part of the run (a resume follows): the step-end of its re-run is not theirs */
  const interrupted: { e: StepApplyEvent; roots: string[] | undefined }[] = [];
  for (const l of original) {
    if (l.kind === 'run-start') {
      for (const list of applying.values()) interrupted.push(...list);
      applying.clear();
    }
    if (l.kind === 'host-connected') reached.add(l.host);
    if (l.kind === 'rollback-start') rolling.add(l.host);
    if (l.kind === 'step-apply' && !rolling.has(l.host)) {
      const a = l as StepApplyEvent;
      const on = a.delegate ?? a.host;
      const k = applyKey(a.host, a.step);
      applying.set(k, [...(applying.get(k) ?? []), { e: a, roots: roots.has(on) ? roots.get(on) : [] }]);
    }
    if (l.kind !== 'step-end') continue;
    const e = l as StepEndEvent;
    reached.add(e.host);
    applying.get(applyKey(e.host, e.step))?.shift();
    if (rolling.has(e.host)) continue;
    if (!roots.has(e.host)) roots.set(e.host, []);
    if (e.undoWithheld) withheld.set(e.host, [...(withheld.get(e.host) ?? []), `"${e.name}"`]);
    // a delegated step's loss is on the host it ran on (delegate_to)
    if (e.notRestored?.length) notRestored.set(e.delegate ?? e.host, [...(notRestored.get(e.delegate ?? e.host) ?? []), ...e.notRestored]);
    if (e.undo && undoPaths(e.undo).some((p) => p.includes('***'))) {
      // a path the redactor changed: acting on it would touch the wrong file
      damaged.push(`${e.host}: "${e.name}" (its path was redacted in the journal)`);
    } else if (e.undo) {
      // a delegated step's change is on the host it ran on (delegate_to)
      const on = e.delegate ?? e.host;
      const list = undos.get(on) ?? [];
      // covered by the backups the host it changed had taken before (none yet: not covered)
      list.push({ step: e.step, name: e.name, type: e.type, record: e.undo, covered: coveredBy(undoPaths(e.undo), roots.has(on) ? roots.get(on) : []) });
      undos.set(on, list);
    }
    if (e.backupDir) {
      const list = backups.get(e.host) ?? [];
      if (!list.includes(e.backupDir)) list.push(e.backupDir);
      backups.set(e.host, list);
      const sofar = roots.get(e.host);
      roots.set(e.host, e.backupPaths && sofar ? [...sofar, ...e.backupPaths] : undefined);
      if (e.backupPaths) {
        const m = backupPaths.get(e.host) ?? new Map<string, string[]>();
        m.set(e.backupDir, e.backupPaths);
        backupPaths.set(e.host, m);
      }
    }
  }
  for (const list of [interrupted, ...applying.values()]) {
    for (const { e, roots: backedUp } of list) {
      const lost = interruptedChange({ type: e.type, stepName: e.name, backedUp, ...(e.touched ? { touched: e.touched } : {}), ...(e.writes ? { writes: e.writes } : {}) });
      const on = e.delegate ?? e.host;
      if (lost.length) notRestored.set(on, [...(notRestored.get(on) ?? []), ...lost]);
    }
  }
  // undos an earlier rollback (automatic or `runbook rollback ID`) already did are not done twice,
  // unless their path is under a backed-up tree: each restore puts back the state of the backup,
  // which may include that change again (it was made before the backup), so it is undone again
  // (undo actions are idempotent)
  const done = new Set(
    lines.filter((l): l is UndoEvent & { t: string } => l.kind === 'undo' && !l.dryRun && l.changed).map((l) => undoKey(l.host, l.step, l.record)),
  );
  for (const [host, list] of undos) {
    const restored = roots.get(host);
    undos.set(
      host,
      list.filter((u) => !done.has(undoKey(host, u.step, u.record)) || coveredBy(undoPaths(u.record), restored).length > 0),
    );
  }
  return { start, backups, backupPaths, undos, withheld, reached, damaged, notRestored };
}

export async function rollbackRun(o: RollbackRunOptions): Promise<RollbackRunResult> {
  const started = Date.now();
  // found from any directory (./state-dir.ts); the rollback is appended to that same journal
  const journalFile = journalPath(o.id, o.stateDir);
  const stateDir = dirname(dirname(journalFile));
  const lines = readJournal(o.id, stateDir);
  const { start, backups, backupPaths, undos, withheld, reached, damaged, notRestored } = hostsFromJournal(lines);
  const dryRun = o.dryRun === true;
  const emitter = new Emitter();
  const warnings: string[] = [];
  for (const d of damaged) warnings.push(`not undone, restore it by hand if no backup covers it: ${d}`);

  // the runbook, for its rollback steps and variables (restores need neither)
  let rb: LoadedRunbook | undefined;
  const known = new Set<string>([...Object.keys(start.extraVars), ...extraVarNames(o.extraVars)]);
  for (const h of start.inventory.hosts) for (const k of Object.keys(h.vars)) known.add(k);
  const loaded = await loadRunbookFile(start.runbook.file, { knownVarNames: known });
  if (loaded.runbook) {
    rb = loaded.runbook;
    if (rb.sha256 !== start.runbook.sha256) warnings.push(`the runbook ${start.runbook.file} changed since run ${o.id}; its current rollback steps are used`);
  } else {
    warnings.push(`cannot load the runbook ${start.runbook.file} (${loaded.diagnostics.find((d) => d.severity === 'error')?.message ?? 'invalid'}): restoring backups only, no rollback steps`);
  }

  let hosts = start.inventory.hosts.map(hostEntryOf).filter((h) => reached.has(h.name));
  if (o.hosts?.length) {
    const unknown = o.hosts.filter((n) => !start.inventory.hosts.some((h) => h.name === n));
    if (unknown.length) throw userError('usage', `run ${o.id} has no host ${unknown.join(', ')}`);
    hosts = hosts.filter((h) => o.hosts!.includes(h.name));
  }
  if (o.reachVia) {
    const now = new Map(o.reachVia.map((h) => [h.name, h]));
    const missing = hosts.filter((h) => !now.has(h.name)).map((h) => h.name);
    if (missing.length) {
      throw userError('inventory', `the inventory given for rollback has no host ${missing.join(', ')} of run ${o.id}`, { hint: 'give an inventory naming every host of the run, or --limit to those it has' });
    }
    hosts = hosts.map((h) => {
      const n = now.get(h.name)!;
      // its passwords too (the journal holds them only as ***, dropped on reading)
      const passwords = Object.fromEntries(PASSWORD_VARS.filter((k) => typeof n.vars[k] === 'string' || typeof n.vars[k] === 'number').map((k) => [k, n.vars[k]]));
      return {
        ...h,
        vars: { ...h.vars, ...passwords },
        address: n.address,
        port: n.port,
        become: n.become,
        connection: n.connection,
        ...(n.user ? { user: n.user } : {}),
        ...(n.privateKeyFile ? { privateKeyFile: n.privateKeyFile } : {}),
        ...(n.knownHostsFile ? { knownHostsFile: n.knownHostsFile } : {}),
      };
    });
  }
  // the run's Ansible settings first: a rollback from another directory connects as the run did
  const connect: ConnectOptions = { ...start.connection, ...(o.connect ?? {}), ...withRunAnsible(start.connection, o.connect) };
  const extra = { ...start.extraVars, ...extraVarValues(rb, o.extraVars) };
  const scopes = new Map<string, Scope>();
  const secrets: string[] = [];
  for (const h of hosts) {
    try {
      const s = rb ? hostScope(rb, h, extra, { id: o.id, dry_run: dryRun }) : { host: { name: h.name }, run: { id: o.id, dry_run: dryRun } };
      scopes.set(h.name, s);
      if (rb) secrets.push(...secretValues(rb, s));
    } catch (e) {
      warnings.push(`${h.name}: variables: ${messageOf(e)}`);
    }
  }
  if (connect.becomePassword) secrets.push(connect.becomePassword);
  for (const h of hosts) secrets.push(...connectionSecrets(h));
  emitter.redactor = new Redactor(secretForms(secrets));
  const journal = dryRun ? undefined : new JournalWriter(o.id, stateDir, { append: true });
  emitter.add(journal).add(o.sink);
  const operator = operatorName();
  emitter.emit({
    kind: 'run-start',
    runId: o.id,
    mode: 'rollback',
    dryRun,
    time: new Date(started).toISOString(),
    operator,
    pid: process.pid,
    runbook: start.runbook,
    inventory: { ...(start.inventory.file ? { file: start.inventory.file } : {}), hosts: hosts.map(hostRef) },
    extraVars: extra,
    connection: connectionRef(connect),
    steps: (rb?.rollback ?? []).map((s) => ({ id: s.id, name: s.name, type: s.type })),
    target: o.id,
  });
  for (const w of warnings) emitter.emit({ kind: 'warning', message: w });

  // fetch: a relative dest is relative to where the operator runs runbook (never the system temp dir)
  const localDir = o.localDir ?? process.cwd();
  const limit = pLimit(Math.max(1, o.forks ?? DEFAULT_FORKS));
  const rows = await Promise.all(
    hosts.map((h) =>
      limit(async (): Promise<RecapRow> => {
        const hostStarted = Date.now();
        const done = (status: HostStatus, counts = emptyCounts(), message?: string): RecapRow => {
          emitter.emit({ kind: 'host-end', host: h.name, status, counts, ...(message ? { message } : {}), durationMs: Date.now() - hostStarted });
          return { host: h.name, status, ...counts, unreachable: status === 'unreachable' ? 1 : 0, ...(message ? { message } : {}) };
        };
        emitter.emit({ kind: 'host-start', host: h.name });
        const scope = scopes.get(h.name);
        if (!scope) return done('failed', emptyCounts(), 'variables could not be computed');
        let t: Transport;
        try {
          t = await openTransport(h, connect, rb ? sessionBecome(rb) : undefined);
        } catch (e) {
          emitter.emit({ kind: 'host-unreachable', host: h.name, errorKind: isUserError(e) ? e.kind : 'connect', message: messageOf(e) });
          return done('unreachable', emptyCounts(), messageOf(e));
        }
        emitter.emit({ kind: 'host-connected', host: h.name, ms: Date.now() - hostStarted });
        const lockPath = lockPathFor(h);
        let locked = false;
        try {
          if (!dryRun) {
            // the lock names the run being rolled back: a killed run's own lock is taken over
            await acquireLock(t, lockPath, { run_id: o.id, operator, pid: process.pid, started: new Date(started).toISOString() }, { breakLock: o.breakLock === true });
            locked = true;
          } else {
            const holder = await lockHolder(t, lockPath);
            if (holder) emitter.emit({ kind: 'warning', host: h.name, message: `locked by ${holder}` });
          }
          const res = await rollbackHost({
            rb: rb && rollbackView(rb, playsOf(lines, h.name)),
            host: h.name,
            transport: t,
            scope,
            ...(rb?.multiPlay ? { scopeOf: (p: number) => (rb.plays[p] ? hostScope(playView(rb, rb.plays[p]), h, extra, { id: o.id, dry_run: dryRun }) : scope) } : {}),
            runId: o.id,
            backups: backups.get(h.name) ?? [],
            undos: undos.get(h.name) ?? [],
            withheld: withheld.get(h.name) ?? [],
            ...(backupPaths.has(h.name) ? { backupPaths: backupPaths.get(h.name)! } : {}),
            sink: emitter,
            dryRun,
            localDir,
            reason: `runbook rollback ${o.id}`,
          });
          const lost = notRestored.get(h.name) ?? [];
          if (res.ok && lost.length) return done(dryRun ? 'ok' : 'failed', res.counts, notRestoredMessage(dryRun ? 'would roll back what can be' : 'rolled back what could be', lost));
          return done(res.ok ? 'ok' : 'rollback-failed', res.counts, res.message);
        } catch (e) {
          return done('failed', emptyCounts(), messageOf(e));
        } finally {
          if (locked) await releaseLock(t, lockPath, o.id).catch(() => undefined);
          await t.close().catch(() => undefined);
        }
      }),
    ),
  );
  const exitCode = rows.some((r) => r.status === 'failed' || r.status === 'rollback-failed')
    ? EXIT.failedHosts
    : rows.some((r) => r.status === 'unreachable')
      ? EXIT.unreachableHosts
      : EXIT.ok;
  emitter.emit({
    kind: 'run-end',
    runId: o.id,
    mode: 'rollback',
    time: new Date().toISOString(),
    durationMs: Date.now() - started,
    exitCode,
    changesPending: dryRun && rows.some((r) => r.changed > 0 || r.unknown > 0),
    recap: rows,
  });
  journal?.close();
  return { exitCode, recap: rows };
}
