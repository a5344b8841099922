/** The loaded, validated runbook as the engine sees it. */
import type { Play, Runbook, Step } from './schema-types.js';
import type { YamlDocument } from './yaml.js';
import type { BlockFrame } from './blocks.js';

/** Step keys that name an action module (src/actions/<type>.ts). Keep in sync with the schema's step properties. */
export const ACTION_TYPES = [
  'command',
  'shell',
  'file',
  'copy',
  'move',
  'backup',
  'restore',
  'service',
  'wait_for',
  'assert',
  'fetch',
  'x509',
  'set_fact',
] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

/** Step keys the engine itself carries out (no action module): `flush_handlers` runs the notified handlers. */
export const ENGINE_STEP_TYPES = ['flush_handlers'] as const;
export type StepType = ActionType | (typeof ENGINE_STEP_TYPES)[number];

/** Builtin names every expression may use, besides vars and registered results. */
export const BUILTIN_NAMES = ['host', 'run', 'previous', 'inventory_hostname', 'hostvars', 'groups', 'play_hosts', 'ansible_play_hosts'] as const;

export interface StepInfo {
  /** 'steps', 'rollback' or 'handlers' */
  section: 'steps' | 'rollback' | 'handlers';
  /** index of its play (0 in the single-play form) */
  play: number;
  /** index within its section */
  index: number;
  /** stable id for journals and --start-at-step: `steps[3]`, or `plays[1].steps[3]` */
  id: string;
  name: string;
  type: StepType;
  /** the action's parameters, templates not yet expanded */
  params: unknown;
  /** the whole step as written (when, register, loop, tags, timeout, ...) */
  raw: Step;
  /** `become` as written on the step or its blocks (not the play's or runbook's): a delegated step uses only this */
  ownBecome?: boolean;
  /** the blocks around the step, outermost first (src/runbook/blocks.ts); absent outside blocks */
  blocks?: BlockFrame[];
  /** where the step starts in the file (1-based; past the runbook's end for an imported step: `at` is where it was written) */
  line: number;
  col: number;
  /** `file:line:col` of the step as written, in the imported file for an imported step (run-time messages) */
  at?: string;
  /** directory of the imported file the step was written in (its copy.src is relative to it); absent in the runbook itself */
  dir?: string;
}

/** One play: the single-play form is one play made of the runbook's top-level keys. */
export interface PlayInfo {
  index: number;
  name: string;
  /** the host pattern */
  hosts: string;
  /** the play's own settings, the runbook's where it has none */
  settings: Pick<Play, 'serial' | 'max_fail_percentage' | 'any_errors_fatal' | 'on_failure' | 'order_by' | 'timeout' | 'become' | 'force_handlers'>;
  /** the play's vars (over the runbook's) */
  vars: Record<string, unknown>;
  steps: StepInfo[];
  rollback: StepInfo[];
  /** run at the end of the play (or at a flush_handlers step) when notified, in this order */
  handlers: StepInfo[];
  line: number;
  col: number;
}

export interface LoadedRunbook {
  file: string;
  /** directory of the runbook file (for copy.src) */
  dir: string;
  text: string;
  sha256: string;
  doc: YamlDocument;
  runbook: Runbook;
  /** every play's steps, in order */
  steps: StepInfo[];
  /** every play's rollback steps, in play order */
  rollback: StepInfo[];
  /** the plays, in order (one in the single-play form) */
  plays: PlayInfo[];
  /** whether the runbook is written with `plays:` */
  multiPlay: boolean;
  /** the hosts any play may run on: `hosts`, or the plays' patterns joined */
  hostsPattern: string;
  /** names of secret variables */
  secrets: Set<string>;
}
