/**
 * A step that failed part-way (the safety contract, src/engine/safety.ts): what the engine records
 * of it. An apply that threw carries the undo record of what it did (src/actions/partial.ts), or
 * says it changed nothing; anything else counts as a change, classified against the paths the
 * step acts on, so rollback never reports `rolled-back` over a change still in place.
 */
import { changedNothing, partialUndoOf } from '../actions/partial.js';
import type { ProbeResult, UndoRecord } from '../actions/types.js';
import type { StepStatus } from './events.js';
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
