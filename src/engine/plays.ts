/**
 * Plays: a run is one or more plays in order (the single-play form is one play). Each play
 * selects its hosts among the run's, runs them in batches (its `serial`) and applies its own
 * failure policy. A host keeps one connection, one lock, its registered facts, its backups and its
 * undo records across plays, so rollback of a failed host spans every play it took part in,
 * newest change first, then runs the `rollback:` steps of those plays, newest play first. A host
 * that failed takes no part in later plays (Ansible).
 *
 * Facts cross hosts through `hostvars['cp1'].name` (every host's variables and registered
 * results so far), `groups['control_plane']` (names of the run's hosts in each group) and
 * `play_hosts` / `ansible_play_hosts` (the current play's hosts). Across plays they are exact:
 * a play starts only when the one before has finished on every host. Within a play, hosts run
 * independently (another host's fact may not be registered yet).
 *
 * Plan: read-only steps (x509, assert, set_fact, `read_only` commands...) run in plan too, so
 * what they register is known and flows to later plays like in apply. What a dry run cannot know
 * (a register of a step that would change something) is uncertain on its host; a later step that
 * reads it, on that host or through `hostvars` on another, is `unknown` in the plan, never an error.
 */
import { isUserError, messageOf } from '../errors.js';
import type { HostEntry } from '../inventory/types.js';
import { selectHosts } from '../inventory/load.js';
import { Lazy, type Scope } from '../runbook/expressions.js';
import type { LoadedRunbook, PlayInfo } from '../runbook/model.js';
import { hostScope, secretValues } from '../runbook/vars.js';
import type { Transport } from '../transport/types.js';
import { exceedsMaxFail, makeBatches } from './batches.js';
import { orderHosts, timeToRecover } from './host-order.js';
import { inHost, phase } from './profile.js';
import { openTransport, sessionBecome, type ConnectOptions } from './connect.js';
import type { Emitter } from './emitter.js';
import { emptyCounts, type HostCounts, type HostStatus, type RecapRow } from './events.js';
import { acquireLock, lockHolder, lockPathFor, releaseLock } from './lock.js';
import { rollbackHost } from './rollback.js';
import { coveredBy, HostRunner, undoPaths, type Delegate, type OnceResult, type OnceSlot, type StepOutcome } from './steps.js';
import { LocalTransport } from '../transport/local.js';
import { flushHandlers, HandlerQueue, notifiersOf, notifies, notifyTargets, reportUnnotified, type FlushOptions } from './handlers.js';
import type { SelectedStep } from './select-steps.js';
import { withStepVars } from './step-vars.js';
import { blockTree, forgetFailure, markFailure, reportNotNeeded, runSteps, type BlockHooks } from './blocks.js';
import { changedAnything, isReadOnlyStep, keepRootFor, lockWarning, notRestoredMessage } from './safety.js';
import type { ResumeSpec } from './resume-spec.js';
import { rearm } from './resume-handlers.js';
import { playView, rollbackView } from './play-view.js';
import { journaledValue } from './resume-values.js';
import { addCounts, groupsOf, plain, runInventory, type Session } from './play-session.js';

/** Every secret value any play's scope gives any host (the redactor must know them all before the first event). */
export function runSecrets(rb: LoadedRunbook, hosts: HostEntry[], extra: Record<string, unknown>, run: { id: string; dry_run: boolean }): string[] {
  const out: string[] = [];
  for (const play of rb.plays) {
    const view = playView(rb, play);
    for (const h of hosts) {
      try {
        out.push(...secretValues(view, hostScope(view, h, extra, run)));
      } catch {
        /* reported when the host runs */
      }
    }
  }
  return out;
}

export interface PlaysContext {
  rb: LoadedRunbook;
  hosts: HostEntry[];
  steps: SelectedStep[];
  extra: Record<string, unknown>;
  runId: string;
  dryRun: boolean;
  localDir: string;
  connect?: ConnectOptions;
  breakLock: boolean;
  emitter: Emitter;
  operator: string;
  startTime: string;
  limit: <T>(fn: () => Promise<T>) => Promise<T>;
  /** names of each play's hosts, selected from the whole inventory (src/cli/run-options.ts) */
  playHosts?: string[][];
  /** why no host may change anything any more (the journal cannot be written) */
  halted?: () => string | undefined;
  /** `runbook resume`: steps done and what was changed before the runner died */
  resume?: ResumeSpec;
  /** `--diff` (src/actions/diff.ts) */
  diff?: { redact(text: string): string };
}

export interface PlaysResult {
  rows: RecapRow[];
  pendingChanges: number;
  aborted?: string;
}

export async function runPlays(c: PlaysContext): Promise<PlaysResult> {
  const { rb, emitter, dryRun } = c;
  const run = { id: c.runId, dry_run: dryRun };
  const inventory = runInventory(c.hosts);
  // each play's hosts: selected from the whole inventory when the run was prepared (then narrowed
  // to the run's hosts: --limit, --slice), else among the run's hosts; a selection error is an error
  const runNames = new Set(c.hosts.map((h) => h.name));
  const playHosts = rb.plays.map((p, i): HostEntry[] => {
    if (!rb.multiPlay) return c.hosts;
    const chosen = c.playHosts?.[i];
    if (chosen) {
      const inPlay = new Set(chosen); // a Set: 2,000 hosts × 2,000 names was quadratic
      return c.hosts.filter((h) => runNames.has(h.name) && inPlay.has(h.name));
    }
    return selectHosts(inventory, p.hosts);
  });
  /** Whether a play after `after` that has this host may change it (a step or handler not read-only by contract). */
  const playHostNames = playHosts.map((hs) => new Set(hs.map((h) => h.name)));
  const laterPlayChanges = (host: string, after: number): boolean =>
    rb.plays.some(
      (p) =>
        p.index > after &&
        playHostNames[p.index]!.has(host) &&
        [...c.steps.filter((x) => x.step.play === p.index && x.step.section === 'steps').map((x) => x.step), ...p.handlers].some((st) => !isReadOnlyStep(st)),
    );
  // a run whose every step, handler and rollback step is read-only by contract (cert-check) changes
  // no host: like plan, it takes no host lock, which spares two round trips per host
  const readOnlyRun = [...c.steps.map((x) => x.step), ...rb.plays.flatMap((p) => [...p.handlers, ...p.rollback])].every((st) => isReadOnlyStep(st));
  const lastPlay = new Map<string, number>();
  playHosts.forEach((hs, i) => hs.forEach((h) => lastPlay.set(h.name, i)));
  const sessions = new Map<string, Session>();
  for (const h of c.hosts) {
    let current: Scope = {};
    try {
      current = hostScope(playView(rb, rb.plays[0]!), h, c.extra, run);
    } catch {
      /* reported when the host runs */
    }
    sessions.set(h.name, { entry: h, started: 0, locked: false, status: 'ok', counts: emptyCounts(), pendingChanges: 0, facts: {}, current, plays: [], out: false, finished: false, delegatedUndos: [], delegatedLost: [], warnings: [] });
  }
  const groups = new Lazy(() => groupsOf(c.hosts));
  const hostvars = new Lazy(() => Object.fromEntries([...sessions].map(([n, s]) => [n, plain(s.current)])));
  // `hostvars['cp1'].x` names only `hostvars` at top level: any uncertain name on any host counts
  const uncertainElsewhere = (name: string): boolean =>
    [...sessions.values()].some((s) => (name === 'hostvars' ? (s.runner?.uncertain.size ?? 0) > 0 : s.runner?.uncertain.has(name) === true));
  /** rollbackAll: which host failed and why, in a play with on_failure: rollback_all (every host is rolled back) */
  const state: { fatal?: string; aborted?: string; rollbackAll?: string; swept?: boolean } = {};
  /** max_fail_percentage is checked as each host fails: the others of its batch stop before their next step */
  const batchFailures = new Map<string, { n: number; size: number; max: number | undefined; play: string }>();
  const countFailure = (batchKey: string): void => {
    const b = batchFailures.get(batchKey);
    if (!b || dryRun) return;
    b.n++;
    if (exceedsMaxFail(b.n, b.size, b.max)) state.fatal ??= `${b.n} of ${b.size} hosts of the batch${rb.multiPlay ? ` of play "${b.play}"` : ''} failed, more than max_fail_percentage ${b.max}%`;
  };

  // with delegate_to, any host's connection may be needed until the run ends
  const keepOpen = [...rb.steps, ...rb.plays.flatMap((p) => p.handlers)].some((st) => st.raw.delegate_to !== undefined);
  const close = async (s: Session): Promise<void> => {
    if (!s.transport) return;
    const t = s.transport;
    s.transport = undefined;
    if (s.locked) {
      await phase('lock', () => releaseLock(t, lockPathFor(s.entry), c.runId)).catch((e: unknown) => {
        const w = lockWarning(s.entry.name, lockPathFor(s.entry), e, emitter);
        s.warnings.push(w);
        if (s.row) s.row.warnings = [...s.warnings]; // closed after its host-end (delegate_to keeps connections open)
      });
    }
    s.locked = false;
    await t.close().catch(() => undefined);
  };
  const begin = (s: Session): void => {
    if (s.started) return;
    s.started = Date.now();
    emitter.emit({ kind: 'host-start', host: s.entry.name });
  };

  const finish = async (s: Session, status?: HostStatus, message?: string): Promise<void> => {
    if (s.finished) return;
    s.finished = true;
    // backups an earlier play deferred and no later change needed
    s.pendingFrom?.finish();
    s.pendingFrom = undefined;
    if (status) s.status = status;
    if (message) s.message = message;
    if (!keepOpen) await close(s);
    const h = s.entry.name;
    const ttr = s.status === 'ok' ? timeToRecover(s.firstChangeAt, s.verifiedAt) : undefined;
    const recovered = ttr === undefined ? {} : { timeToRecoverMs: ttr };
    s.row = { host: h, status: s.status, ...s.counts, unreachable: s.status === 'unreachable' ? 1 : 0, ...(s.message ? { message: s.message } : {}), ...(s.warnings.length ? { warnings: [...s.warnings] } : {}), ...recovered };
    emitter.emit({ kind: 'host-end', host: h, status: s.status, counts: s.counts, ...(s.message ? { message: s.message } : {}), durationMs: s.started ? Date.now() - s.started : 0, ...recovered });
  };

  /**
   * A later play's first change: take the backups an earlier play of the host deferred, with that
   * play's runner (its variables), and hand what they made to the current runner.
   */
  const takeEarlier = async (s: Session, from: HostRunner, to: HostRunner): Promise<StepOutcome | undefined> => {
    s.pendingFrom = undefined;
    const before = { ...from.counts };
    const pending = from.pendingBackupRegisters();
    const f = await from.takeDeferred();
    from.finish();
    for (const k of Object.keys(before) as (keyof HostCounts)[]) s.counts[k] += from.counts[k] - before[k];
    to.adoptBackups(from);
    for (const name of pending) {
      if (name in from.scope) to.scope[name] = s.facts[name] = from.scope[name];
      // in a plan, what a dry run cannot know of it stays unknown in the later play
      if (from.uncertain.has(name)) to.uncertain.add(name);
    }
    return f;
  };

  /** Connect and lock on the host's first play; false when it cannot take part. */
  const open = async (s: Session): Promise<boolean> => {
    if (s.refused) return false;
    if (s.transport) return true;
    const h = s.entry;
    try {
      s.transport = await phase('connect', () => openTransport(h, c.connect, sessionBecome(c.rb)));
    } catch (e) {
      const message = messageOf(e);
      emitter.emit({ kind: 'host-unreachable', host: h.name, errorKind: isUserError(e) ? e.kind : 'connect', message });
      s.status = 'unreachable';
      s.message = message;
      return false;
    }
    emitter.emit({ kind: 'host-connected', host: h.name, ms: Date.now() - s.started });
    const lockPath = lockPathFor(h);
    try {
      if (!dryRun && !readOnlyRun) {
        await phase('lock', () => acquireLock(s.transport!, lockPath, { run_id: c.runId, operator: c.operator, pid: process.pid, started: c.startTime }, { breakLock: c.breakLock }));
        s.locked = true;
      } else if (dryRun) {
        const holder = await phase('lock', () => lockHolder(s.transport!, lockPath));
        if (holder) emitter.emit({ kind: 'warning', host: h.name, message: `locked by ${holder}: an apply now would be refused` });
      }
    } catch (e) {
      s.status = 'failed';
      s.message = messageOf(e);
      if (isUserError(e) && e.kind === 'lock') emitter.emit({ kind: 'warning', host: h.name, message: s.message });
      // without the lock this run must not change the host: drop the connection for good
      s.refused = true;
      const t = s.transport;
      s.transport = undefined;
      await t?.close().catch(() => undefined);
      return false;
    }
    return true;
  };

  let local: Transport | undefined;
  /** host → the changes its delegated steps made on other hosts (its own rollback does not undo them) */
  const delegatedBy = new Map<string, { on: string; name: string }[]>();
  /** delegate_to: a host of the run (connected and locked on first use) or the operator's machine */
  const delegate = async (name: string, by: string): Promise<Delegate> => {
    const s = sessions.get(name);
    if (!s) {
      if (name !== 'localhost') throw new Error(`no host \`${name}\` in this run (delegate to a host the run's plays select, or localhost)`);
      local ??= new LocalTransport({ host: 'localhost' });
      const warn = (message: string) => emitter.emit({ kind: 'warning', host: 'localhost', message });
      return {
        transport: local,
        recordUndo: (u) => warn(`"${u.name}" changed the operator's machine: rollback does not undo it`),
        backedUpRoots: () => [],
        recordLost: (lost) => warn(`rollback does not put back on the operator's machine: ${lost.join(', ')}`),
      };
    }
    if (s.status === 'unreachable') throw new Error(`${name} is unreachable`);
    // a host that failed, was rolled back, or is done with the run: a change there would not be rolled back
    if (s.out || s.refused || (s.finished && (s.status !== 'ok' || s.plays.length === 0))) {
      throw new Error(`${name} has left the run (${s.status}${s.message ? `: ${s.message}` : ''}): nothing may be changed there any more`);
    }
    begin(s);
    if (!(await open(s))) throw new Error(`${name}: ${s.message ?? 'cannot be reached'}`);
    // the backups that host took before a change made there now (its rollback restores them first)
    const backedUpRoots = () => (s.runner ? s.runner.backedUpRoots() : []);
    return {
      transport: s.transport!,
      recordUndo: (u) => {
        const entry = { ...u, covered: coveredBy(undoPaths(u.record), backedUpRoots()) };
        if (s.runner) s.runner.undos.push(entry);
        else s.delegatedUndos.push(entry);
        (delegatedBy.get(by) ?? delegatedBy.set(by, []).get(by)!).push({ on: name, name: u.name });
      },
      backedUpRoots,
      recordLost: (lost) => (s.runner ? s.runner.notRestored.push(...lost) : s.delegatedLost.push(...lost)),
    };
  };
  // run_once: one slot per batch and step; the batch's first host runs it, or (when that host
  // left the play before reaching it) the first host to ask after that
  const slots = new Map<string, { slot: OnceSlot; runner?: string; done?: boolean }>();
  const onceIn = (key: string, designated: string, host: string) => (stepId: string): OnceSlot => {
    const k = `${key}:${stepId}`;
    let entry = slots.get(k);
    if (!entry) {
      let settle!: (r: OnceResult) => void;
      const result = new Promise<OnceResult>((r) => (settle = r));
      const e: { slot: OnceSlot; runner?: string; done?: boolean } = {
        slot: { first: false, result, resolve: (r) => ((e.done = !r.orphaned), settle(r)) },
      };
      entry = e;
      if (!leftPlay.has(`${key}:${designated}`)) entry.runner = designated;
      slots.set(k, entry);
    }
    entry.runner ??= host;
    return { ...entry.slot, first: entry.runner === host };
  };
  /** batch key:host of the hosts that finished their part of a batch */
  const leftPlay = new Set<string>();
  const orphan = (key: string, host: string): void => {
    leftPlay.add(`${key}:${host}`);
    for (const [k, e] of slots) {
      if (!k.startsWith(`${key}:`) || e.runner !== host || e.done) continue;
      slots.delete(k); // the next host to ask runs it
      e.slot.resolve({ ranOn: host, outcome: { status: 'skipped', hostFailed: false }, value: undefined, uncertain: false, orphaned: true });
    }
  };

  // handlers are reported after all the selected steps, play by play
  const handlerIndex: number[] = [];
  let nextIndex = c.steps.length + 1;
  for (const p of rb.plays) {
    handlerIndex.push(nextIndex);
    nextIndex += p.handlers.length;
  }
  const total = nextIndex - 1;

  const runHostPlay = async (s: Session, play: PlayInfo, view: LoadedRunbook, steps: SelectedStep[], names: string[], batchKey: string, batchFirst: string): Promise<void> => {
    const h = s.entry;
    begin(s);
    let base: Scope;
    try {
      base = hostScope(view, h, c.extra, run);
    } catch (e) {
      s.out = true;
      return finish(s, 'failed', `variables: ${messageOf(e)}`);
    }
    if (state.fatal) {
      s.out = true;
      return finish(s, s.plays.length ? s.status : 'not-run', `not started: ${state.fatal}`);
    }
    if (!(await open(s))) {
      s.out = true;
      countFailure(batchKey);
      return finish(s);
    }
    const playHostList = new Lazy(() => names);
    const scope: Scope = { ...base, ...s.facts, hostvars, groups, play_hosts: playHostList, ansible_play_hosts: playHostList };
    const earlier = s.pendingFrom;
    const runner: HostRunner = new HostRunner({
      rb: view,
      host: h.name,
      transport: s.transport!,
      ...(earlier ? { earlier: { take: () => takeEarlier(s, earlier, runner), drop: () => earlier.finish(), registers: () => earlier.pendingBackupRegisters() } } : {}),
      scope,
      runId: c.runId,
      dryRun,
      localDir: c.localDir,
      sink: emitter,
      total,
      ...(s.runner ? { carry: s.runner } : c.resume?.carry.has(h.name) ? { carry: c.resume.carry.get(h.name)! } : {}),
      uncertainElsewhere,
      delegate: (name) => delegate(name, h.name),
      once: onceIn(batchKey, batchFirst, h.name),
      keepRoot: keepRootFor(lockPathFor(h)),
      ...(c.diff ? { diff: c.diff } : {}),
      ...(c.halted ? { stopReason: c.halted } : {}),
    });
    runner.undos.push(...s.delegatedUndos.splice(0));
    runner.notRestored.push(...s.delegatedLost.splice(0));
    s.runner = runner;
    s.current = runner.scope;
    s.plays.push(play.index);
    const policy = play.settings.on_failure ?? 'stop';
    let failed = false;
    const queue = new HandlerQueue(play.handlers.map((x) => x.name));
    // resume: what a handler had notified before the runner died (a step's notifications are armed as it is passed)
    const notified = c.resume?.notified?.get(h.name);
    for (const hd of play.handlers) rearm(queue, play.handlers, notified, hd);
    const flush: FlushOptions = { runner, handlers: play.handlers, queue, dryRun, host: h.name, sink: emitter, firstIndex: handlerIndex[play.index]!, total, notifiers: notifiersOf(play.steps, play.handlers), ran: new Set() };
    const onFailure = (): boolean => {
      failed = true;
      if (!dryRun && policy === 'rollback_all') {
        state.rollbackAll ??= `${h.name} failed${runner.failure ? ` at ${runner.failure}` : ''}`;
        state.fatal ??= `${state.rollbackAll} (on_failure: rollback_all: every host of the run is rolled back)`;
      }
      if (!dryRun && play.settings.any_errors_fatal) state.fatal ??= `${h.name} failed (any_errors_fatal)`;
      countFailure(batchKey);
      return policy !== 'continue';
    };
    /** stopped between steps because another host failed (or the journal broke): `aborted` */
    let stopped: string | undefined;
    try {
      // steps in blocks: a rescued failure never reaches onFailure (src/engine/blocks.ts)
      const hooks: BlockHooks<SelectedStep, ReturnType<typeof markFailure>> = {
        run: async ({ step, index }) => {
          const halt = c.halted?.();
          if (halt) state.fatal ??= `${halt}; every host stopped before its next change`;
          if (state.fatal) {
            stopped = state.fatal;
            return 'stop';
          }
          // resume: what the interrupted run journaled as done is not done (or judged) again; what it
          // registered comes from the journal. A read-only step whose value is not there (no_log, a
          // secret) runs again for it; a changing one was refused before the run (./resume.ts).
          if (c.resume?.done.get(h.name)?.has(step.id)) {
            const value = journaledValue(c.resume, h.name, step);
            if (value !== 'missing' || !isReadOnlyStep(step)) {
              runner.journaledDone(step, index, value === 'missing' ? undefined : value);
              rearm(queue, play.handlers, notified, step);
              return 'ok';
            }
          }
          if (step.type === 'flush_handlers') return (await flushHandlers(flush)) ? 'failed' : 'ok';
          const t0 = Date.now();
          const out = await withStepVars(runner.scope, step, () => runner.runStep(step, index));
          if (!dryRun && out.status === 'changed') s.firstChangeAt ??= t0;
          if (!dryRun && step.raw.verifies === true && !out.hostFailed && (out.status === 'ok' || out.status === 'changed')) s.verifiedAt = Date.now();
          if (notifies(out.status, dryRun)) for (const t of notifyTargets(step)) queue.notify(t, step.name);
          return out.hostFailed ? 'failed' : 'ok';
        },
        mark: () => markFailure(runner),
        rescued: (_b, m) => forgetFailure(runner, m),
        notNeeded: ({ step, index }, b) => reportNotNeeded(emitter, h.name, step, index, total, b, dryRun),
      };
      await runSteps(blockTree(steps, (x) => x.step.blocks), hooks, onFailure);
      // a failed host runs its pending handlers only with force_handlers (then its rollback follows);
      // a host stopped by another's fatal failure runs none
      if (queue.pending && !stopped && (!failed || play.settings.force_handlers)) if (await flushHandlers({ ...flush, final: true })) onFailure();
      if (dryRun) reportUnnotified(flush, flush.ran);
      // a backup still deferred stays deferred when a later play may change this host: that play's
      // runner takes it before its first change ("backup before change" across plays)
      if (!failed && !stopped && laterPlayChanges(h.name, play.index) && runner.holdDeferred()) s.pendingFrom = runner;
      else runner.finish();
    } catch (e) {
      failed = true;
      runner.failure ??= messageOf(e);
    }
    addCounts(s.counts, runner.counts);
    s.pendingChanges += runner.pendingChanges;
    // what this play registered stays for the later ones (a dry run's uncertain name stays uncertain)
    for (const [k, v] of Object.entries(runner.scope)) if (!(v instanceof Lazy) && (!(k in base) || base[k] !== v)) s.facts[k] = v;
    for (const n of runner.uncertain) if (!(n in runner.scope)) delete s.facts[n];
    if (failed || stopped) {
      // stopped because another host failed: `aborted`, rolled back like a failure when it changed anything
      s.out = true;
      s.status = failed ? 'failed' : 'aborted';
      const reason = failed ? (runner.failure ?? 'a step failed') : `aborted: ${stopped}`;
      const lost = runner.notRestored;
      s.message = lost.length ? notRestoredMessage(reason, lost) : reason;
      if (!dryRun && (policy === 'rollback' || policy === 'rollback_all' || state.rollbackAll !== undefined) && (failed || changedAnything(runner))) {
        const rolled = await rollBack(s, reason);
        // never `rolled-back` after losing data: an irreversible change leaves the host failed
        s.status = !rolled.ok ? 'rollback-failed' : lost.length ? 'failed' : failed ? 'rolled-back' : 'aborted';
        s.message = !rolled.ok
          ? `${reason}; rollback failed: ${rolled.message}`
          : lost.length
            ? notRestoredMessage(`${reason}; rolled back what could be`, lost)
            : failed
              ? `rolled back after ${reason}`
              : `${reason}; rolled back`;
        for (const d of delegatedBy.get(h.name) ?? []) {
          emitter.emit({ kind: 'warning', host: h.name, message: `"${d.name}" changed ${d.on} (delegate_to) and was not undone: it is ${d.on}'s change; \`runbook rollback ${c.runId} --limit ${d.on}\` undoes it` });
        }
      }
    }
    // a later rollback_all play may still roll this host back: it finishes at the end of the run
    if (s.out || (lastPlay.get(h.name) === play.index && !rollbackAllAfter(play.index))) await finish(s);
  };

  /** Roll a host back: its backups and undo records, newest change first, then its plays' rollback steps. */
  const rollBack = async (s: Session, reason: string): Promise<{ ok: boolean; message?: string }> => {
    const runner = s.runner!;
    const h = s.entry;
    s.rolledBack = true;
    let base: Scope;
    try {
      base = hostScope(playView(rb, rb.plays[s.plays[s.plays.length - 1] ?? 0]!), h, c.extra, run);
    } catch {
      base = {};
    }
    return rollbackHost({
      rb: rollbackView(rb, s.plays),
      host: h.name,
      transport: s.transport!,
      scope: runner.scope,
      runId: c.runId,
      backups: runner.backups,
      undos: runner.undos,
      withheld: runner.withheld,
      backupPaths: runner.backupPaths,
      sink: emitter,
      dryRun: false,
      localDir: c.localDir,
      reason,
      // each play's rollback steps with that play's variables, and what the host registered
      scopeOf: (p) => {
        const facts = Object.fromEntries(Object.entries(runner.scope).filter(([k, v]) => !(k in base) || base[k] !== v));
        try {
          return { ...runner.scope, ...hostScope(playView(rb, rb.plays[p]!), h, c.extra, run), ...facts };
        } catch {
          return runner.scope;
        }
      },
    }).catch((e: unknown) => ({ ok: false, message: messageOf(e) }));
  };

  // this play or a later one (a host that finished its part can still be rolled back by the sweep)
  const rollbackAllAfter = (index: number): boolean => rb.plays.some((p) => p.index >= index && p.settings.on_failure === 'rollback_all');

  /**
   * on_failure: rollback_all: once the failing batch is over, every host of the run that changed
   * anything and was not rolled back yet (it finished its part, or has not reached this play) is
   * rolled back, newest change first on each host, with the failing host and why as the reason.
   */
  const sweep = async (): Promise<void> => {
    if (!state.rollbackAll || state.swept || dryRun) return;
    state.swept = true;
    const why = `${state.rollbackAll}: every host of the run is rolled back (on_failure: rollback_all)`;
    const todo = [...sessions.values()].filter((s) => !s.out && !s.finished && !s.rolledBack && s.runner && s.transport && changedAnything(s.runner));
    await Promise.all(
      todo.map((s) =>
        c.limit(async () => {
          const rolled = await rollBack(s, why);
          const lost = s.runner!.notRestored;
          s.out = true;
          s.status = !rolled.ok ? 'rollback-failed' : lost.length ? 'failed' : 'aborted';
          s.message = !rolled.ok ? `${why}; rollback failed: ${rolled.message}` : lost.length ? notRestoredMessage(`${why}; rolled back what could be`, lost) : `${why}; rolled back`;
          await finish(s);
        }),
      ),
    );
  };

  for (const play of rb.plays) {
    const view = playView(rb, play);
    const steps = c.steps.filter((s) => s.step.play === play.index && s.step.section === 'steps');
    const selected = playHosts[play.index]!.map((h) => sessions.get(h.name)!).filter((s) => !s.out && !s.finished);
    // order_by: sorted on each host's facts so far (plan too: read-only facts are known there)
    const active = play.settings.order_by
      ? orderHosts(selected, play.settings.order_by, (x) => ({ ...x.current, hostvars, groups }), (x, m) => emitter.emit({ kind: 'warning', host: x.entry.name, message: `order_by: ${m} (run last)` }))
      : selected;
    const names = active.map((s) => s.entry.name);
    if (rb.multiPlay) emitter.emit({ kind: 'play-start', index: play.index + 1, count: rb.plays.length, name: play.name, hosts: names, ...(play.settings.on_failure === 'rollback_all' ? { onFailure: 'rollback_all' as const } : {}) });
    const batches = makeBatches(active, play.settings.serial);
    for (let bi = 0; bi < batches.length; bi++) {
      const batch = batches[bi]!;
      const stop = state.aborted ?? state.fatal;
      if (stop) {
        for (const s of batch) await finish(s, s.plays.length ? s.status : 'not-run', `not started: ${stop}`);
        continue;
      }
      emitter.emit({ kind: 'batch-start', index: bi + 1, count: batches.length, hosts: batch.map((s) => s.entry.name) });
      batchFailures.set(`${play.index}:${bi}`, { n: 0, size: batch.length, max: play.settings.max_fail_percentage, play: play.name });
      const before = new Map(batch.map((s) => [s, s.status]));
      const key = `${play.index}:${bi}`;
      await Promise.all(batch.map((s) => c.limit(() => inHost(s.entry.name, () => runHostPlay(s, play, view, steps, names, key, batch[0]!.entry.name).finally(() => orphan(key, s.entry.name))))));
      await sweep();
      const failedN = batch.filter((s) => s.status !== 'ok' && s.status !== 'aborted' && s.status !== 'not-run' && before.get(s) === 'ok').length;
      const max = play.settings.max_fail_percentage;
      const over = !dryRun && exceedsMaxFail(failedN, batch.length, max);
      if (over) state.aborted = `${failedN} of ${batch.length} hosts of batch ${bi + 1}${rb.multiPlay ? ` of play "${play.name}"` : ''} failed, more than max_fail_percentage ${max}%`;
      emitter.emit({ kind: 'batch-end', index: bi + 1, failed: failedN, aborted: over, ...(over ? { message: state.aborted! } : {}) });
    }
  }
  // hosts still open (a later play that would have had them did not run) and hosts no play selected
  const stop = state.aborted ?? state.fatal;
  for (const s of sessions.values()) if (!s.finished) await finish(s, s.plays.length ? undefined : 'not-run', s.plays.length ? undefined : `not started: ${stop ?? 'no play selects this host'}`);
  for (const s of sessions.values()) await close(s);
  await local?.close().catch(() => undefined);
  const rows = c.hosts.map((h) => sessions.get(h.name)!.row!).filter(Boolean);
  const pendingChanges = [...sessions.values()].reduce((n, s) => n + s.pendingChanges, 0);
  return { rows, pendingChanges, ...(stop ? { aborted: stop } : {}) };
}
