/** `serial:` rolling batches: a count or a percentage of the selected hosts (at least one host per batch). */
export function batchSizes(total: number, serial: number | string | undefined): number {
  if (total === 0) return 0;
  if (serial === undefined) return total;
  if (typeof serial === 'number') return Math.max(1, Math.min(total, Math.floor(serial)));
  const m = /^(\d+)%$/.exec(serial.trim());
  if (m) return Math.max(1, Math.min(total, Math.floor((total * Number(m[1])) / 100)));
  const n = Number(serial);
  return Number.isFinite(n) && n >= 1 ? Math.min(total, Math.floor(n)) : total;
}

/**
 * The batches of a play's hosts. A list is a ramp (Ansible's): `[1, "30%", "100%"]` makes a
 * first batch of one host, then batches of 30% of the hosts, then the rest; the last value
 * repeats. Percentages are of all the play's hosts.
 */
export function makeBatches<T>(items: readonly T[], serial: number | string | readonly (number | string)[] | undefined): T[][] {
  const ramp = Array.isArray(serial) ? (serial.length ? serial : [undefined]) : [serial as number | string | undefined];
  const out: T[][] = [];
  for (let i = 0, k = 0; i < items.length; k++) {
    const size = batchSizes(items.length, ramp[Math.min(k, ramp.length - 1)]) || 1;
    out.push(items.slice(i, i + size));
    i += size;
  }
  return out;
}

/** Whether a batch's failures exceed max_fail_percentage (Ansible: strictly more than). */
export function exceedsMaxFail(failed: number, size: number, maxFailPercentage: number | undefined): boolean {
  if (maxFailPercentage === undefined || size === 0) return false;
  return (failed * 100) / size > maxFailPercentage;
}
