/** `runbook apply RUNBOOK`: change the hosts (or `--dry-run`, the same as `plan`; `--plan FILE` applies a saved plan only if nothing changed since). */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { quoteArg } from '../transport/quote.js';
import { runApply } from '../engine/apply.js';
import { loadPlan } from '../engine/plan.js';
import { makeReporter } from '../report/reporter.js';
import { EXIT } from './exit-codes.js';
import { planCmd, type CmdResult } from './plan.js';
import { profileSink, startProfile, writeProfile } from '../engine/profile.js';
import { addRunOptions, engineOptions, givenSliceGroup, prepareRun, type RunCliOptions } from './run-options.js';
import { userError } from '../errors.js';

export interface ApplyOptions extends RunCliOptions {
  runbook: string;
  dryRun?: boolean;
  /** a plan saved by `plan --out` */
  plan?: string;
  /** with --dry-run: save the plan */
  out?: string;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

export async function applyCmd(o: ApplyOptions): Promise<CmdResult> {
  if (o.dryRun) return planCmd(o);
  // jobs started at different times must still agree on their group: never derive it from a clock
  if (o.slice !== undefined && givenSliceGroup(o) === undefined) {
    throw userError('usage', '--slice needs the name of the logical run its slices share: --slice-group NAME or $RUNBOOK_SLICE_GROUP', { hint: 'e.g. the scheduler job name, as in examples/schedulers/' });
  }
  const stderr = o.stderr ?? process.stderr;
  const prepared = await prepareRun(o.runbook, o, stderr);
  if (!prepared) return { exitCode: EXIT.invalidInput };
  const savedPlan = o.plan ? await loadPlan(o.plan) : undefined;
  if (o.profile) startProfile();
  const reporter = await makeReporter({ json: o.json === true, hostCount: prepared.hosts.length, ...(o.stdout ? { out: o.stdout } : {}) });
  try {
    const result = await runApply({
      ...(await engineOptions(prepared, o)),
      ...(o.breakLock ? { breakLock: true } : {}),
      ...(savedPlan ? { savedPlan } : {}),
      sink: profileSink(reporter),
    });
    await reporter.close();
    if (o.profile) writeProfile(o.profile);
    if (o.json !== true && result.journalPath) {
      // the way back, from any directory (the journal's place is found again; an explicit --state-dir is repeated)
      const dir = o.stateDir ? ` --state-dir ${quoteArg(resolve(o.stateDir))}` : '';
      (o.stdout ?? process.stdout).write(`to roll this run back: runbook rollback ${result.runId}${dir}\n`);
    }
    return { exitCode: result.exitCode, result };
  } catch (e) {
    await reporter.close();
    throw e;
  }
}

export function register(program: Command): void {
  const cmd = program
    .command('apply')
    .description('run the runbook on its hosts: re-probe each step just before applying it, journal every result, roll back per on_failure')
    .argument('<runbook>', 'runbook file')
    .option('-n, --dry-run', 'probe only and show the plan (same as `runbook plan`)')
    .option('--plan <file>', 'apply a plan saved by `plan --out`; refused when the runbook or a probed state changed since')
    .option('-o, --out <file>', 'with --dry-run: save the plan')
    .option('--break-lock', 'remove a stale lock left on a host by another run');
  addRunOptions(cmd).action(async (runbook: string, opts: Omit<ApplyOptions, 'runbook'>) => {
    const { exitCode } = await applyCmd({ ...opts, runbook });
    process.exitCode = exitCode;
  });
}
