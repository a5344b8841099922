/**
 * A step's own `vars:` (written on it, or on the block or import around it): set in the host's
 * scope, expanded with that scope, for the step only, then put back as they were. A value that
 * cannot be expanded (in a plan: it reads a result a dry run cannot know) is left unset; the step
 * then names it and reports why.
 */
import { expandDeep, type Scope } from '../runbook/expressions.js';
import type { StepInfo } from '../runbook/model.js';

export async function withStepVars<T>(scope: Scope, step: Pick<StepInfo, 'raw'>, run: () => Promise<T>): Promise<T> {
  const vars = step.raw.vars;
  if (!vars || Object.keys(vars).length === 0) return run();
  const before = new Map<string, { had: boolean; value: unknown }>();
  for (const [k, v] of Object.entries(vars)) {
    let value: unknown;
    try {
      value = expandDeep(v, scope);
    } catch {
      continue;
    }
    if (!before.has(k)) before.set(k, { had: k in scope, value: scope[k] });
    scope[k] = value;
  }
  try {
    return await run();
  } finally {
    for (const [k, b] of before) {
      if (b.had) scope[k] = b.value;
      else delete scope[k];
    }
  }
}
