/**
 * An apply that throws part-way: what the engine must know about what it had already done (the
 * safety contract, src/engine/safety.ts). An action that fails after it may have changed the host
 * throws with the undo record built so far (`failedAfterChange`): rollback reverses it like any
 * change. One that fails before it changed anything says so (`failedUnchanged`). Anything else an
 * apply throws is taken as "may have changed the host, nobody knows how": never as unchanged.
 */
import { messageOf } from '../errors.js';
import type { UndoRecord } from './types.js';

const UNDO = Symbol('runbook.partialUndo');
const UNCHANGED = Symbol('runbook.failedUnchanged');

type Marked = Error & { [UNDO]?: UndoRecord; [UNCHANGED]?: boolean };

function asError(e: unknown): Marked {
  return (e instanceof Error ? e : new Error(messageOf(e))) as Marked;
}

/** The error, carrying the undo record of what the apply did before it failed. */
export function failedAfterChange(e: unknown, undo: UndoRecord): Error {
  const err = asError(e);
  err[UNDO] ??= undo; // the innermost (first) record is the state before the step
  delete err[UNCHANGED];
  return err;
}

/** The error, saying the apply failed before it changed anything on the host. */
export function failedUnchanged(e: unknown): Error {
  const err = asError(e);
  if (err[UNDO] === undefined) err[UNCHANGED] = true;
  return err;
}

/** The undo record a failed apply left on its error, if any. */
export function partialUndoOf(e: unknown): UndoRecord | undefined {
  return e instanceof Error ? (e as Marked)[UNDO] : undefined;
}

/** Whether the failed apply said it changed nothing (otherwise it may have). */
export function changedNothing(e: unknown): boolean {
  return e instanceof Error && (e as Marked)[UNCHANGED] === true && (e as Marked)[UNDO] === undefined;
}

/** Copy what `from` says about the apply's changes onto `to` (a timeout error reporting a failed apply). */
export function carryMarks(from: unknown, to: Error): Error {
  const undo = partialUndoOf(from);
  if (undo) return failedAfterChange(to, undo);
  if (changedNothing(from)) return failedUnchanged(to);
  return to;
}
