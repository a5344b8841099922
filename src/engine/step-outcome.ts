/** What one step left on one host: how it ended, and a change its action can reverse. */
import { isWithin } from '../actions/util.js';
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

/** The host paths an undo record names (copy: dest; file: path; move: src and dest). */
export function undoPaths(record: Record<string, unknown>): string[] {
  return ['path', 'dest', 'src'].map((k) => record[k]).filter((v): v is string => typeof v === 'string');
}

/** Which of `paths` lie under one of `roots`; every path when the roots are unknown (an older journal). */
export function coveredBy(paths: string[], roots: string[] | undefined): string[] {
  if (roots === undefined) return paths;
  return paths.filter((p) => roots.some((r) => isWithin(p, r)));
}
