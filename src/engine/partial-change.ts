/**
 * A step that failed part-way (the safety contract, src/engine/safety.ts): what the engine records
 * of it. An apply that threw carries the undo record of what it did (src/actions/partial.ts), or
 * says it changed nothing; anything else counts as a change, classified against the paths the
 * step acts on, so rollback never reports `rolled-back` over a change still in place.
 */
import { changedNothing, partialUndoOf } from '../actions/partial.js';
import type { ProbeResult, UndoRecord } from '../actions/types.js';
import type { StepApplyEvent, StepStatus } from './events.js';
import { undoPaths } from './step-outcome.js';

/** What finishItem needs to know about a step's change beyond its status. */
export interface ChangeFacts {
  /** the step acts on the host (not read-only) */
  applied?: boolean;
  undoable?: boolean;
  /** failed after it may have changed the host (its undo record, when it has one, is `undo`) */
  possiblyChanged?: boolean;
  /** the host paths the step acts on (its probe's), for classifying a failure without an undo record */
  touched?: string[];
  /** a step with no undo record: the host paths it may change (ProbeResult.writes) */
  writes?: string[];
}

/** The host paths a probe's state names (copy: dest; file: path; move: src and dest). */
export function statePaths(state: unknown): string[] {
  return state !== null && typeof state === 'object' ? undoPaths(state as Record<string, unknown>) : [];
}

/** What a probe says of the paths the step acts on, and may change (ChangeFacts.touched, .writes). */
export function pathFacts(probe: ProbeResult<unknown>): Pick<ChangeFacts, 'touched' | 'writes'> {
  return { touched: statePaths(probe.state), ...(probe.writes ? { writes: probe.writes } : {}) };
}

/** An apply threw `e`: whether it may have changed the host, and the undo record it left. */
export function thrownChange(e: unknown, readOnly: boolean, undoable: boolean, probe: ProbeResult<unknown>): { maybe: boolean; undo?: UndoRecord; facts: ChangeFacts } {
  const undo = readOnly ? undefined : partialUndoOf(e);
  const maybe = !readOnly && !changedNothing(e);
  return { maybe, ...(undo ? { undo } : {}), facts: { applied: !readOnly, undoable, possiblyChanged: maybe, ...pathFacts(probe) } };
}

/** Whether a step's end is a change to classify: it changed, or it failed after it may have. */
export function isChange(status: StepStatus, f: ChangeFacts): boolean {
  return status === 'changed' || (status === 'failed' && (f.undoable === false || f.possiblyChanged === true));
}

/**
 * The journal's line before a step's apply (StepApplyEvent): the paths its change may touch, as
 * finishItem would classify them, unless the step's record is withheld (no_log, a secret): then
 * rollback can only say that the step's change is unknown. None for a command whose
 * `changed_when: false` says it changes nothing (finished, it never counts as a change either).
 */
export function applyEvent(o: { host: string; step: string; name: string; type: string; item?: { item: unknown }; delegate?: string }, params: unknown, probe: ProbeResult<unknown>, undoable: boolean, withheld: boolean): StepApplyEvent | undefined {
  if (params !== null && typeof params === 'object' && (params as { changed_when?: unknown }).changed_when === false) return undefined;
  const facts = withheld ? {} : pathFacts(probe);
  return {
    kind: 'step-apply',
    host: o.host,
    step: o.step,
    name: o.name,
    type: o.type,
    ...(o.item ?? {}),
    ...(undoable && facts.touched?.length ? { touched: facts.touched } : {}),
    ...(facts.writes ? { writes: facts.writes } : {}),
    ...(o.delegate ? { delegate: o.delegate } : {}),
  };
}
