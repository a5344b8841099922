/**
 * `set_fact`: the parameters (templates already expanded by the engine) become facts of this host.
 * Read-only, no round trip; probe returns the facts too, so a dry run knows them.
 */
import type { SetFactParams } from '../runbook/schema-types.js';
import type { Action } from './types.js';
import { stepError } from './util.js';

function factsOf(params: SetFactParams): Record<string, unknown> {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) throw stepError('set_fact: expected a map of names to values');
  return { ...params };
}

export const setFactAction: Action<SetFactParams, undefined> = {
  type: 'set_fact',
  readOnly: true,
  async probe(_ctx, params) {
    const facts = factsOf(params);
    return { status: 'ok', commands: [], summary: `sets ${Object.keys(facts).join(', ')}`, state: undefined, facts };
  },
  async apply(_ctx, params) {
    return { changed: false, commands: [], facts: factsOf(params) };
  },
};

export default setFactAction;
