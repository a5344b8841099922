/**
 * Plans: what a dry run found, per host and step (ok | change | skip | unknown, and the exact
 * commands apply would run). `--out plan.json` saves one (redacted); `apply --plan plan.json`
 * re-probes and refuses when the runbook or any probed state differs from it.
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { userError, messageOf } from '../errors.js';
import type { FileDiff } from '../actions/diff.js';
import type { HostStatus, RecapRow, RunbookRef, StepEndEvent, StepStatus } from './events.js';

export const PLAN_FORMAT = 'runbook-plan/v1';

export interface PlannedStep {
  step: string;
  name: string;
  type: string;
  status: StepStatus;
  item?: unknown;
  commands: string[];
  summary?: string;
  message?: string;
  /** `plan --diff`: the file change, redacted */
  diff?: FileDiff;
}

export interface SavedPlan {
  format: typeof PLAN_FORMAT;
  run_id: string;
  created: string;
  runbook: RunbookRef;
  hosts_pattern: string;
  changes_pending: boolean;
  hosts: Record<string, { status: HostStatus; message?: string; steps: PlannedStep[] }>;
}

export function buildPlan(runId: string, runbook: RunbookRef, pattern: string, recap: RecapRow[], events: StepEndEvent[], changesPending: boolean): SavedPlan {
  const hosts: SavedPlan['hosts'] = {};
  for (const r of recap) hosts[r.host] = { status: r.status, ...(r.message ? { message: r.message } : {}), steps: [] };
  for (const e of events) {
    const h = (hosts[e.host] ??= { status: 'ok', steps: [] });
    h.steps.push({
      step: e.step,
      name: e.name,
      type: e.type,
      status: e.status,
      ...('item' in e ? { item: e.item } : {}),
      commands: e.commands,
      ...(e.summary ? { summary: e.summary } : {}),
      ...(e.diff ? { diff: e.diff } : {}),
      ...(e.message && e.status === 'failed' ? { message: e.message } : {}),
    });
  }
  return { format: PLAN_FORMAT, run_id: runId, created: new Date().toISOString(), runbook, hosts_pattern: pattern, changes_pending: changesPending, hosts };
}

/**
 * Written to a new 0600 file beside `file`, then renamed over it: an existing plan file with a
 * wider mode (writeFile's mode applies only on creation) never holds the new plan.
 */
export async function savePlan(file: string, plan: SavedPlan): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, JSON.stringify(plan, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    await chmod(tmp, 0o600); // the umask may have narrowed it further; never wider
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw userError('usage', `cannot save the plan to ${file}: ${messageOf(e)}`);
  }
}

export async function loadPlan(file: string): Promise<SavedPlan> {
  let v: unknown;
  try {
    v = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw userError('usage', `--plan ${file}: cannot read a plan: ${messageOf(e)}`);
  }
  const p = v as Partial<SavedPlan>;
  if (!p || p.format !== PLAN_FORMAT || typeof p.run_id !== 'string' || !p.hosts || !p.runbook) {
    throw userError('usage', `--plan ${file}: not a plan saved by \`runbook plan --out\``);
  }
  return p as SavedPlan;
}

function stepKey(s: PlannedStep): string {
  return `${s.step}${'item' in s ? ` item ${JSON.stringify(s.item)}` : ''}`;
}

/** Differences between a saved plan and a fresh one; empty when they agree. */
export function comparePlans(saved: SavedPlan, fresh: SavedPlan): string[] {
  const out: string[] = [];
  if (saved.runbook.sha256 !== fresh.runbook.sha256) {
    out.push(`the runbook ${fresh.runbook.file} changed since the plan (sha256 ${saved.runbook.sha256.slice(0, 12)}… → ${fresh.runbook.sha256.slice(0, 12)}…)`);
    return out;
  }
  const a = Object.keys(saved.hosts).sort();
  const b = Object.keys(fresh.hosts).sort();
  const inA = new Set(a);
  const inB = new Set(b);
  for (const h of a) if (!inB.has(h)) out.push(`host ${h} was planned but is not selected now`);
  for (const h of b) if (!inA.has(h)) out.push(`host ${h} is selected now but was not planned`);
  for (const h of a) {
    const fh = fresh.hosts[h];
    const sh = saved.hosts[h]!;
    if (!fh) continue;
    if (fh.status !== sh.status) out.push(`host ${h}: was ${sh.status}, now ${fh.status}${fh.message ? ` (${fh.message})` : ''}`);
    const fm = new Map(fh.steps.map((s) => [stepKey(s), s]));
    const seen = new Set<string>();
    for (const s of sh.steps) {
      const k = stepKey(s);
      seen.add(k);
      const f = fm.get(k);
      if (!f) {
        out.push(`host ${h}, step "${s.name}": planned but not reached now`);
        continue;
      }
      if (f.status !== s.status) out.push(`host ${h}, step "${s.name}": planned ${s.status}, now ${f.status}${f.summary ? ` (${f.summary})` : ''}`);
      else if (JSON.stringify(f.commands) !== JSON.stringify(s.commands)) out.push(`host ${h}, step "${s.name}": the commands differ from the plan`);
    }
    for (const [k, f] of fm) if (!seen.has(k)) out.push(`host ${h}, step "${f.name}": not in the plan`);
  }
  return out;
}
