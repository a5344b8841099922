/** What the checker says about a name the runbook defines somewhere, but not where it is used. */
export interface NameSources {
  /** names declared only under some play's vars */
  playVarNames: ReadonlySet<string>;
  /** names declared under some step's (or block's) vars */
  stepVarNames: ReadonlySet<string>;
  /** names some step registers or set_facts */
  provided: ReadonlySet<string>;
}

/** The hint for `name`, defined in the runbook but not seen at this point. */
export function unseenNameHint(name: string, s: NameSources): string {
  if (name === 'item') return '`item` exists only in a step with `loop:`';
  if (name === 'result') return '`result` exists only in changed_when and failed_when';
  if (!s.provided.has(name)) {
    if (s.playVarNames.has(name)) return `\`${name}\` is a var of another play; a play's vars are its own, declare it under the runbook's vars to share it`;
    if (s.stepVarNames.has(name)) return `\`${name}\` is a step's var: only that step (and its block's steps) sees it, and a step's vars cannot use each other; declare it under the runbook's vars, or write its expression out here`;
  }
  return `\`${name}\` is registered by a later step; steps see only what earlier steps registered`;
}
