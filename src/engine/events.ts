/**
 * The typed event union the engine emits. Reporters (listr2 tree, plain lines, JSON lines) and
 * the journal subscribe; src/report/format.ts has one formatter per kind, checked by the compiler.
 * Every event is redacted (secrets as ***) before anyone sees it.
 */
import type { FileDiff } from '../actions/diff.js';

export type RunMode = 'plan' | 'apply' | 'rollback';

/** How rollback can put a change back (classified by src/engine/safety.ts classifyChange). */
export type ChangeClass = 'covered' | 'reversible' | 'irreversible';

/** How one step ended on one host. Plan uses ok | change | skip | unknown | failed. */
export type StepStatus = 'ok' | 'changed' | 'change' | 'skipped' | 'unknown' | 'failed';

/** `aborted`: stopped between steps because another host failed (any_errors_fatal, max_fail_percentage). */
export type HostStatus = 'ok' | 'failed' | 'unreachable' | 'rolled-back' | 'rollback-failed' | 'not-run' | 'aborted';

export interface HostCounts {
  ok: number;
  changed: number;
  failed: number;
  skipped: number;
  unknown: number;
}

export interface RecapRow extends HostCounts {
  host: string;
  status: HostStatus;
  /** 1 when the host could not be reached (recap column) */
  unreachable: number;
  message?: string;
  /** things the operator must know although the host finished (a lock not released) */
  warnings?: string[];
  /** apply: from the start of its first change to the end of its last successful `verifies` step */
  timeToRecoverMs?: number;
}

export interface RunbookRef {
  file: string;
  name: string;
  sha256: string;
  git?: { commit: string; dirty: boolean };
}

/** What names a host wherever runs meet it: its inventory name, and the address and port it is reached at. */
export interface HostRef {
  name: string;
  address: string;
  port: number;
}

export interface InventoryHostRef extends HostRef {
  user?: string;
  connection: 'ssh' | 'local';
  become: boolean;
  privateKeyFile?: string;
  knownHostsFile?: string;
  groups: string[];
  vars: Record<string, unknown>;
}

export interface RunStartEvent {
  kind: 'run-start';
  runId: string;
  mode: RunMode;
  dryRun: boolean;
  time: string;
  operator: string;
  pid: number;
  runbook: RunbookRef;
  inventory: { file?: string; hosts: InventoryHostRef[] };
  /** -e values (redacted) */
  extraVars: Record<string, unknown>;
  /** connection options given on the command line, to reconnect for `runbook rollback ID` */
  connection: ConnectionRef;
  steps: { id: string; name: string; type: string }[];
  /** for rollback: the run being rolled back */
  target?: string;
  /** `--slice K/N`: this run is one slice of a logical run made of N */
  slice?: SliceRef;
}

export interface SliceRef {
  /** 1-based */
  index: number;
  count: number;
  /** the logical run the slices share (`runbook history --group`) */
  group: string;
  /** how many hosts were selected before slicing */
  of: number;
}

export interface ConnectionRef {
  acceptNew?: boolean;
  knownHosts?: string;
  privateKey?: string;
  user?: string;
  become?: boolean;
  becomeUser?: string;
  /** -J: the bastions the hosts were reached through */
  jump?: string;
  /** what ansible.cfg and ANSIBLE_* contributed (no password): a rollback from elsewhere connects the same way */
  ansible?: Record<string, string | number | boolean>;
}

/** A play begins (runbooks written with `plays:`): its hosts, those that have not failed before it. */
export interface PlayStartEvent {
  kind: 'play-start';
  /** 1-based */
  index: number;
  count: number;
  name: string;
  /** in the order they run (order_by) */
  hosts: string[];
  /** how a failure is handled, when it reaches beyond the failing host (rollback_all) */
  onFailure?: 'rollback_all';
}

export interface BatchStartEvent {
  kind: 'batch-start';
  index: number;
  count: number;
  hosts: string[];
}

export interface BatchEndEvent {
  kind: 'batch-end';
  index: number;
  failed: number;
  /** more than max_fail_percentage failed: no new batch starts */
  aborted: boolean;
  message?: string;
}

export interface HostStartEvent {
  kind: 'host-start';
  host: string;
}

export interface HostConnectedEvent {
  kind: 'host-connected';
  host: string;
  ms: number;
}

export interface HostUnreachableEvent {
  kind: 'host-unreachable';
  host: string;
  errorKind: string;
  message: string;
}

export interface StepStartEvent {
  kind: 'step-start';
  host: string;
  step: string;
  name: string;
  /** 1-based position among the run's steps, and how many */
  index: number;
  total: number;
  item?: unknown;
}

/**
 * A step is about to change the host: journaled before its apply starts, so a run killed during
 * the apply leaves a step-apply with no step-end, and rollback can say what that step may have
 * changed (rollback.ts hostsFromJournal) instead of not knowing the step ran.
 */
export interface StepApplyEvent {
  kind: 'step-apply';
  host: string;
  step: string;
  name: string;
  type: string;
  item?: unknown;
  /** the paths the step acts on (its probe's), for a step with an undo (a copy, a move, a file) */
  touched?: string[];
  /** the host paths it may change, when it declares them (a command's `writes:`) */
  writes?: string[];
  /** delegate_to: the host the change is made on */
  delegate?: string;
}

export interface StepEndEvent {
  kind: 'step-end';
  host: string;
  step: string;
  name: string;
  type: string;
  index: number;
  total: number;
  status: StepStatus;
  item?: unknown;
  /** display form of the commands (planned, or that ran) */
  commands: string[];
  summary?: string;
  /** structured, non-secret result of a read-only step (x509: the certificates), for `runbook report` */
  report?: Record<string, unknown>;
  /** `--diff`: what the step does (would do) to a file, redacted (src/actions/diff.ts) */
  diff?: FileDiff;
  message?: string;
  durationMs: number;
  /** backup directory a `backup` step made (rollback restores from it) */
  backupDir?: string;
  /** the paths that backup copied: rollback refuses a manifest naming any other root */
  backupPaths?: string[];
  undo?: Record<string, unknown>;
  /** the step changed something but its undo record was kept out (no_log, or it uses a secret) */
  undoWithheld?: boolean;
  /** failure ignored with ignore_errors */
  ignored?: boolean;
  /** how rollback can put this change back (src/engine/safety.ts); absent for no change */
  change?: ChangeClass;
  /** an irreversible change: what rollback cannot put back */
  notRestored?: string[];
  /** plan: this step would make a change rollback cannot put back */
  irreversible?: boolean;
  /** delegate_to: the host the step ran on (its undo record is that host's) */
  delegate?: string;
  /** a step with `register:` (or set_fact): this item's result, for `runbook resume` to rebuild the variable */
  registered?: Record<string, unknown>;
  /** its result was kept out of the journal (no_log, a secret, too large): resume runs it again if read-only */
  registeredWithheld?: boolean;
}

export interface HostEndEvent {
  kind: 'host-end';
  host: string;
  status: HostStatus;
  counts: HostCounts;
  message?: string;
  durationMs: number;
  /** as in its recap row */
  timeToRecoverMs?: number;
}

export interface RollbackStartEvent {
  kind: 'rollback-start';
  host: string;
  reason: string;
  backups: string[];
}

export interface RestoreEvent {
  kind: 'restore';
  host: string;
  dir: string;
  changed: boolean;
  restored: string[];
  removed: string[];
  commands: string[];
  dryRun: boolean;
  /** dry run: what differs from the backup */
  differences?: string[];
}

/** rollback reversed one step's change from its undo record (a change no backup covers) */
export interface UndoEvent {
  kind: 'undo';
  host: string;
  /** the original step's id and name */
  step: string;
  name: string;
  type: string;
  changed: boolean;
  dryRun: boolean;
  /** the record undone (a later `runbook rollback ID` skips what is already undone) */
  record: Record<string, unknown>;
  message?: string;
}

export interface RollbackEndEvent {
  kind: 'rollback-end';
  host: string;
  ok: boolean;
  message?: string;
}

export interface WarningEvent {
  kind: 'warning';
  host?: string;
  message: string;
}

export interface RunEndEvent {
  kind: 'run-end';
  runId: string;
  mode: RunMode;
  time: string;
  durationMs: number;
  exitCode: number;
  /** plan: some step would change (or cannot be known) */
  changesPending: boolean;
  recap: RecapRow[];
  aborted?: string;
}

export type Event =
  | RunStartEvent
  | PlayStartEvent
  | BatchStartEvent
  | BatchEndEvent
  | HostStartEvent
  | HostConnectedEvent
  | HostUnreachableEvent
  | StepStartEvent
  | StepApplyEvent
  | StepEndEvent
  | HostEndEvent
  | RollbackStartEvent
  | RestoreEvent
  | UndoEvent
  | RollbackEndEvent
  | WarningEvent
  | RunEndEvent;

export type EventKind = Event['kind'];
export type EventOf<K extends EventKind> = Extract<Event, { kind: K }>;

/** Anyone who wants events: reporters, the journal, collectors in tests. */
export interface EventSink {
  emit(e: Event): void;
}

export function emptyCounts(): HostCounts {
  return { ok: 0, changed: 0, failed: 0, skipped: 0, unknown: 0 };
}
