/** `runbook plan RUNBOOK`: connect, probe only, print per host and step ok | change | skip | unknown with the exact commands. Writes nothing on any host. */
import type { Command } from 'commander';
import { runPlan } from '../engine/apply.js';
import { savePlan } from '../engine/plan.js';
import type { EngineResult } from '../engine/run.js';
import { makeReporter } from '../report/reporter.js';
import { EXIT } from './exit-codes.js';
import { profileSink, startProfile, writeProfile } from '../engine/profile.js';
import { addRunOptions, engineOptions, prepareRun, type RunCliOptions } from './run-options.js';

export interface PlanOptions extends RunCliOptions {
  runbook: string;
  /** save the plan (JSON) for `apply --plan` */
  out?: string;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

export interface CmdResult {
  exitCode: number;
  result?: EngineResult;
}

export async function planCmd(o: PlanOptions): Promise<CmdResult> {
  const stderr = o.stderr ?? process.stderr;
  const prepared = await prepareRun(o.runbook, o, stderr);
  if (!prepared) return { exitCode: EXIT.invalidInput };
  if (o.profile) startProfile();
  const reporter = await makeReporter({ json: o.json === true, hostCount: prepared.hosts.length, ...(o.stdout ? { out: o.stdout } : {}) });
  let result: EngineResult;
  try {
    result = await runPlan({
      ...(await engineOptions(prepared, o)),
      sink: profileSink(reporter),
    });
  } finally {
    await reporter.close();
  }
  if (o.profile) writeProfile(o.profile);
  if (o.out && result.plan) {
    await savePlan(o.out, result.plan);
    if (!o.json) stderr.write(`plan saved to ${o.out} (apply it with: runbook apply ${o.runbook} --plan ${o.out})\n`);
  }
  return { exitCode: result.exitCode, result };
}

export function register(program: Command): void {
  const cmd = program
    .command('plan')
    .description('show what apply would do: per host and step ok | change | skip | unknown, with the exact commands (probes only; changes nothing). Exit 2 when changes are pending, 0 when none')
    .argument('<runbook>', 'runbook file')
    .option('-o, --out <file>', 'save the plan as JSON for `apply --plan`');
  addRunOptions(cmd).action(async (runbook: string, opts: Omit<PlanOptions, 'runbook'>) => {
    const { exitCode } = await planCmd({ ...opts, runbook });
    process.exitCode = exitCode;
  });
}
