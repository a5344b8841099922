/**
 * `apply`, optionally from a saved plan: the plan's run id is reused (the same `{{ run.id }}`
 * paths), a fresh dry run must match the plan exactly, and only then anything is changed.
 * Steps are re-probed just before each is applied anyway (plans go stale).
 */
import { defaultStateDir } from './state-dir.js';
import { userError } from '../errors.js';
import { comparePlans, type SavedPlan } from './plan.js';
import { journalPath } from './journal.js';
import { existsSync } from 'node:fs';
import { runEngine, type EngineOptions, type EngineResult } from './run.js';

export async function runApply(o: Omit<EngineOptions, 'dryRun'> & { savedPlan?: SavedPlan }): Promise<EngineResult> {
  const { savedPlan, ...rest } = o;
  if (!savedPlan) return runEngine({ ...rest, dryRun: false });
  if (savedPlan.runbook.sha256 !== o.rb.sha256) {
    throw userError('plan-stale', `the runbook ${o.rb.file} changed since the plan was made (sha256 ${savedPlan.runbook.sha256.slice(0, 12)}… → ${o.rb.sha256.slice(0, 12)}…); refusing to apply it`, {
      hint: 'run `runbook plan --out` again',
    });
  }
  if (existsSync(journalPath(savedPlan.run_id, o.stateDir ?? defaultStateDir(o.rb.file)))) {
    throw userError('plan-stale', `the plan ${savedPlan.run_id} was already applied; refusing to apply it again`, { hint: 'run `runbook plan --out` again' });
  }
  const { sink: _sink, ...quiet } = rest;
  const check = await runEngine({ ...quiet, runId: savedPlan.run_id, dryRun: true, journal: false });
  const diffs = comparePlans(savedPlan, check.plan!);
  if (diffs.length) {
    const shown = diffs.slice(0, 10);
    throw userError(
      'plan-stale',
      `the hosts changed since the plan was made; refusing to apply it:\n  ${shown.join('\n  ')}${diffs.length > shown.length ? `\n  … and ${diffs.length - shown.length} more` : ''}`,
      { hint: 'run `runbook plan --out` again and review it' },
    );
  }
  return runEngine({ ...rest, runId: savedPlan.run_id, dryRun: false });
}

export async function runPlan(o: Omit<EngineOptions, 'dryRun'>): Promise<EngineResult> {
  return runEngine({ ...o, dryRun: true });
}
