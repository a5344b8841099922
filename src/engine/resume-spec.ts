/** What `runbook resume` hands the run (./run.ts, ./plays.ts): read from the interrupted run's journal by ./resume.ts. */
import type { RecapRow } from './events.js';
import type { Carry } from './steps.js';
import type { JournaledItem } from './step-results.js';
import type { PendingNotifications } from './resume-handlers.js';

export interface ResumeSpec {
  /** per host: the step ids the interrupted run journaled as done */
  done: Map<string, Set<string>>;
  /** per host: backups, undo records and losses the interrupted run journaled */
  carry: Map<string, Carry>;
  /** hosts that had finished: their recap rows as they ended */
  finishedRows: RecapRow[];
  /** the steps the interrupted run had selected (tags, --start-at-step) */
  selected: Set<string>;
  /**
   * per host and step journaled as done: its items as they ended, with what each registered
   * (`withheld` when any item's result was kept out of the journal: no_log, a secret)
   */
  registered: Map<string, Map<string, JournaledItem[] | 'withheld'>>;
  /** per host: the handlers done steps had notified and the interrupted run had not run yet (./resume-handlers.ts) */
  notified?: PendingNotifications;
}
