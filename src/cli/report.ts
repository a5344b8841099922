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
import { countByHealth, fleetFromEvents, mergeReports, type FleetReport } from '../report/fleet/model.js';
import { writeFileAtomic } from '../report/fleet/write.js';
import { colors as pc } from '../report/colors.js';
import { EXIT } from './exit-codes.js';

export interface ReportOptions {
  id?: string;
  /** every slice of a sliced run (--slice-group) */
  group?: string;
  from?: string;
  stateDir?: string;
  html?: string;
  prom?: string;
  json?: string;
  renewRunbook?: string;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  now?: Date;
}

const hasCertReport = (events: readonly Event[]) => events.some((e) => e.kind === 'step-end' && e.type === 'x509' && e.report !== undefined);

/**
 * The runs to report on: --from's lines; one run by id; every slice of --group; else the newest run
 * that read certificates (and, when it was one slice, every slice of its group, said so on stderr).
 */
function sources(o: ReportOptions, stderr: NodeJS.WritableStream): { name: string; runs: Event[][] } {
  if (o.from) {
    let text: string;
    try {
      text = readFileSync(o.from === '-' ? 0 : o.from, 'utf8');
    } catch (e) {
      throw userError('usage', `cannot read ${o.from}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    // --json output ends with a recap table after a blank line: only JSON lines are events
    return { name: o.from, runs: [parseJournal(text.split('\n').filter((l) => l.startsWith('{')).join('\n'))] };
  }
  if (o.id) return { name: o.id, runs: [readJournal(o.id, o.stateDir)] };
  const all = listRuns(o.stateDir).filter((r) => r.mode === 'apply');
  const groupRuns = (g: string) => all.filter((r) => r.slice?.group === g).map((r) => readJournal(r.id, o.stateDir));
  if (o.group) {
    const runs = groupRuns(o.group);
    if (!runs.length) throw userError('usage', `no slices of ${o.group} under ${o.stateDir ?? 'the state dir'}`, { hint: 'runbook history --group NAME lists them; the slices must share --state-dir' });
    return { name: o.group, runs };
  }
  for (const r of all) {
    const events = readJournal(r.id, o.stateDir);
    if (!hasCertReport(events)) continue;
    if (!r.slice) return { name: r.id, runs: [events] };
    stderr.write(`run ${r.id} is slice ${r.slice.index}/${r.slice.count} of ${r.slice.group}: reporting every slice of it\n`);
    return { name: r.slice.group, runs: groupRuns(r.slice.group) };
  }
  throw userError('usage', 'no run that read certificates', { hint: 'run `runbook apply runbooks/cert-check.yaml` first, or give --from FILE with its --json output' });
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
  const { name, runs } = sources(o, o.stderr ?? process.stderr);
  const opts = { ...(o.renewRunbook ? { renewRunbook: o.renewRunbook } : {}), ...(o.now ? { now: o.now } : {}) };
  let report: FleetReport;
  try {
    const each = runs.map((events) => fleetFromEvents(events, opts));
    report = each.length === 1 ? each[0]! : mergeReports(name, each);
  } catch (e) {
    if (e instanceof Error && e.message.startsWith('no run-start')) throw userError('usage', `${name}: ${e.message}`);
    throw e;
  }
  if (!report.nodes.some((n) => n.checkedAt)) {
    throw userError('usage', `run ${report.runId} read no certificates (no x509 step reported any)`, { hint: 'report on a run of runbooks/cert-check.yaml' });
  }
  const written: string[] = [];
  if (o.html) {
    // loaded here, not at start: every runbook command registers `report` (prom-client alone is ~10% of a start)
    const { writeHtml } = await import('../report/fleet/html.js');
    writeHtml(o.html, report);
    written.push(`HTML ${o.html}`);
  }
  if (o.prom) {
    const { writePrometheus } = await import('../report/fleet/prometheus.js');
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
    .argument('[id]', 'run id (default: the newest run that read certificates, with every slice of its group)')
    .option('--group <name>', 'every slice of a sliced run (--slice-group), as one fleet')
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
