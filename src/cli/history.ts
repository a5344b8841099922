/** `runbook history`: the runs journaled under .runbook/runs, newest first. */
import type { Command } from 'commander';
import { colors as pc } from '../report/colors.js';
import { listRuns, type RunSummary } from '../engine/journal.js';
import { positiveInt } from './run-options.js';

export interface HistoryOptions {
  stateDir?: string;
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
  const runs = listRuns(o.stateDir).slice(0, o.last ?? Infinity);
  if (o.json) {
    for (const r of runs) out.write(JSON.stringify(r) + '\n');
    return { exitCode: 0, runs };
  }
  if (runs.length === 0) {
    out.write('no runs yet\n');
    return { exitCode: 0, runs };
  }
  const rows = runs.map((r) => [r.id, r.mode, r.name, String(r.hosts), `changed=${r.changed} failed=${r.failed} unreachable=${r.unreachable}${r.rolledBack ? ` rolled-back=${r.rolledBack}` : ''}`, stateText(r), r.operator]);
  const head = ['RUN', 'MODE', 'RUNBOOK', 'HOSTS', 'RESULT', 'STATE', 'OPERATOR'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (i === 5 ? 0 : r[i]!.length))));
  out.write(pc.bold(head.map((h, i) => h.padEnd(widths[i]!)).join('  ')) + '\n');
  for (const r of rows) out.write(r.map((c, i) => (i === 5 || i === 6 ? c : c.padEnd(widths[i]!))).join('  ') + '\n');
  return { exitCode: 0, runs };
}

export function register(program: Command): void {
  program
    .command('history')
    .description('list the runs journaled under .runbook/runs, newest first')
    .option('--state-dir <dir>', 'where run journals are kept (default .runbook)')
    .option('-n, --last <n>', 'only the last n runs', positiveInt('--last'))
    .option('--json', 'one JSON object per run')
    .action((opts: HistoryOptions) => {
      process.exitCode = historyCmd(opts).exitCode;
    });
}
