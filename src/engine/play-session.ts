/** One host's state across a run's plays, and the small helpers over it that src/engine/plays.ts uses. */
import type { HostEntry, Inventory } from '../inventory/types.js';
import { Lazy, type Scope } from '../runbook/expressions.js';
import type { Transport } from '../transport/types.js';
import type { HostCounts, HostStatus, RecapRow } from './events.js';
import type { HostRunner, UndoEntry } from './steps.js';

/** One host across the run's plays. */
export interface Session {
  entry: HostEntry;
  started: number;
  transport?: Transport;
  locked: boolean;
  status: HostStatus;
  message?: string;
  counts: HostCounts;
  pendingChanges: number;
  /** the runner of its latest play (carries backups, undo records, uncertain names) */
  runner?: HostRunner;
  /** what its steps registered or set, kept for later plays */
  facts: Scope;
  /** the variables other hosts see through hostvars */
  current: Scope;
  plays: number[];
  /** failed or unreachable: no later play */
  out: boolean;
  /** changes other hosts' steps delegated to it made before it ran a play of its own */
  delegatedUndos: UndoEntry[];
  /** what those changes leave its rollback unable to put back */
  delegatedLost: string[];
  /** its lock was refused (held by another run): never used again, not even as a delegate */
  refused?: boolean;
  finished: boolean;
  row?: RecapRow;
  /** for the recap although the host finished (a lock not released) */
  warnings: string[];
  /** its rollback ran (on its failure, its abort, or rollback_all's sweep): never twice */
  rolledBack?: boolean;
  /** time to recover: when its first change started, and when its last `verifies` step ended */
  firstChangeAt?: number;
  verifiedAt?: number;
  /** the runner of an earlier play whose backups are still deferred (taken before the next change) */
  pendingFrom?: HostRunner;
}

export function addCounts(a: HostCounts, b: HostCounts): void {
  // keys of b: a runner's counts may carry `rescued` (src/engine/blocks.ts), which the recap row keeps
  for (const k of Object.keys(b) as (keyof HostCounts)[]) a[k] = (a[k] ?? 0) + b[k];
}

/** A scope without its Lazy values (hostvars of hostvars would be circular). */
export function plain(scope: Scope): Scope {
  return Object.fromEntries(Object.entries(scope).filter(([, v]) => !(v instanceof Lazy)));
}

/** The run's hosts as an inventory of their own, for selecting each play's hosts among them. */
export function runInventory(hosts: HostEntry[]): Inventory {
  const groups = new Map<string, Set<string>>();
  for (const h of hosts) for (const g of h.groups) (groups.get(g) ?? groups.set(g, new Set()).get(g)!).add(h.name);
  return { hosts: new Map(hosts.map((h) => [h.name, h])), groups };
}

/** `groups`: group name → the run's hosts in it, in inventory order. */
export function groupsOf(hosts: HostEntry[]): Record<string, string[]> {
  const out: Record<string, string[]> = { all: hosts.map((h) => h.name) };
  for (const h of hosts) for (const g of h.groups) if (g !== 'all') (out[g] ??= []).push(h.name);
  return out;
}
