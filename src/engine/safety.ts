/**
 * The safety contract in one place: which steps are read-only, and how every change a step makes
 * is classified when it is made —
 *  - covered: a backup taken before it holds the paths it changed (the restore puts them back);
 *  - reversible: its undo record carries what is needed to put the host back exactly;
 *  - irreversible: nothing rollback has can put it back (a removed tree over the keep limit, a
 *    private file overwritten with no backup covering it, a command that declares no `writes:` or
 *    writes where no backup taken before it reaches: a backup covers only the paths it copied).
 * A host that fails after an irreversible change ends `failed (not restored: …)`, never `rolled-back`.
 */
import type { Action, ProbeResult } from '../actions/types.js';
import { getAction } from '../actions/registry.js';
import type { StepInfo } from '../runbook/model.js';
import { coveredBy, undoPaths } from './step-outcome.js';
import type { ChangeClass, EventSink } from './events.js';

/**
 * Read-only by contract: the step's action never changes a host (its `readOnly` flag is the one
 * source: x509, assert, set_fact, wait_for, and fetch, which writes on the operator's machine
 * only, so no backup need be taken before it), or the step declares itself so (`read_only: true`
 * in a command/shell's parameters). The one definition the engine (backup order, plan's pending
 * changes, change classes), validate and plan use.
 */
export function isReadOnlyStep(step: Pick<StepInfo, 'type' | 'params'>, action: Pick<Action, 'readOnly'> | undefined = getAction(step.type)): boolean {
  const p = step.params;
  if ((step.type === 'command' || step.type === 'shell') && p !== null && typeof p === 'object' && (p as { read_only?: unknown }).read_only === true) return true;
  return action?.readOnly === true;
}

/** Whether apply would act on the host after this probe (a quiet command still runs). */
export function applyActs(probe: ProbeResult<unknown>): boolean {
  return probe.status !== 'ok' || probe.acts === true;
}

/** Step types whose changes leave no data behind to restore (a service's state is undone from its record, a restart needs nothing). */
const STATE_ONLY = new Set(['service']);
/** Changes made on the operator's machine, not on the host. */
const LOCAL_SIDE = new Set(['fetch', 'backup']);

export interface ChangeInput {
  type: string;
  stepName: string;
  /** the undo record, also when withheld from the journal */
  undo?: Record<string, unknown>;
  withheld: boolean;
  /** paths the backups taken so far copied; undefined when a backup did not say (all covered) */
  backedUp: string[] | undefined;
  /** a step with an undo that failed before it made its record: the paths it acts on (its probe's) */
  touched?: string[];
  /** a step with no undo record: the host paths it may change (ProbeResult.writes; a command's `writes:`) */
  writes?: string[];
}

export interface Classified {
  cls: ChangeClass;
  /** what rollback cannot put back (paths, or a step's description when its paths are unknown) */
  notRestored: string[];
}

const covered = (p: string, roots: string[] | undefined) => coveredBy([p], roots).length > 0;

/** Classify one change (a step that reported `changed`, or one that failed after it may have changed the host). */
export function classifyChange(c: ChangeInput): Classified | undefined {
  if (LOCAL_SIDE.has(c.type) || getAction(c.type)?.readOnly === true) return undefined;
  if (c.undo) {
    const paths = undoPaths(c.undo);
    const lost = Array.isArray(c.undo.lost) ? c.undo.lost.filter((p): p is string => typeof p === 'string') : [];
    const allCovered = paths.length > 0 && paths.every((p) => covered(p, c.backedUp));
    if (c.withheld) {
      // no record in the journal: only a backup can put these paths back
      return allCovered ? { cls: 'covered', notRestored: [] } : { cls: 'irreversible', notRestored: paths.filter((p) => !covered(p, c.backedUp)) };
    }
    const notRestored = lost.filter((p) => !covered(p, c.backedUp));
    if (notRestored.length) return { cls: 'irreversible', notRestored };
    return { cls: allCovered ? 'covered' : 'reversible', notRestored: [] };
  }
  if (STATE_ONLY.has(c.type)) return { cls: 'reversible', notRestored: [] };
  // no record of what it did (a command; a restore; a step that failed before it made its record):
  // only backups holding every path it may change stand for it
  const paths = c.writes ?? (c.touched?.length ? c.touched : undefined);
  if (paths) {
    const lost = paths.filter((p) => !covered(p, c.backedUp));
    return lost.length ? { cls: 'irreversible', notRestored: lost } : { cls: 'covered', notRestored: [] };
  }
  // what it changed is unknown: no backup can be said to hold it, however many were taken before
  return { cls: 'irreversible', notRestored: [unknownChange(c.stepName, c.type)] };
}

/**
 * A step the runner died while applying (a step-apply with no step-end in the journal): what
 * rollback cannot put back of it. It made no undo record, so only backups holding every path it
 * may change stand for it; one whose paths are unknown, or withheld, is reported as such.
 */
export function interruptedChange(c: Omit<ChangeInput, 'undo' | 'withheld'>): string[] {
  const r = classifyChange({ ...c, withheld: false });
  if (!r) return [];
  return r.cls === 'reversible' ? [unknownChange(c.stepName, c.type)] : r.notRestored;
}

/** What rollback cannot put back of a step whose changed paths are unknown. */
function unknownChange(stepName: string, type: string): string {
  return `what step "${stepName}" (${type}) changed`;
}

/** The recap message of a host that failed with changes rollback could not put back. */
export function notRestoredMessage(failure: string, notRestored: string[]): string {
  return `${failure}; not restored: ${[...new Set(notRestored)].join(', ')}`;
}

/** Steps whose changed paths only their `writes:` can tell: without it no backup covers them. */
export const DECLARED_WRITES: ReadonlySet<string> = new Set(['command', 'shell']);

/** Dry run: what the plan so far does on a host, carried from play to play. */
export interface PlannedSoFar {
  /** backups the plan takes, and the paths they copy (what a later change may be covered by) */
  backups: number;
  roots: string[];
  /** the paths of the changes planned (later steps on them are probed before those changes) */
  paths: string[];
}

export interface PlannedChange {
  type: string;
  /** the step would (or may) change the host */
  changes: boolean;
  hasUndo: boolean;
  /** the probe's ProbeResult.writes */
  writes: string[] | undefined;
  /** the paths of the backups the plan takes before it */
  plannedRoots: string[];
  backupsBefore: number;
}

/**
 * Plan: what of this change rollback could not put back (`[]`: what, is unknown), or undefined
 * when it could put it all back. A step with no undo (a command, a restore) whose paths are not
 * all under a backup the plan takes before it; a command that declares no `writes:`, whatever the
 * backups. (How much a `file: absent` would remove is known only when it runs.)
 */
export function irreversibleInPlan(p: PlannedChange): string[] | undefined {
  if (!p.changes || p.hasUndo || STATE_ONLY.has(p.type) || LOCAL_SIDE.has(p.type)) return undefined;
  if (p.writes) {
    const lost = p.writes.filter((w) => !covered(w, p.plannedRoots));
    return lost.length ? lost : undefined;
  }
  return DECLARED_WRITES.has(p.type) || p.backupsBefore === 0 ? [] : undefined;
}

/** Whether a host's run so far changed anything rollback would put back (an aborted host is rolled back only then). */
export function changedAnything(r: { counts: { changed: number }; backups: string[]; undos: unknown[]; notRestored: string[] }): boolean {
  return r.counts.changed > 0 || r.backups.length > 0 || r.undos.length > 0 || r.notRestored.length > 0;
}

/** A lock that could not be released: a warning for the recap (the next run would find it held). */
export function lockWarning(host: string, lockPath: string, e: unknown, sink: EventSink): string {
  const message = `the lock ${lockPath} could not be released: ${e instanceof Error ? e.message : String(e)} (the next run will find it held: check, then --break-lock)`;
  sink.emit({ kind: 'warning', host, message });
  return message;
}

/** Kept copies (src/actions/keep.ts) go beside the host's lock: the run can write there. */
export function keepRootFor(lockPath: string): string {
  return `${lockPath.slice(0, lockPath.lastIndexOf('/')) || ''}/kept`;
}
