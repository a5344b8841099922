/**
 * What running a step needs around its action: the action module for a type, a transport with
 * or without sudo, and an error's text for the operator.
 */
import { isUserError, messageOf, userError } from '../errors.js';
import type { Action } from '../actions/types.js';
import { getAction } from '../actions/registry.js';
import type { ExecOptions, Transport } from '../transport/types.js';
import type { StepInfo } from '../runbook/model.js';

/** The host's transport with every operation through sudo (or not), whatever the host's default. */
export function withBecome(t: Transport, become: boolean, user: string | undefined): Transport {
  if (t.withBecome) return t.withBecome(become ? (user ? { user } : {}) : false);
  return {
    host: t.host,
    exec: (argv, o?: ExecOptions) => t.exec(argv, { become, ...(o ?? {}) }),
    read: (p) => t.read(p),
    writeAtomic: (p, d, o) => t.writeAtomic(p, d, o),
    stat: (p) => t.stat(p),
    close: () => t.close(),
  };
}

/** An error's message and hint; an expression's failure in a step says where the step is written. */
export function errorText(e: unknown, step?: Pick<StepInfo, 'at'>): string {
  if (isUserError(e)) {
    const d = e.diagnostic;
    const at = step?.at && (d.kind === 'expression' || d.kind === 'undefined-variable') ? `, in the step at ${step.at}` : '';
    return `${d.message}${at}${d.hint ? ` (${d.hint})` : ''}`;
  }
  return messageOf(e);
}

/** The action module for a step type (the registry, src/actions/registry.ts). */
export function actionFor(type: string): Action<unknown, unknown> {
  const a = getAction(type);
  if (!a) throw userError('internal', `no action module for step type \`${type}\``);
  return a;
}
