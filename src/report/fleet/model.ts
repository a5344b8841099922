/**
 * The fleet expiry model: every certificate of every node, gathered from the `report` that x509
 * steps put on their step-end events (a run's journal, or the lines `apply --json` printed).
 * One model feeds the HTML page, the Prometheus file and `--json`.
 */
import type { Event, RunStartEvent, StepEndEvent } from '../../engine/events.js';
import { parseDuration } from '../../runbook/duration.js';
import { shellJoin } from '../../transport/quote.js';

export type Health = 'expired' | 'expiring' | 'healthy';

export interface FleetCert {
  name: string;
  path: string;
  /** certificate file, or a kubeconfig's client certificate */
  kind: 'certificate' | 'kubeconfig';
  cn: string;
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  isCa: boolean;
  serial: string;
  health: Health;
}

export interface FleetNode {
  cluster: string;
  host: string;
  address: string;
  /** when its certificates were read (absent: the node could not be read) */
  checkedAt?: string;
  /** the renew window the check used, e.g. 30d */
  within: string;
  withinMs: number;
  certs: FleetCert[];
  /** the worst health of its certificates; `unknown` when it could not be read */
  health: Health | 'unknown';
  /** why it could not be read (unreachable, a failed step) */
  error?: string;
  /** what an operator runs to renew this node */
  renewCommand: string;
}

export interface FleetReport {
  runId: string;
  runbook: string;
  generatedAt: string;
  nodes: FleetNode[];
}

export interface FleetOptions {
  /** the runbook that renews a node, for the command shown per node */
  renewRunbook?: string;
  /** inventory file given with -i in that command */
  inventory?: string;
  now?: Date;
}

const DEFAULT_WITHIN = '30d';

/** A cluster is named by the host variable `cluster` (or `cluster_name`); otherwise `default`. */
function clusterOf(vars: Record<string, unknown> | undefined): string {
  const v = vars?.cluster ?? vars?.cluster_name;
  return typeof v === 'string' && v !== '' ? v : 'default';
}

function healthOf(notAfter: string, withinMs: number, now: number): Health {
  const t = Date.parse(notAfter);
  if (t <= now) return 'expired';
  if (t <= now + withinMs) return 'expiring';
  return 'healthy';
}

const RANK: Record<Health | 'unknown', number> = { unknown: 3, expired: 2, expiring: 1, healthy: 0 };

export function worst<T extends Health | 'unknown'>(hs: readonly T[]): T | 'healthy' {
  return hs.reduce<T | 'healthy'>((w, h) => (RANK[h] > RANK[w] ? h : w), 'healthy');
}

interface ReportedCert {
  name?: unknown;
  path?: unknown;
  source?: unknown;
  cn?: unknown;
  not_before?: unknown;
  not_after?: unknown;
  is_ca?: unknown;
  serial?: unknown;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Builds the model from one run's events (journal lines or --json lines, in order). */
export function fleetFromEvents(events: readonly Event[], o: FleetOptions = {}): FleetReport {
  const now = (o.now ?? new Date()).getTime();
  const start = events.find((e): e is RunStartEvent => e.kind === 'run-start');
  if (!start) throw new Error('no run-start event: not the journal or --json output of a run');
  const renewRunbook = o.renewRunbook ?? 'runbooks/cert-renew.yaml';
  const inventory = o.inventory ?? start.inventory.file;
  const nodes = new Map<string, FleetNode>();
  for (const h of start.inventory.hosts) {
    nodes.set(h.name, {
      cluster: clusterOf(h.vars),
      host: h.name,
      address: h.address,
      within: DEFAULT_WITHIN,
      withinMs: parseDuration(DEFAULT_WITHIN),
      certs: [],
      health: 'unknown',
      // quoted: an operator pastes it into a shell
      renewCommand: shellJoin(['runbook', 'apply', renewRunbook, ...(inventory ? ['-i', inventory] : []), '-l', h.name]),
    });
  }
  // one node's certificates can come from several x509 steps (pki/ and kubeconfigs): keyed by path
  const seen = new Map<string, Set<string>>();
  for (const e of events) {
    if (e.kind === 'host-unreachable') {
      const n = nodes.get(e.host);
      if (n) n.error = e.message;
      continue;
    }
    if (e.kind === 'host-end') {
      const n = nodes.get(e.host);
      if (n && !n.checkedAt && e.message && !n.error) n.error = e.message;
      continue;
    }
    if (e.kind !== 'step-end') continue;
    const step = e as StepEndEvent;
    const n = nodes.get(step.host);
    if (!n || step.type !== 'x509') continue;
    if (step.status === 'failed') {
      n.error ??= step.message ?? `step "${step.name}" failed`;
      continue;
    }
    const r = step.report;
    if (!r || !Array.isArray(r.certs)) continue;
    if (typeof r.within === 'string') {
      n.within = r.within;
      n.withinMs = parseDuration(r.within);
    }
    n.checkedAt = str(r.checked_at) || n.checkedAt;
    const paths = seen.get(n.host) ?? new Set<string>();
    seen.set(n.host, paths);
    for (const c of r.certs as ReportedCert[]) {
      const notAfter = str(c.not_after);
      if (!notAfter || paths.has(`${str(c.path)}#${str(c.name)}`)) continue;
      paths.add(`${str(c.path)}#${str(c.name)}`);
      n.certs.push({
        name: str(c.name),
        path: str(c.path),
        kind: c.source === 'kubeconfig' ? 'kubeconfig' : 'certificate',
        cn: str(c.cn),
        notBefore: str(c.not_before),
        notAfter,
        // from the report's time, like health: an old run read today says how many days are left today
        daysLeft: Math.floor((Date.parse(notAfter) - now) / 86_400_000),
        isCa: c.is_ca === true,
        serial: str(c.serial),
        health: 'healthy',
      });
    }
  }
  for (const n of nodes.values()) {
    for (const c of n.certs) c.health = healthOf(c.notAfter, n.withinMs, now);
    n.certs.sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter) || a.name.localeCompare(b.name));
    n.health = n.checkedAt ? worst(n.certs.map((c) => c.health)) : 'unknown';
    if (n.checkedAt) delete n.error;
  }
  const list = [...nodes.values()].sort((a, b) => a.cluster.localeCompare(b.cluster) || a.host.localeCompare(b.host));
  return { runId: start.runId, runbook: start.runbook.file, generatedAt: new Date(now).toISOString(), nodes: list };
}

/** One report from several runs (the slices of one logical run): every node once, the latest check winning. */
export function mergeReports(name: string, reports: readonly FleetReport[]): FleetReport {
  const nodes = new Map<string, FleetNode>();
  for (const r of reports) {
    for (const n of r.nodes) {
      const had = nodes.get(n.host);
      if (!had || (n.checkedAt && (!had.checkedAt || n.checkedAt > had.checkedAt))) nodes.set(n.host, n);
    }
  }
  const list = [...nodes.values()].sort((a, b) => a.cluster.localeCompare(b.cluster) || a.host.localeCompare(b.host));
  return { runId: name, runbook: [...new Set(reports.map((r) => r.runbook))].join(', '), generatedAt: reports[0]?.generatedAt ?? new Date().toISOString(), nodes: list };
}

/** The status a node shows in the recap-like summary line. */
export function countByHealth(r: FleetReport): Record<Health | 'unknown', number> {
  const out: Record<Health | 'unknown', number> = { expired: 0, expiring: 0, healthy: 0, unknown: 0 };
  for (const n of r.nodes) out[n.health]++;
  return out;
}
