/**
 * Job slicing (`--slice K/N`): the selected hosts split into N deterministic, balanced slices, so N
 * separate jobs on an existing scheduler (a Kubernetes Indexed Job, a CI matrix) cover the fleet
 * once between them, like AWX's job slicing.
 *
 * - Deterministic and stable: slices depend on host names only, never on inventory order.
 * - Balanced: hosts are dealt largest unit first to the slice with fewest hosts, so slice sizes
 *   differ by at most one host when every unit is one host.
 * - Together when it matters: when the runbook rolls through a cluster (`serial`), the hosts of one
 *   cluster (inventory variable `cluster` or `cluster_name`) stay in one slice. Split across two
 *   concurrent jobs, two of its control-plane nodes could be down at once, which `serial: 1` forbids.
 */
import { userError } from '../errors.js';
import type { HostEntry } from './types.js';

export interface SliceSpec {
  /** 1-based */
  index: number;
  count: number;
}

export function parseSlice(text: string): SliceSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) {
    throw userError('usage', `--slice ${JSON.stringify(text)}: expected K/N with 1 ≤ K ≤ N, e.g. --slice 2/4 for the second of four slices`, {
      hint: 'a 0-based index (JOB_COMPLETION_INDEX, a CI matrix index) needs +1: --slice "$((JOB_COMPLETION_INDEX + 1))/4"',
    });
  }
  return { index, count };
}

/** The cluster a host belongs to, for keeping a cluster's nodes in one slice. */
export function clusterKey(h: HostEntry): string | undefined {
  const v = h.vars.cluster ?? h.vars.cluster_name;
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * Every slice at once: slices[i] holds the hosts of slice i+1, each in name order.
 * `keepTogether` names the unit a host must share a slice with (undefined: alone).
 */
export function allSlices(hosts: readonly HostEntry[], count: number, keepTogether: (h: HostEntry) => string | undefined = () => undefined): HostEntry[][] {
  const units = new Map<string, HostEntry[]>();
  for (const h of hosts) {
    const together = keepTogether(h);
    // a host alone is keyed by its own name; \0 keeps the two key spaces apart
    const key = together === undefined ? `h\0${h.name}` : `c\0${together}`;
    const unit = units.get(key) ?? [];
    unit.push(h);
    units.set(key, unit);
  }
  const ordered = [...units.entries()].sort(([ka, a], [kb, b]) => b.length - a.length || (ka < kb ? -1 : ka > kb ? 1 : 0));
  const slices: HostEntry[][] = Array.from({ length: count }, () => []);
  for (const [, unit] of ordered) {
    let target = 0;
    for (let i = 1; i < count; i++) if (slices[i]!.length < slices[target]!.length) target = i;
    slices[target]!.push(...unit);
  }
  for (const s of slices) s.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return slices;
}

export function sliceHosts(hosts: readonly HostEntry[], spec: SliceSpec, keepTogether?: (h: HostEntry) => string | undefined): HostEntry[] {
  const names = new Set(allSlices(hosts, spec.count, keepTogether)[spec.index - 1]!.map((h) => h.name));
  // keep the selection's own order (inventory order) for the run itself
  return hosts.filter((h) => names.has(h.name));
}
