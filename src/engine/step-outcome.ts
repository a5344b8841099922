/** What one step left on one host: how it ended, and a change its action can reverse. */
import type { StepStatus } from './events.js';

export interface StepOutcome {
  status: StepStatus;
  /** failed and not ignored: the failure policy applies */
  hostFailed: boolean;
  message?: string;
}

/** A change a step made that its action can reverse; the same record is in the journal's step-end. */
export interface UndoEntry {
  step: string;
  name: string;
  type: string;
  record: Record<string, unknown>;
  /** the record's paths that a backup taken BEFORE this change covers (the restore puts those back) */
  covered: string[];
}
