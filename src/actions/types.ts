import type { Transport } from '../transport/types.js';
import type { DiffRequest, FileDiff } from './diff.js';

/** What a probe says about a step on one host. */
export type ProbeStatus = 'ok' | 'change' | 'skip' | 'unknown';

export interface StepContext {
  transport: Transport;
  /** inventory name of the host */
  hostName: string;
  runId: string;
  /** true during plan / --dry-run: apply() is never called, probes must not write */
  dryRun: boolean;
  /** directory on the operator's machine (for fetch) */
  localDir: string;
  /** per-step timeout in ms, when the runbook sets one */
  timeoutMs?: number;
  /**
   * Evaluate a CEL expression (changed_when, failed_when, assert) against this host's
   * variables plus `extra` (e.g. `{ result }`). Throws UserError kind 'expression'.
   */
  evaluate(expression: string, extra?: Record<string, unknown>): unknown;
  /** Render a template (`{{ }}`) against this host's variables, as the engine renders params. Throws UserError. */
  render(template: string): unknown;
  /** directory of the runbook file, for resolving `copy.src` on the operator's machine */
  runbookDir: string;
  /** where on the host steps keep what they destroy, for their undo (default /var/lib/runbook/kept) */
  keepRoot?: string;
  /** `--diff`: probes of steps that write files also say how (read-only reads of the current content) */
  diff?: DiffRequest;
}

export interface ProbeResult<State = unknown> {
  status: ProbeStatus;
  /** display form of the exact commands apply would run (secrets as ***) */
  commands: string[];
  /** one line for the operator: why ok / what would change */
  summary?: string;
  /** what the probe saw, handed to apply so it need not look again */
  state: State;
  /** facts known without changing anything (x509, set_fact, assert...): registered in dry-run too */
  facts?: Record<string, unknown>;
  /** apply still runs something although the status is ok (a command with changed_when: false) */
  acts?: boolean;
  /** structured, non-secret result for reporters (x509: the certificates), carried on step-end */
  report?: Record<string, unknown>;
  /** `--diff`: what the step would do to a file (./diff.ts) */
  diff?: FileDiff;
  /**
   * The host paths apply may change, for a step with no undo record: a command's declared
   * `writes:` (none under `changed_when: false`), a restore's units. Its change counts as covered
   * only when a backup taken before it holds every one (src/engine/safety.ts); absent: unknown.
   */
  writes?: string[];
}

/**
 * JSON-serialisable record that undo() can reverse; written to the journal. `lost`, when set,
 * lists the paths whose previous state the record cannot bring back (only a backup can).
 */
export type UndoRecord = Record<string, unknown> & { lost?: string[] };

export interface ApplyResult {
  changed: boolean;
  /** the step failed (non-zero exit, failed_when, assertion...) */
  failed?: boolean;
  message?: string;
  /** display form of the commands that ran */
  commands: string[];
  /** registered under `register:` */
  facts?: Record<string, unknown>;
  undo?: UndoRecord;
}

/**
 * The step contract. Parameters arrive with templates already expanded.
 * Idempotency: after a successful apply, probe() reports 'ok'.
 */
export interface Action<Params = Record<string, unknown>, State = unknown> {
  /** step key in YAML, e.g. `copy` */
  readonly type: string;
  /** true when the step never changes a host: the one source of "read-only" (src/engine/safety.ts isReadOnlyStep) */
  readonly readOnly: boolean;
  /**
   * Params the engine passes as written, for the action to render (ctx.render) only when it needs
   * them: assert's fail_msg, which only a failing assertion shows (a fleet's passing hosts would
   * each evaluate a message nobody reads).
   */
  readonly lazyParams?: readonly string[];
  probe(ctx: StepContext, params: Params): Promise<ProbeResult<State>>;
  apply(ctx: StepContext, params: Params, probe: ProbeResult<State>): Promise<ApplyResult>;
  undo?(ctx: StepContext, record: UndoRecord): Promise<void>;
}
