/** What `runbook resume` hands the run (./run.ts, ./plays.ts): read from the interrupted run's journal by ./resume.ts. */
import type { RecapRow } from './events.js';
import type { Carry } from './steps.js';

export interface ResumeSpec {
  /** per host: the step ids the interrupted run journaled as done */
  done: Map<string, Set<string>>;
  /** per host: backups, undo records and losses the interrupted run journaled */
  carry: Map<string, Carry>;
  /** hosts that had finished: their recap rows as they ended */
  finishedRows: RecapRow[];
  /** the steps the interrupted run had selected (tags, --start-at-step) */
  selected: Set<string>;
}
