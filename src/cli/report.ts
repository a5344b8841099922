/**
 * `runbook report [ID]`: the fleet certificate-expiry report of a cert-check run (its journal, or
 * the lines `apply --json` printed, with --from) as a self-contained HTML page, a Prometheus
 * textfile for node_exporter, JSON, or a table on the terminal.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { userError } from '../errors.js';
import type { Event } from '../engine/events.js';
import { listRuns, parseJournal, readJournal } from '../engine/journal.js';
import { countByHealth, fleetFromEvents, type FleetReport } from '../report/fleet/model.js';
import { writeHtml } from '../report/fleet/html.js';
import { writePrometheus } from '../report/fleet/prometheus.js';
import { writeFileAtomic } from '../report/fleet/write.js';
import { colors as pc } from '../report/colors.js';
import { EXIT } from './exit-codes.js';

export interface ReportOptions {
  id?: string;
  from?: string;
  stateDir?: string;
  html?: string;
  prom?: string;
  json?: string;
  renewRunbook?: string;
  stdout?: NodeJS.WritableStream;
  now?: Date;
}

function eventsOf(o: ReportOptions): Event[] {
  if (o.from) {
    let text: string;
    try {
      text = readFileSync(o.from === '-' ? 0 : o.from, 'utf8');
    } catch (e) {
      throw userError('usage', `cannot read ${o.from}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    // --json output ends with a recap table after a blank line: only JSON lines are events
    return parseJournal(text.split('\n').filter((l) => l.startsWith('{')).join('\n'));
  }
  const id = o.id ?? listRuns(o.stateDir).find((r) => r.mode !== 'rollback')?.id;
  if (!id) throw userError('usage', 'no run to report on', { hint: 'run `runbook apply runbooks/cert-check.yaml` first, or give --from FILE with its --json output' });
  return readJournal(id, o.stateDir);
}

function terminalTable(r: FleetReport, out: NodeJS.WritableStream): void {
  const colour = { expired: pc.red, expiring: pc.yellow, healthy: pc.green, unknown: pc.dim } as const;
  const rows = r.nodes.map((n) => {
    const soonest = n.certs.find((c) => !c.isCa) ?? n.certs[0];
    return [n.cluster, n.host, n.health, soonest ? `${soonest.name} ${soonest.notAfter.slice(0, 10)}` : n.error ?? 'not read', soonest ? String(soonest.daysLeft) : ''];
  });
  const head = ['CLUSTER', 'NODE', 'STATUS', 'SOONEST EXPIRY', 'DAYS'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  out.write(pc.bold(head.map((h, i) => h.padEnd(widths[i]!)).join('  ')) + '\n');
  for (const row of rows) {
    const health = row[2] as keyof typeof colour;
    out.write(row.map((c, i) => (i === 2 ? colour[health](c.padEnd(widths[i]!)) : c.padEnd(widths[i]!))).join('  ').trimEnd() + '\n');
  }
  const c = countByHealth(r);
  out.write(`${r.nodes.length} nodes: ${c.expired} expired, ${c.expiring} expiring, ${c.healthy} healthy, ${c.unknown} not read\n`);
}

export async function reportCmd(o: ReportOptions): Promise<{ exitCode: number; report: FleetReport }> {
  const out = o.stdout ?? process.stdout;
  let report: FleetReport;
  try {
    report = fleetFromEvents(eventsOf(o), { ...(o.renewRunbook ? { renewRunbook: o.renewRunbook } : {}), ...(o.now ? { now: o.now } : {}) });
  } catch (e) {
    if (e instanceof Error && e.message.startsWith('no run-start')) throw userError('usage', `${o.from ?? o.id ?? 'the latest run'}: ${e.message}`);
    throw e;
  }
  if (!report.nodes.some((n) => n.checkedAt)) {
    throw userError('usage', `run ${report.runId} read no certificates (no x509 step reported any)`, { hint: 'report on a run of runbooks/cert-check.yaml' });
  }
  const written: string[] = [];
  if (o.html) {
    writeHtml(o.html, report);
    written.push(`HTML ${o.html}`);
  }
  if (o.prom) {
    await writePrometheus(o.prom, report);
    written.push(`Prometheus ${o.prom}`);
  }
  if (o.json) {
    writeFileAtomic(o.json, JSON.stringify(report, null, 2) + '\n', 0o644);
    written.push(`JSON ${o.json}`);
  }
  terminalTable(report, out);
  if (written.length) out.write(`wrote ${written.join(', ')}\n`);
  return { exitCode: EXIT.ok, report };
}

export function register(program: Command): void {
  program
    .command('report')
    .description('fleet certificate-expiry report of a cert-check run: HTML page, Prometheus textfile, JSON')
    .argument('[id]', 'run id (default: the latest run under --state-dir)')
    .option('--from <file>', 'read the lines `runbook apply --json` printed instead of a journal (- for stdin)')
    .option('--state-dir <dir>', 'where run journals are kept')
    .option('--html <file>', 'write a self-contained HTML page (charts, sortable tables, renew commands)')
    .option('--prom <file>', "write Prometheus text format for node_exporter's textfile collector (atomically)")
    .option('--json <file>', 'write the report as JSON')
    .option('--renew-runbook <file>', 'runbook named in the renew command shown per node', 'runbooks/cert-renew.yaml')
    .action(async (id: string | undefined, opts: Omit<ReportOptions, 'id'>) => {
      process.exitCode = (await reportCmd({ ...opts, ...(id ? { id } : {}) })).exitCode;
    });
}
