/** Step key → Action. The keys are the schema's step types (ACTION_TYPES in src/runbook/model.ts). */
import type { ActionType } from '../runbook/model.js';
import type { Action } from './types.js';
import { assertAction } from './assert.js';
import { backupAction } from './backup.js';
import { commandAction } from './command.js';
import { copyAction } from './copy.js';
import { fetchAction } from './fetch.js';
import { fileAction } from './file.js';
import { moveAction } from './move.js';
import { restoreAction } from './restore.js';
import { serviceAction } from './service.js';
import { setFactAction } from './set_fact.js';
import { shellAction } from './shell.js';
import { waitForAction } from './wait_for.js';
import { x509Action } from './x509.js';

// Params are checked by the schema before they reach an action; the registry hands them on as unknown.
type AnyAction = Action<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ACTIONS: Record<ActionType, AnyAction> = {
  command: commandAction,
  shell: shellAction,
  file: fileAction,
  copy: copyAction,
  move: moveAction,
  backup: backupAction,
  restore: restoreAction,
  service: serviceAction,
  wait_for: waitForAction,
  assert: assertAction,
  fetch: fetchAction,
  x509: x509Action,
  set_fact: setFactAction,
};

/** Every step type with an action module, in schema order. */
export const actionTypes: readonly ActionType[] = Object.keys(ACTIONS) as ActionType[];

/** The Action for a step key; undefined for an unknown key. */
export function getAction(type: string): Action<unknown, unknown> | undefined {
  return Object.prototype.hasOwnProperty.call(ACTIONS, type) ? (ACTIONS[type as ActionType] as Action<unknown, unknown>) : undefined;
}

export { restoreFromManifest } from './restore.js';
export { commandSpec, shellSpec, hasGuard } from './command.js';
