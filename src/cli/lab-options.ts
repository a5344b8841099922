/** What `runbook lab` (./lab.ts) and its commands (./lab-commands.ts) share. */
export const DEFAULT_LAB_DIR = '.runbook/lab';

export interface LabUpOptions {
  count: number;
  dir?: string;
  scenario?: string;
  /** with scenario: host 1 is the control plane, the others are its workers in this worker scenario */
  workers?: string;
  firstAddress?: string;
  port?: number;
  stdout?: NodeJS.WritableStream;
}
