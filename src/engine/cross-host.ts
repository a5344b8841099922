/**
 * What a host's runner needs from the other hosts of the run: `delegate_to` (another host's
 * connection, and that host's list of changes to undo) and `run_once` (one result per batch).
 * The play orchestrator (plays.ts) provides both.
 */
import type { Transport } from '../transport/types.js';
import type { StepOutcome, UndoEntry } from './step-outcome.js';

export interface Delegate {
  transport: Transport;
  /** a change made there is that host's to undo (rollback of that host, or `runbook rollback ID`) */
  recordUndo(entry: UndoEntry): void;
  /** the paths that host's backups taken so far hold (what a change made there now is covered by) */
  backedUpRoots(): string[] | undefined;
  /** what a change made there leaves that host's rollback unable to put back */
  recordLost(notRestored: string[]): void;
}

/** What a run_once step gave, for the other hosts of the batch to register. */
export interface OnceResult {
  ranOn: string;
  outcome: StepOutcome;
  value: Record<string, unknown> | undefined;
  uncertain: boolean;
  /** the host that was to run it left the play before reaching it: ask for the slot again */
  orphaned?: boolean;
}

export interface OnceSlot {
  /** this host runs the step (the first host of the batch, or the next one when that one left the play before it) and must call resolve */
  first: boolean;
  result: Promise<OnceResult>;
  resolve(r: OnceResult): void;
}
