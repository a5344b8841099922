/**
 * What `--slice K/N` may split. Slices run as separate jobs, at the same time, each seeing only its
 * own hosts; a runbook that coordinates hosts must therefore get whole units:
 * - rolling (`serial`): two jobs must not restart one cluster's nodes at once;
 * - cross-host (`hostvars`, `groups`, `play_hosts`, `run_once`, `delegate_to`, several plays):
 *   a node's facts, its first control-plane node, its delegate must be in the same job.
 * A unit is a cluster (inventory variable `cluster` or `cluster_name`). A cross-host runbook on hosts
 * without one cannot be sliced safely, so it is refused rather than split.
 */
import { userError } from '../errors.js';
import type { SliceRef } from '../engine/events.js';
import { clusterKey, parseSlice, sliceHosts } from '../inventory/slice.js';
import type { HostEntry } from '../inventory/types.js';
import type { LoadedRunbook } from '../runbook/model.js';

/** Why the runbook's hosts depend on each other (undefined: they do not). */
export function crossHostReason(rb: LoadedRunbook): string | undefined {
  if (rb.plays.length > 1) return `it has ${rb.plays.length} plays`;
  // conservative: a mention anywhere (even in a comment-free string) counts
  const text = JSON.stringify(rb.runbook);
  const used = ['hostvars', 'groups', 'play_hosts', 'ansible_play_hosts', 'run_once', 'delegate_to'].filter((w) => new RegExp(`\\b${w}\\b`).test(text));
  return used.length ? `it uses ${used.join(', ')}` : undefined;
}

export interface SliceOptions {
  slice: string;
  group: string;
}

export function sliceRun(rb: LoadedRunbook, hosts: HostEntry[], o: SliceOptions): { hosts: HostEntry[]; slice: SliceRef } {
  const spec = parseSlice(o.slice);
  const rolling = rb.plays.some((p) => p.settings.serial !== undefined);
  const crossHost = crossHostReason(rb);
  if (crossHost) {
    const loose = hosts.filter((h) => clusterKey(h) === undefined).map((h) => h.name);
    if (loose.length) {
      throw userError('usage', `--slice: ${rb.runbook.name} coordinates hosts (${crossHost}), so a slice must hold whole clusters, but ${loose.slice(0, 5).join(', ')}${loose.length > 5 ? ` and ${loose.length - 5} more` : ''} ha${loose.length === 1 ? 's' : 've'} no \`cluster\` variable`, {
        hint: 'set `cluster: NAME` on every host (group vars work), or run without --slice',
      });
    }
  }
  const sliced = sliceHosts(hosts, spec, rolling || crossHost ? clusterKey : undefined);
  if (sliced.length === 0) {
    throw userError('inventory', `slice ${spec.index}/${spec.count} of ${hosts.length} selected host(s) is empty`, { hint: 'use fewer slices than hosts (or than clusters, for a runbook that keeps clusters whole)' });
  }
  return { hosts: sliced, slice: { ...spec, group: o.group, of: hosts.length } };
}
