/**
 * Two small per-host computations of the play loop (src/engine/plays.ts): a play's `order_by`
 * (the order its hosts run and are cut into batches in) and a host's time to recover.
 */
import { messageOf } from '../errors.js';
import { evaluate, type Scope } from '../runbook/expressions.js';

type Key = number | string;

function sortKey(v: unknown): Key {
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return Number(v); // CEL integers
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new Error(`the value is ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v}, not a number or a string`);
}

/**
 * The hosts sorted ascending by `expression` on each one's scope; stable (inventory order on ties).
 * A host whose value cannot be computed goes last, reported through `warn`; numbers sort before strings.
 */
export function orderHosts<T>(hosts: T[], expression: string, scopeOf: (h: T) => Scope, warn: (h: T, message: string) => void): T[] {
  const keyed = hosts.map((h, i) => {
    try {
      return { h, i, key: sortKey(evaluate(expression, scopeOf(h))) as Key | undefined };
    } catch (e) {
      warn(h, messageOf(e));
      return { h, i, key: undefined };
    }
  });
  const rank = (k: Key | undefined) => (k === undefined ? 2 : typeof k === 'number' ? 0 : 1);
  keyed.sort((a, b) => rank(a.key) - rank(b.key) || (a.key! < b.key! ? -1 : a.key! > b.key! ? 1 : 0) || a.i - b.i);
  return keyed.map((x) => x.h);
}

/** From the start of a host's first change to the end of its last successful `verifies` step after it. */
export function timeToRecover(firstChangeAt: number | undefined, verifiedAt: number | undefined): number | undefined {
  if (firstChangeAt === undefined || verifiedAt === undefined || verifiedAt < firstChangeAt) return undefined;
  return verifiedAt - firstChangeAt;
}
