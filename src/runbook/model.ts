/** The loaded, validated runbook as the engine sees it. */
import type { Runbook, Step } from './schema-types.js';
import type { YamlDocument } from './yaml.js';

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

/** Builtin names every expression may use, besides vars and registered results. */
export const BUILTIN_NAMES = ['host', 'run', 'previous', 'inventory_hostname'] as const;

export interface StepInfo {
  /** 'steps' or 'rollback' */
  section: 'steps' | 'rollback';
  /** index within its section */
  index: number;
  /** stable id for journals and --start-at-step: `steps[3]` */
  id: string;
  name: string;
  type: ActionType;
  /** the action's parameters, templates not yet expanded */
  params: unknown;
  /** the whole step as written (when, register, loop, tags, timeout, ...) */
  raw: Step;
  /** where the step starts in the file (1-based) */
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
  steps: StepInfo[];
  rollback: StepInfo[];
  /** names of secret variables */
  secrets: Set<string>;
}
