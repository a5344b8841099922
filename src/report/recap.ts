/** The recap table: one row per host with ok, changed, failed, skipped, unreachable. */
import { colors as pc } from './colors.js';
import type { RecapRow } from '../engine/events.js';
import { colorStatus } from './format.js';

export function recapTable(rows: readonly RecapRow[], opts: { plan?: boolean; maxRows?: number } = {}): string {
  const plan = opts.plan === true;
  const showUnknown = rows.some((r) => r.unknown > 0);
  const cols: { name: string; get: (r: RecapRow) => number }[] = [
    { name: 'ok', get: (r) => r.ok },
    { name: plan ? 'change' : 'changed', get: (r) => r.changed },
    { name: 'failed', get: (r) => r.failed },
    { name: 'skipped', get: (r) => r.skipped },
    ...(showUnknown ? [{ name: 'unknown', get: (r: RecapRow) => r.unknown }] : []),
    { name: 'unreachable', get: (r) => r.unreachable },
  ];
  const hw = Math.max(4, ...rows.map((r) => r.host.length));
  const out: string[] = [pc.bold(['HOST'.padEnd(hw), 'STATUS'.padEnd(15), ...cols.map((c) => c.name.toUpperCase().padStart(Math.max(c.name.length, 3)))].join('  '))];
  const max = opts.maxRows ?? Infinity;
  // with many hosts, the ones that need attention come first
  const sorted = rows.length > max ? [...rows].sort((a, b) => Number(b.status !== 'ok') - Number(a.status !== 'ok')) : rows;
  for (const r of sorted.slice(0, max)) {
    const cells = cols.map((c) => {
      const v = c.get(r);
      const s = String(v).padStart(Math.max(c.name.length, 3));
      if (v === 0) return pc.dim(s);
      if (c.name === 'failed' || c.name === 'unreachable') return pc.red(s);
      if (c.name === 'changed' || c.name === 'change') return pc.yellow(s);
      return s;
    });
    out.push([r.host.padEnd(hw), colorStatus(r.status, 15), ...cells].join('  '));
  }
  if (rows.length > max) {
    const by = new Map<string, number>();
    for (const r of rows) by.set(r.status, (by.get(r.status) ?? 0) + 1);
    out.push(pc.dim(`… ${rows.length - max} more hosts (${[...by].map(([s, n]) => `${s}: ${n}`).join(', ')})`));
  }
  const recovered = rows.filter((r) => r.timeToRecoverMs !== undefined);
  if (recovered.length) out.push(`time to recover (first change to verified): ${recovered.map((r) => `${r.host} ${(r.timeToRecoverMs! / 1000).toFixed(1)}s`).join(', ')}`);
  for (const r of rows) for (const w of r.warnings ?? []) out.push(`${pc.yellow('warning:')} ${r.host}: ${w}`);
  for (const r of rows) if (r.message?.includes('not restored:')) out.push(`${pc.red('NOT RESTORED:')} ${r.host}: ${r.message}`);
  const total = (f: (r: RecapRow) => number) => rows.reduce((n, r) => n + f(r), 0);
  out.push(
    pc.dim(
      `${rows.length} hosts: ok=${total((r) => r.ok)} ${plan ? 'change' : 'changed'}=${total((r) => r.changed)} failed=${total((r) => r.failed)} skipped=${total((r) => r.skipped)} unreachable=${total((r) => r.unreachable)}`,
    ),
  );
  return out.join('\n');
}
