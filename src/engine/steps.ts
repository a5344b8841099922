/**
 * Running steps on one host: expand templates with the host's scope just before each probe,
 * probe, and (in apply) apply right after that fresh probe. The engine alone orchestrates;
 * actions only probe and apply (pyinfra's lesson).
 *
 * Dry run: a register whose value a dry run cannot know (the step would change something, or the
 * probe gave no facts) is "uncertain"; an expression that needs it makes the step `unknown`,
 * never an error.
 */
import { isUserError, userError } from '../errors.js';
import type { Action, ProbeResult, StepContext } from '../actions/types.js';
import { evaluate, evaluateCondition, expandDeep, renderTemplate, type Scope } from '../runbook/expressions.js';
import { parseDuration } from '../runbook/duration.js';
import type { LoadedRunbook, StepInfo } from '../runbook/model.js';
import type { Transport } from '../transport/types.js';
import { emptyCounts, type EventSink, type HostCounts, type StepEndEvent, type StepStatus } from './events.js';
import { backupDirOf, backupPathsOf, DeferredBackups } from './deferred.js';
import { withTimeout } from './timeout.js';
import { applyActs, classifyChange, irreversibleInPlan, isReadOnlyStep, type PlannedSoFar } from './safety.js';
import { applyEvent, isChange, pathFacts, statePaths, thrownChange, type ChangeFacts } from './partial-change.js';
import { journaledRegister, namesIn, registerResults, stepStatus, type ItemResult, type JournaledItem } from './step-results.js';
export type { JournaledItem } from './step-results.js';
import type { Delegate, OnceSlot } from './cross-host.js';
import { coveredBy, undoPaths, type StepOutcome, type UndoEntry } from './step-outcome.js';
export type { StepOutcome, UndoEntry } from './step-outcome.js';
export { coveredBy, undoPaths } from './step-outcome.js';
import { applyWithRetries, retrySpec } from './retry.js';
import { phase } from './profile.js';
import { actionFor, errorText, withBecome } from './step-support.js';
import { getAction } from '../actions/registry.js';
import { isObject } from '../runbook/yaml.js';
import { isWithin } from '../actions/util.js';
export type { Delegate, OnceResult, OnceSlot } from './cross-host.js';

export interface HostRunnerOptions {
  rb: LoadedRunbook;
  host: string;
  transport: Transport;
  scope: Scope;
  runId: string;
  dryRun: boolean;
  localDir: string;
  sink: EventSink;
  /** position of steps in the report: total steps selected */
  total: number;
  /** where steps keep what they destroy on the host (beside the lock) */
  keepRoot?: string;
  /** why no change may be made any more (the journal cannot be written), checked before each apply */
  stopReason?: () => string | undefined;
  /** the runner of this host's previous play (or, on resume, what the journal says): its backups, undo records and uncertain names carry over */
  carry?: Carry;
  /** dry run: whether a name is uncertain on another host (read through `hostvars`) */
  uncertainElsewhere?: (name: string) => boolean;
  /** `delegate_to`: the other host's connection, and where its undo records go (that host's own) */
  delegate?: (name: string) => Promise<Delegate>;
  /** `run_once`: the step's shared slot in this batch (the first host to reach it runs it) */
  once?: (stepId: string) => OnceSlot;
  /** `--diff`: file-writing steps say how they change the file, redacted with the run's secrets */
  diff?: { redact(text: string): string };
  /** backups an earlier play of this host deferred: taken (once) before this runner's first change, else dropped when it finishes */
  earlier?: { take: () => Promise<StepOutcome | undefined>; drop: () => void; registers: () => string[] };
}

/** What a host's earlier runner leaves to the next (a later play; `runbook resume` from the journal). */
export type Carry = Pick<HostRunner, 'backups' | 'backupPaths' | 'undos' | 'withheld' | 'uncertain' | 'notRestored'> & Partial<Pick<HostRunner, 'planned'>>;

const NO_ITEM = Symbol('no item');


/** The step's timeout in ms: the step's own, else the runbook's, else none. */
export function stepTimeoutMs(rb: LoadedRunbook, step: StepInfo): number | undefined {
  const t = step.raw.timeout ?? rb.runbook.timeout;
  return t ? parseDuration(t) : undefined;
}

export class HostRunner {
  readonly counts: HostCounts = emptyCounts();
  /** dry run: steps that would change something, or might (unknown, not read-only) */
  pendingChanges = 0;
  readonly scope: Scope;
  /** register names (and `previous`) whose values a dry run does not fully know */
  readonly uncertain = new Set<string>();
  /** backup directories this host's `backup` steps made, in order */
  readonly backups: string[] = [];
  /** backup directory → the paths its step backed up (what rollback may restore from it) */
  readonly backupPaths = new Map<string, string[]>();
  /** changes with an undo record, in the order they were made (rollback reverses those no backup covers) */
  readonly undos: UndoEntry[] = [];
  /** changes whose undo record was kept out of the journal (no_log, secrets): only a backup can reverse them */
  readonly withheld: string[] = [];
  /** the first failure's message */
  failure?: string;
  /** what this host's irreversible changes touched: rollback cannot put these back */
  readonly notRestored: string[] = [];
  /**
   * dry run: what the plan does on this host so far. Shared with the host's earlier plays' runners:
   * a backup play 1 deferred is planned when play 2's first change takes it, and covers that change.
   */
  readonly planned: PlannedSoFar;

  /** see HostRunnerOptions.earlier; cleared once taken */
  private earlier: HostRunnerOptions['earlier'];

  constructor(private readonly o: HostRunnerOptions) {
    this.scope = { ...o.scope };
    this.earlier = o.earlier;
    this.deferred = new DeferredBackups(o.sink);
    const c = o.carry;
    this.planned = c?.planned ?? { backups: 0, roots: [], paths: [] };
    if (c) {
      this.backups.push(...c.backups);
      for (const [dir, paths] of c.backupPaths) this.backupPaths.set(dir, paths);
      this.undos.push(...c.undos);
      this.withheld.push(...c.withheld);
      this.notRestored.push(...c.notRestored);
      for (const n of c.uncertain) this.uncertain.add(n);
    }
  }

  /**
   * Whether the step's templates name a secret variable. Its undo record (the file's previous
   * content) then stays out of the journal: the previous content was most likely written from
   * the secret's previous value, which no redactor knows. Rollback can then put such a file back
   * only from a backup that covers it.
   */
  private mentionsSecret(step: StepInfo): boolean {
    if (this.o.rb.secrets.size === 0) return false;
    return namesIn(step.raw).some((n) => this.o.rb.secrets.has(n));
  }

  /** The paths this host's backups so far copied; undefined when a backup did not say (then all count as covered). */
  backedUpRoots(): string[] | undefined {
    if (this.backups.some((d) => !this.backupPaths.has(d))) return undefined;
    return [...this.backupPaths.values()].flat();
  }

  /** Whether any string in `v` (expressions, templates) names an uncertain register, or a step var (`vars`) set from one. */
  private mentionsUncertain(v: unknown, vars?: Record<string, unknown>): boolean {
    const elsewhere = this.o.uncertainElsewhere;
    if (this.uncertain.size === 0 && !elsewhere) return false;
    return namesIn(v).some((n) => this.uncertain.has(n) || elsewhere?.(n) === true || (vars?.[n] !== undefined && this.mentionsUncertain(vars[n])));
  }

  /** while an item of a delegated step runs: the host it runs on */
  private delegated: { name: string; to: Delegate } | undefined;

  private ctx(step: StepInfo, scope: Scope): StepContext {
    const becomeUser = step.raw.become_user ?? this.o.rb.runbook.become_user;
    const become = step.raw.become ?? this.o.rb.runbook.become;
    const timeoutMs = stepTimeoutMs(this.o.rb, step);
    // delegated: the other host's connection with its own become, unless the step says
    const base = this.delegated?.to.transport ?? this.o.transport;
    // delegated: the step's own become (written on it or its block), not the play's or runbook's
    const stepBecome = this.delegated ? step.ownBecome : become;
    return {
      transport: stepBecome === undefined ? base : withBecome(base, stepBecome, this.delegated ? step.raw.become_user : becomeUser),
      hostName: this.o.host,
      runId: this.o.runId,
      dryRun: this.o.dryRun,
      localDir: this.o.localDir,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      evaluate: (expression, extra) => evaluate(expression, extra ? { ...scope, ...extra } : scope),
      render: (template) => renderTemplate(template, scope),
      runbookDir: step.dir ?? this.o.rb.dir,
      ...(this.o.keepRoot ? { keepRoot: this.o.keepRoot } : {}),
      ...(this.o.diff ? { diff: { redact: this.o.diff.redact, hideRemoved: this.mentionsSecret(step) } } : {}),
    };
  }

  /** Backups are deferred (./deferred.ts): taken before the first later step that may change the host. */
  private readonly deferred: DeferredBackups;
  /** a deferred backup failed: nothing may change on this host any more (later loop items included) */
  private backupFailure: StepOutcome | undefined;

  /**
   * Stop the work in flight of a step that timed out, on the connection it runs over: the
   * delegate's for a delegated step (cancelling this host's would leave the delegate's running).
   */
  private cancelFor(): () => Promise<void> {
    const t = this.delegated?.to.transport ?? this.o.transport;
    return () => t.cancel?.() ?? Promise.resolve();
  }

  /** Run one step (all its loop items) and register its result. */
  async runStep(step: StepInfo, index: number): Promise<StepOutcome> {
    if (step.raw.run_once === true && this.o.once) return this.runOnce(step, index, this.o.once(step.id));
    return this.runStepHere(step, index);
  }

  /**
   * run_once: the first host of the batch runs the step; the others wait, then
   * register its result as theirs (Ansible: the result is registered on every host of the batch)
   * and fail with it when it failed.
   */
  private async runOnce(step: StepInfo, index: number, slot: OnceSlot): Promise<StepOutcome> {
    if (slot.first) {
      let out: StepOutcome = { status: 'failed', hostFailed: true, message: 'run_once step did not finish' };
      try {
        out = await this.runStepHere(step, index);
      } finally {
        const name = step.raw.register ?? 'previous';
        slot.resolve({ ranOn: this.o.host, outcome: out, value: this.scope[name] as Record<string, unknown> | undefined, uncertain: this.uncertain.has(name) });
      }
      return out;
    }
    this.deferred.emit({ kind: 'step-start', host: this.o.host, step: step.id, name: step.name, index, total: this.o.total });
    const r = await slot.result;
    if (r.orphaned && this.o.once) return this.runOnce(step, index, this.o.once(step.id));
    const failed = r.outcome.hostFailed;
    const status: StepStatus = failed ? 'failed' : r.outcome.status === 'skipped' ? 'skipped' : 'ok';
    this.finishItem(step, index, NO_ITEM, { status, uncertain: r.uncertain, failed, message: `run once on ${r.ranOn}${r.outcome.message ? `: ${r.outcome.message}` : ''}` }, [], 0);
    for (const name of ['previous', ...(step.raw.register ? [step.raw.register] : [])]) {
      if (r.value === undefined) delete this.scope[name];
      else this.scope[name] = r.value;
      if (r.uncertain) this.uncertain.add(name);
      else this.uncertain.delete(name);
    }
    return this.outcome(step, [{ status, uncertain: r.uncertain, failed, ...(r.outcome.message ? { message: `run once on ${r.ranOn}: ${r.outcome.message}` } : {}) }]);
  }

  private async runStepHere(step: StepInfo, index: number): Promise<StepOutcome> {
    const raw = step.raw;
    // a deferred backup (this play's, or an earlier play's) whose result the step reads is taken first
    const registers = [...this.pendingBackupRegisters(), ...(this.earlier?.registers() ?? [])];
    if (registers.length && namesIn(raw).some((n) => registers.includes(n))) {
      const f = await this.flushBackups();
      if (f) return f;
    }
    if (step.type === 'backup' && raw.loop === undefined) {
      this.deferred.defer(step, index);
      return { status: 'ok', hostFailed: false };
    }
    return this.executeStep(step, index);
  }

  /** Take the deferred backups now (an earlier play's first); the failed outcome when one fails. */
  private async flushBackups(): Promise<StepOutcome | undefined> {
    const earlier = this.earlier;
    this.earlier = undefined;
    const e = await earlier?.take();
    if (e) {
      this.backupFailure = e;
      return e;
    }
    // a backup is this host's own: taken over its own connection even when the step that needs it is delegated
    const delegated = this.delegated;
    this.delegated = undefined;
    try {
      const f = await this.deferred.flush(
        (d) => this.executeStep(d.step, d.index),
        (d, why) => this.skipDeferred(d.step, d.index, why),
      );
      if (f) this.backupFailure = f;
      return f;
    } finally {
      this.delegated = delegated;
    }
  }

  private skipDeferred(step: StepInfo, index: number, why: string): void {
    const r = this.finishItem(step, index, NO_ITEM, { status: 'skipped', uncertain: false, failed: false, facts: { changed: false, failed: false, skipped: true }, message: why }, [], 0);
    if (step.raw.register) {
      this.scope[step.raw.register] = r.facts;
      this.uncertain.delete(step.raw.register);
    }
  }

  /**
   * resume: a step the interrupted run journaled as done is not run again, nor judged again from
   * what the host shows now (its changes are in the carried undo records and backups). What it
   * registered is rebuilt from the journal (`items`, in the order they ran), and journaled again
   * for a later resume.
   */
  journaledDone(step: StepInfo, index: number, items?: JournaledItem[]): void {
    const message = 'done before the run was interrupted (journal)';
    const list: Array<JournaledItem | undefined> = items?.length ? items : [undefined];
    const results: ItemResult[] = [];
    for (const it of list) {
      const item = it && 'item' in it ? it.item : NO_ITEM;
      this.deferred.emit({ kind: 'step-start', host: this.o.host, step: step.id, name: step.name, index, total: this.o.total, ...(item === NO_ITEM ? {} : { item }) });
      const r: ItemResult = { status: it?.status === 'skipped' ? 'skipped' : 'ok', uncertain: false, failed: false, ...(it?.facts ? { facts: it.facts } : {}), message };
      this.finishItem(step, index, item, r, [], 0);
      results.push({ ...r, status: it?.status ?? 'ok' });
    }
    if (items?.length) this.register(step, results, step.raw.loop !== undefined);
  }

  /**
   * End of a play after which the host may still be changed: the held events go out, and whether
   * backups are still deferred (the next play's runner takes them: `earlier`, via takeDeferred).
   */
  holdDeferred(): boolean {
    this.deferred.releaseEvents();
    // an earlier play's backups not taken yet are handed on with this runner's own
    return this.deferred.pending.length > 0 || this.earlier !== undefined;
  }

  /** Take the backups still deferred now; the failed outcome when one fails. */
  takeDeferred(): Promise<StepOutcome | undefined> {
    return this.flushBackups();
  }

  /** The register names of the backups still deferred. */
  pendingBackupRegisters(): string[] {
    return this.deferred.pending.map((d) => d.step.raw.register).filter((n): n is string => n !== undefined);
  }

  /** After an earlier play's runner took its deferred backups: they cover this runner's changes too. */
  adoptBackups(from: HostRunner): void {
    for (const d of from.backups) {
      if (this.backups.includes(d)) continue;
      this.backups.push(d);
      const paths = from.backupPaths.get(d);
      if (paths) this.backupPaths.set(d, paths);
    }
  }

  /** After the last step: backups still deferred were not needed. */
  finish(): void {
    this.earlier?.drop();
    this.earlier = undefined;
    this.deferred.drop((d, why) => this.skipDeferred(d.step, d.index, why));
  }

  private async executeStep(step: StepInfo, index: number): Promise<StepOutcome> {
    const raw = step.raw;
    let items: unknown[] = [NO_ITEM];
    if (raw.loop !== undefined) {
      try {
        const v = Array.isArray(raw.loop) ? expandDeep(raw.loop, this.scope) : renderTemplate(raw.loop, this.scope);
        if (!Array.isArray(v)) throw userError('expression', `loop: \`${String(raw.loop)}\` must give a list, got ${v === null ? 'null' : typeof v}`);
        items = v;
      } catch (e) {
        const unknown = this.o.dryRun && this.mentionsUncertain(raw);
        const r = this.finishItem(step, index, NO_ITEM, {
          status: unknown ? 'unknown' : 'failed',
          uncertain: true,
          failed: !unknown,
          message: unknown ? `loop depends on results a dry run cannot know: ${errorText(e)}` : errorText(e, step),
        }, [], 0);
        this.register(step, [r], false);
        return this.outcome(step, [r]);
      }
    }
    const results: ItemResult[] = [];
    for (const item of items) results.push(await this.runItem(step, index, item));
    this.register(step, results, raw.loop !== undefined);
    return this.outcome(step, results);
  }

  private outcome(step: StepInfo, results: ItemResult[]): StepOutcome {
    const failed = results.find((r) => r.failed);
    const status = stepStatus(results);
    const hostFailed = !!failed && step.raw.ignore_errors !== true;
    if (hostFailed && this.failure === undefined) this.failure = `step "${step.name}": ${failed!.message ?? 'failed'}`;
    return { status, hostFailed, ...(failed?.message ? { message: failed.message } : {}) };
  }

  private register(step: StepInfo, results: ItemResult[], loop: boolean): void {
    registerResults(this.scope, this.uncertain, step, results, loop);
  }

  private async runItem(step: StepInfo, index: number, item: unknown): Promise<ItemResult> {
    const started = Date.now();
    const raw = step.raw;
    const scope: Scope = item === NO_ITEM ? this.scope : { ...this.scope, item };
    const dry = this.o.dryRun;
    const itemField = item === NO_ITEM ? {} : { item };
    this.deferred.emit({ kind: 'step-start', host: this.o.host, step: step.id, name: step.name, index, total: this.o.total, ...itemField });

    // when:
    let whenUnknown = false;
    if (raw.when !== undefined) {
      try {
        if (!evaluateCondition(raw.when, scope)) {
          return this.finishItem(step, index, item, { status: 'skipped', uncertain: false, failed: false, facts: { changed: false, failed: false, skipped: true }, message: `when: ${raw.when}` }, [], started);
        }
      } catch (e) {
        if (dry && this.mentionsUncertain(raw.when, raw.vars)) whenUnknown = true;
        else return this.finishItem(step, index, item, { status: 'failed', uncertain: false, failed: true, facts: { changed: false, failed: true, skipped: false }, message: errorText(e, step) }, [], started);
      }
    }

    // params, expanded with the host's scope right now
    let params: unknown;
    try {
      params = expandParams(step, scope);
    } catch (e) {
      if (dry && this.mentionsUncertain(raw)) {
        if (!isReadOnlyStep(step)) await this.flushBackups();
        return this.finishItem(step, index, item, { status: 'unknown', uncertain: true, failed: false, message: `depends on results a dry run cannot know: ${errorText(e)}` }, [], started);
      }
      return this.finishItem(step, index, item, { status: 'failed', uncertain: false, failed: true, facts: { changed: false, failed: true, skipped: false }, message: errorText(e, step) }, [], started);
    }

    if (raw.delegate_to !== undefined) {
      try {
        const name = String(renderTemplate(raw.delegate_to, scope));
        if (!this.o.delegate) throw userError('usage', `delegate_to ${name}: not available here`);
        this.delegated = { name, to: await this.o.delegate(name) };
      } catch (e) {
        return this.finishItem(step, index, item, { status: 'failed', uncertain: false, failed: true, facts: { changed: false, failed: true, skipped: false }, message: `delegate_to: ${errorText(e)}` }, [], started);
      }
    }
    try {
      return await this.runAction(step, index, item, scope, params, whenUnknown, started);
    } finally {
      this.delegated = undefined;
    }
  }

  private async runAction(step: StepInfo, index: number, item: unknown, scope: Scope, params: unknown, whenUnknown: boolean, started: number): Promise<ItemResult> {
    const raw = step.raw;
    const dry = this.o.dryRun;
    let action: Action<unknown, unknown>;
    let probe: ProbeResult<unknown> | undefined;
    const ctx = this.ctx(step, scope);
    const what = `step "${step.name}"`;
    const cancel = this.cancelFor();
    try {
      action = actionFor(step.type);
      probe = await phase(step.type === 'backup' ? 'backup' : 'probe', () => withTimeout(action.probe(ctx, params), ctx.timeoutMs, what, this.o.host, cancel));
    } catch (e) {
      if (dry && isUserError(e) && (e.kind === 'expression' || e.kind === 'undefined-variable') && this.mentionsUncertain(raw)) {
        return this.finishItem(step, index, item, { status: 'unknown', uncertain: true, failed: false, message: `depends on results a dry run cannot know: ${errorText(e)}` }, [], started);
      }
      // a read-only check that fails now may pass once the earlier changes are made
      if (dry && isReadOnlyStep(step) && (whenUnknown || this.pendingChanges > 0)) {
        return this.finishItem(step, index, item, { status: 'unknown', uncertain: true, failed: false, message: `fails now, before the earlier changes are made: ${errorText(e)}` }, [], started);
      }
      return this.finishItem(step, index, item, { status: 'failed', uncertain: false, failed: true, facts: { changed: false, failed: true, skipped: false }, message: errorText(e, step) }, [], started);
    }

    const flushed = async (): Promise<ItemResult | undefined> => {
      if (!this.deferred.pending.length && !this.earlier && !this.backupFailure) return undefined;
      const f = this.backupFailure ?? (await this.flushBackups());
      if (!f) return undefined;
      return this.finishItem(step, index, item, { status: 'failed', uncertain: false, failed: true, facts: { changed: false, failed: true, skipped: false }, message: `not run: ${f.message ?? 'the backup before it failed'}` }, [], started);
    };

    const readOnly = isReadOnlyStep(step, action);
    if (dry) {
      const facts = probe.facts;
      let status: StepStatus = probe.status === 'skip' ? 'skipped' : probe.status;
      if (whenUnknown && status === 'change') status = 'unknown';
      if (whenUnknown && status === 'skipped') status = 'ok';
      const paths = readOnly ? [] : statePaths(probe.state);
      // `ok` judged from the host as it is now, on a path an earlier step of the plan changes: what
      // it will find then is unknown (a manifest moved out, then "put back": ok now, a change then)
      const after = status === 'ok' ? this.planned.paths.find((p) => paths.some((q) => isWithin(q, p) || isWithin(p, q))) : undefined;
      if (after !== undefined) status = 'unknown';
      const summary = after !== undefined ? `ok now, but an earlier step of the plan changes ${after}: what this step does is known only then (now: ${probe.summary ?? 'nothing to do'})` : probe.summary;
      if (status === 'change' || status === 'unknown') this.planned.paths.push(...paths);
      if (!readOnly && (status === 'change' || status === 'unknown' || probe.acts === true)) {
        const f = await flushed();
        if (f) return f;
      }
      const known = status === 'skipped' || (status === 'ok' && (facts !== undefined || action.readOnly));
      const lost = irreversibleInPlan({ type: step.type, changes: !readOnly && (status === 'change' || status === 'unknown'), hasUndo: !!action.undo, writes: probe.writes, plannedRoots: this.planned.roots, backupsBefore: this.planned.backups });
      if (step.type === 'backup' && (status === 'change' || status === 'ok')) {
        this.planned.backups++;
        this.planned.roots.push(...(backupPathsOf(probe, undefined) ?? []));
      }
      const value: Record<string, unknown> | undefined =
        status === 'unknown' && !facts
          ? undefined
          : { ...(facts ?? {}), changed: status === 'change', failed: false, skipped: status === 'skipped' };
      return this.finishItem(
        step,
        index,
        item,
        { status, uncertain: !known || whenUnknown, failed: false, ...(value ? { facts: value } : {}), ...(summary ? { message: summary } : {}) },
        probe.commands,
        started,
        { ...(summary ? { summary } : {}), ...(probe.report ? { report: probe.report } : {}), ...(probe.diff ? { diff: probe.diff } : {}), ...(lost ? { irreversible: true, notRestored: lost } : {}) },
      );
    }

    if (whenUnknown) throw new Error('internal: uncertain value outside a dry run');
    if (probe.status === 'skip') {
      return this.finishItem(step, index, item, { status: 'skipped', uncertain: false, failed: false, facts: { ...(probe.facts ?? {}), changed: false, failed: false, skipped: true }, ...(probe.summary ? { message: probe.summary } : {}) }, [], started);
    }
    const stop = readOnly ? undefined : this.o.stopReason?.();
    if (stop) return this.finishItem(step, index, item, { status: 'failed', uncertain: false, failed: true, facts: { changed: false, failed: true, skipped: false }, message: `not run: ${stop}` }, [], started);
    // the contract: no step that may change the host applies before a backup that precedes it
    if (!readOnly && applyActs(probe)) {
      const f = await flushed();
      if (f) return f;
      const noLog = raw.no_log === true;
      const who = { host: this.o.host, step: step.id, name: step.name, type: step.type, ...(item === NO_ITEM ? {} : { item: { item: noLog ? '(no_log)' : item } }), ...(this.delegated ? { delegate: this.delegated.name } : {}) };
      const journaled = applyEvent(who, step.params, probe, !!action.undo, noLog || this.mentionsSecret(step));
      if (journaled) this.deferred.emit(journaled);
    }
    try {
      const attempt = (p: ProbeResult<unknown>) => phase(step.type === 'backup' ? 'backup' : 'apply', () => withTimeout(action.apply(ctx, params, p), ctx.timeoutMs, what, this.o.host, cancel));
      const reprobe = () => phase('probe', () => withTimeout(action.probe(ctx, params), ctx.timeoutMs, what, this.o.host, cancel));
      const res = await applyWithRetries(retrySpec(raw), ctx, probe, attempt, reprobe);
      const failed = res.failed === true;
      const status: StepStatus = failed ? 'failed' : res.changed ? 'changed' : 'ok';
      const dir = step.type === 'backup' ? backupDirOf(probe, res.facts) : undefined;
      if (dir && !this.backups.includes(dir)) this.backups.push(dir);
      const paths = dir ? backupPathsOf(probe, res.facts) : undefined;
      if (dir && paths) this.backupPaths.set(dir, paths);
      return this.finishItem(
        step,
        index,
        item,
        { status, uncertain: false, failed, facts: { ...(res.facts ?? {}), changed: res.changed, failed, skipped: false }, ...(res.message ? { message: res.message } : {}) },
        res.commands,
        started,
        { ...(dir ? { backupDir: dir } : {}), ...(dir && paths ? { backupPaths: paths } : {}), ...(res.undo ? { undo: res.undo } : {}), ...(probe.summary ? { summary: probe.summary } : {}), ...(probe.report ? { report: probe.report } : {}), ...(probe.diff ? { diff: probe.diff } : {}), applied: !readOnly, undoable: !!action.undo, possiblyChanged: failed && res.changed, ...pathFacts(probe) },
      );
    } catch (e) {
      // an apply that threw may have changed the host before it failed: ./partial-change.ts
      const t = thrownChange(e, readOnly, !!action.undo, probe);
      return this.finishItem(step, index, item, { status: 'failed', uncertain: false, failed: true, facts: { changed: t.maybe, failed: true, skipped: false }, message: errorText(e, step) }, probe.commands, started, { ...t.facts, ...(t.undo ? { undo: t.undo } : {}) });
    }
  }

  private finishItem(
    step: StepInfo,
    index: number,
    item: unknown,
    r: ItemResult,
    commands: string[],
    started: number,
    extra: Partial<Pick<StepEndEvent, 'summary' | 'report' | 'diff' | 'backupDir' | 'backupPaths' | 'undo' | 'irreversible' | 'notRestored'>> & ChangeFacts = {},
  ): ItemResult {
    const noLog = step.raw.no_log === true;
    const ignored = r.failed && step.raw.ignore_errors === true;
    const withholdUndo = extra.undo !== undefined && (noLog || this.mentionsSecret(step));
    const e: StepEndEvent = {
      kind: 'step-end',
      host: this.o.host,
      step: step.id,
      name: step.name,
      type: step.type,
      index,
      total: this.o.total,
      status: r.status,
      ...(item === NO_ITEM ? {} : { item: noLog ? '(no_log)' : item }),
      commands: noLog && commands.length ? ['(no_log: commands hidden)'] : commands,
      ...(r.message !== undefined ? { message: noLog ? '(no_log: output hidden)' : r.message } : {}),
      durationMs: started ? Date.now() - started : 0,
      ...(extra.summary !== undefined && !noLog ? { summary: extra.summary } : {}),
      ...(extra.report !== undefined && !noLog ? { report: extra.report } : {}),
      ...(extra.diff !== undefined && !noLog ? { diff: extra.diff } : {}),
      ...(extra.backupDir ? { backupDir: extra.backupDir } : {}),
      ...(extra.backupPaths ? { backupPaths: extra.backupPaths } : {}),
      ...(extra.undo && !withholdUndo ? { undo: extra.undo } : {}),
      ...(withholdUndo ? { undoWithheld: true } : {}),
      ...(ignored ? { ignored: true } : {}),
      ...(extra.irreversible ? { irreversible: true, ...(extra.notRestored?.length ? { notRestored: extra.notRestored } : {}) } : {}),
      ...(this.delegated ? { delegate: this.delegated.name } : {}),
      ...journaledRegister(step, r, { dryRun: this.o.dryRun, withheld: noLog || this.mentionsSecret(step) }),
    };
    // a change (or a command that failed after it ran) is classified now, against the backups taken before it
    // a failure counts as a change when the step may have changed the host before it failed
    const changed = isChange(r.status, extra);
    // (a delegated step's change belongs to the other host: classified against that host's backups, and lost there)
    const backedUp = this.delegated ? this.delegated.to.backedUpRoots() : this.backedUpRoots();
    const cls = extra.applied && changed ? classifyChange({ type: step.type, stepName: step.name, ...(extra.undo ? { undo: extra.undo } : {}), withheld: withholdUndo, backedUp, ...(extra.undoable && extra.touched?.length ? { touched: extra.touched } : {}), ...(extra.writes ? { writes: extra.writes } : {}) }) : undefined;
    if (cls) {
      e.change = cls.cls;
      if (cls.notRestored.length) {
        e.notRestored = cls.notRestored;
        if (this.delegated) this.delegated.to.recordLost(cls.notRestored);
        else this.notRestored.push(...cls.notRestored);
      }
    }
    if (e.undoWithheld) this.withheld.push(`"${e.name}"`);
    if (e.undo && this.delegated) this.delegated.to.recordUndo({ step: e.step, name: e.name, type: e.type, record: e.undo, covered: [] });
    else if (e.undo) this.undos.push({ step: e.step, name: e.name, type: e.type, record: e.undo, covered: coveredBy(undoPaths(e.undo), this.backedUpRoots()) });
    this.deferred.emit(e);
    if (r.status === 'change' || (r.status === 'unknown' && !isReadOnlyStep(step))) this.pendingChanges++;
    const c = this.counts;
    if (r.status === 'failed') {
      if (ignored) c.ok++;
      else c.failed++;
    } else if (r.status === 'changed' || r.status === 'change') c.changed++;
    else if (r.status === 'skipped') c.skipped++;
    else if (r.status === 'unknown') c.unknown++;
    else c.ok++;
    return ignored ? { ...r, failed: false, facts: { ...(r.facts ?? {}), failed: true } } : r;
  }
}

/** The step's params rendered with `scope`, but for those its action renders itself (Action.lazyParams). */
function expandParams(step: StepInfo, scope: Scope): unknown {
  // an unknown type fails where the action is looked up (runAction), as before
  const lazy = getAction(step.type)?.lazyParams;
  const p = step.params;
  if (!lazy?.length || !isObject(p)) return expandDeep(p, scope);
  const now = expandDeep(Object.fromEntries(Object.entries(p).filter(([k]) => !lazy.includes(k))), scope) as Record<string, unknown>;
  for (const k of lazy) if (k in p) now[k] = p[k];
  return now;
}
