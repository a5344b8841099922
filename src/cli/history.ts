/** `runbook history`: the runs journaled in the state dir (the working directory's git root's .runbook, else $XDG_STATE_HOME/runbook), newest first. */
import type { Command } from 'commander';
import { colors as pc } from '../report/colors.js';
import { listRuns, type RunSummary } from '../engine/journal.js';
import { positiveInt } from './run-options.js';

export interface HistoryOptions {
  stateDir?: string;
  /** only the slices of this logical run (--slice-group) */
  group?: string;
  json?: boolean;
  last?: number;
  stdout?: NodeJS.WritableStream;
}

function stateText(r: RunSummary): string {
  if (r.state === 'interrupted') return pc.red('interrupted');
  const parts = [r.exitCode === 0 ? pc.green('ok') : pc.red(`exit ${r.exitCode}`)];
  if (r.rollbacks) parts.push(pc.yellow(`rolled back ×${r.rollbacks}`));
  return parts.join(', ');
}

export function historyCmd(o: HistoryOptions = {}): { exitCode: number; runs: RunSummary[] } {
  const out = o.stdout ?? process.stdout;
  const runs = listRuns(o.stateDir)
    .filter((r) => o.group === undefined || r.slice?.group === o.group)
    .slice(0, o.last ?? Infinity);
  if (o.json) {
    for (const r of runs) out.write(JSON.stringify(r) + '\n');
    return { exitCode: 0, runs };
  }
  if (runs.length === 0) {
    out.write(o.group === undefined ? 'no runs yet\n' : `no slices of ${o.group} under this state dir\n`);
    return { exitCode: 0, runs };
  }
  const rows = runs.map((r) => [r.id, r.mode, r.name + (r.slice ? ` [slice ${r.slice.index}/${r.slice.count}]` : ''), String(r.hosts), `changed=${r.changed} failed=${r.failed} unreachable=${r.unreachable}${r.rolledBack ? ` rolled-back=${r.rolledBack}` : ''}`, stateText(r), r.operator]);
  const head = ['RUN', 'MODE', 'RUNBOOK', 'HOSTS', 'RESULT', 'STATE', 'OPERATOR'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (i === 5 ? 0 : r[i]!.length))));
  out.write(pc.bold(head.map((h, i) => h.padEnd(widths[i]!)).join('  ')) + '\n');
  for (const r of rows) out.write(r.map((c, i) => (i === 5 || i === 6 ? c : c.padEnd(widths[i]!))).join('  ') + '\n');
  if (o.group !== undefined) out.write(groupSummary(o.group, runs) + '\n');
  return { exitCode: 0, runs };
}

/** One line for a sliced run: which slices ran, which are missing, the totals. */
export function groupSummary(group: string, runs: RunSummary[]): string {
  const applies = runs.filter((r) => r.slice && r.mode !== 'rollback');
  const count = Math.max(0, ...applies.map((r) => r.slice!.count));
  const have = new Set(applies.map((r) => r.slice!.index));
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !have.has(i));
  const sum = (f: (r: RunSummary) => number) => applies.reduce((n, r) => n + f(r), 0);
  const failedSlices = applies.filter((r) => r.state === 'interrupted' || r.exitCode !== 0).map((r) => r.slice!.index);
  return [
    `group ${group}: ${have.size} of ${count} slices journaled here${missing.length ? ` (missing: ${missing.join(', ')})` : ''}`,
    `${sum((r) => r.hosts)} hosts, changed=${sum((r) => r.changed)} failed=${sum((r) => r.failed)} unreachable=${sum((r) => r.unreachable)} rolled-back=${sum((r) => r.rolledBack)}`,
    failedSlices.length ? `slices not ok: ${failedSlices.join(', ')}` : 'every slice here ended ok',
  ].join('; ');
}

export function register(program: Command): void {
  program
    .command('history')
    .description("list the runs journaled in the state dir (the git root's .runbook, else $XDG_STATE_HOME/runbook), newest first")
    .option('--state-dir <dir>', "where run journals are kept (default: the runbook's git root's .runbook, else $XDG_STATE_HOME/runbook)")
    .option('-n, --last <n>', 'only the last n runs', positiveInt('--last'))
    .option('--json', 'one JSON object per run')
    .option('--group <name>', 'only the slices of one logical run (--slice-group), with a summary line')
    .action((opts: HistoryOptions) => {
      process.exitCode = historyCmd(opts).exitCode;
    });
}
