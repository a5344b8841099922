/**
 * `shell`: a literal POSIX sh script, run as `sh -c SCRIPT sh ARGS...` so values reach it only
 * as positional parameters ($1, $2...) or env, never spliced into the script. Guards, facts and
 * round trips are those of `command` (see command.ts).
 */
import type { ShellParams } from '../runbook/schema-types.js';
import type { Action } from './types.js';
import { applyCommand, probeCommand, shellSpec, type CommandState } from './command.js';

export const shellAction: Action<ShellParams, CommandState> = {
  type: 'shell',
  readOnly: false,
  probe: async (ctx, params) => probeCommand(ctx, shellSpec(params)),
  apply: async (ctx, params, probe) => applyCommand(ctx, shellSpec(params), probe),
};

export default shellAction;
