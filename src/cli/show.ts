/** `runbook show ID`: one run from its journal — what ran where, results, file diffs (apply --diff), backups, rollbacks. */
import type { Command } from 'commander';
import { readJournal, summarize } from '../engine/journal.js';
import type { Event, RunStartEvent } from '../engine/events.js';
import { formatEvent, type FormatContext } from '../report/format.js';
import { recapTable } from '../report/recap.js';
import { timelineFromJournal } from '../report/timeline/model.js';
import { writeTimelineHtml } from '../report/timeline/html.js';

export interface ShowOptions {
  id: string;
  stateDir?: string;
  json?: boolean;
  /** write the run as a timeline page instead of printing it */
  html?: string;
  /** false (--no-diff): leave out the file diffs an `apply --diff` journaled */
  diff?: boolean;
  stdout?: NodeJS.WritableStream;
}

export function showCmd(o: ShowOptions): { exitCode: number } {
  const out = o.stdout ?? process.stdout;
  const lines = readJournal(o.id, o.stateDir);
  if (o.html) {
    const tl = timelineFromJournal(o.id, lines);
    writeTimelineHtml(o.html, tl);
    out.write(`wrote ${o.html}: ${tl.sections.map((s) => `${s.mode} (${s.hosts.length} hosts, ${s.spans.length} spans)`).join(', ')}\n`);
    return { exitCode: 0 };
  }
  if (o.json) {
    for (const l of lines) out.write(JSON.stringify(l) + '\n');
    return { exitCode: 0 };
  }
  const ctx: FormatContext = { perStep: true, showCommands: false, hostWidth: 8 };
  for (const l of lines) {
    const { t, ...e } = l;
    void t;
    let ev = e as Event;
    // the diffs are shown as journaled (redacted when the run made them), like apply --diff shows them
    if (o.diff === false && ev.kind === 'step-end' && ev.diff) {
      const { diff, ...rest } = ev;
      void diff;
      ev = rest;
    }
    if (ev.kind === 'run-start') {
      const s = ev as RunStartEvent;
      ctx.hostWidth = Math.max(8, ...s.inventory.hosts.map((h) => h.name.length));
      ctx.showCommands = s.dryRun;
      ctx.perStep = true;
      out.write(formatEvent(ev, ctx).join('\n') + '\n');
      out.write(`  started ${s.time} by ${s.operator} (pid ${s.pid})\n`);
      out.write(`  runbook ${s.runbook.file} sha256 ${s.runbook.sha256}${s.runbook.git ? `, git ${s.runbook.git.commit}${s.runbook.git.dirty ? ' with uncommitted changes' : ''}` : ', not in git'}\n`);
      out.write(`  inventory ${s.inventory.file ?? '(--hosts)'}: ${s.inventory.hosts.map((h) => h.name).join(', ')}\n`);
      continue;
    }
    if (ev.kind === 'step-end' && ev.backupDir) {
      const [head, ...rest] = formatEvent(ev, ctx);
      out.write([`${head ?? ''}  → backup ${ev.backupDir}`, ...rest].join('\n') + '\n');
      continue;
    }
    if (ev.kind === 'run-end') {
      out.write(formatEvent(ev, ctx).join('\n') + '\n');
      out.write(recapTable(ev.recap, { plan: ev.mode === 'plan' }) + '\n');
      continue;
    }
    const text = formatEvent(ev, ctx);
    if (text.length) out.write(text.join('\n') + '\n');
  }
  const s = summarize(o.id, lines);
  if (s?.state === 'interrupted') out.write(`run ${o.id} was interrupted (no end recorded): \`runbook rollback ${o.id}\` restores its hosts from the backups made so far\n`);
  return { exitCode: 0 };
}

export function register(program: Command): void {
  program
    .command('show')
    .description('print one run from its journal')
    .argument('<id>', 'run id (see `runbook history`)')
    .option('--state-dir <dir>', "where run journals are kept (default: the runbook's git root's .runbook, else $XDG_STATE_HOME/runbook)")
    .option('--json', 'the journal lines as they are')
    .option('--no-diff', 'leave out the file diffs an apply --diff journaled (shown by default, redacted as journaled)')
    .option('--html <file>', 'write the run as a timeline page: hosts × time, steps, waits, failures, rollbacks; click for commands')
    .action((id: string, opts: Omit<ShowOptions, 'id'>) => {
      process.exitCode = showCmd({ ...opts, id }).exitCode;
    });
}
