/** `runbook resume ID`: continue a run whose runner died, from its journal (src/engine/resume.ts). */
import type { Command } from 'commander';
import { resumeRun } from '../engine/resume.js';
import type { EngineResult } from '../engine/run.js';
import { parseExtraVars } from '../runbook/vars.js';
import { useAgeIdentityFile } from '../runbook/encrypted.js';
import { makeReporter } from '../report/reporter.js';
import { addConnectionOptions, connectOptions, positiveInt, type ConnectionCliOptions } from './run-options.js';

export interface ResumeCliOptions extends ConnectionCliOptions {
  id: string;
  stateDir?: string;
  extraVars?: string[];
  forks?: number;
  json?: boolean;
  breakLock?: boolean;
  stdout?: NodeJS.WritableStream;
}

export async function resumeCmd(o: ResumeCliOptions): Promise<{ exitCode: number; result: EngineResult }> {
  useAgeIdentityFile(o.identityFile);
  const extraVars = await parseExtraVars(o.extraVars ?? []);
  const reporter = await makeReporter({ json: o.json === true, ...(o.stdout ? { out: o.stdout } : {}) });
  try {
    const result = await resumeRun({
      id: o.id,
      ...(o.stateDir ? { stateDir: o.stateDir } : {}),
      sink: reporter,
      connect: await connectOptions(o),
      extraVars,
      ...(o.forks ? { forks: o.forks } : {}),
      ...(o.breakLock ? { breakLock: true } : {}),
    });
    return { exitCode: result.exitCode, result };
  } finally {
    await reporter.close();
  }
}

export function register(program: Command): void {
  const cmd = program
    .command('resume')
    .description("continue a run whose runner died (killed, laptop closed) from its journal: finished hosts stay finished, the others go on from the first step not journaled as done, keeping the run's backups; each ends completed or rolled back")
    .argument('<id>', 'run id (see `runbook history`: interrupted)')
    .option('-e, --extra-vars <var>', 'key=value, @file.yaml or {"key": value} (secrets are not journaled: give them again)', (v: string, p: string[] = []) => [...p, v])
    .option('--identity-file <file>', 'age identity (key) file for encrypted -e @file.age and vars_files (default $RUNBOOK_AGE_IDENTITY)')
    .option('-f, --forks <n>', 'hosts worked on at once', positiveInt('--forks'))
    .option('--json', 'JSON-lines events')
    .option('--break-lock', 'remove a lock held by another run')
    .option('--state-dir <dir>', "where run journals are kept (default: found from the run id)");
  addConnectionOptions(cmd).action(async (id: string, opts: Omit<ResumeCliOptions, 'id'>) => {
    const { exitCode } = await resumeCmd({ ...opts, id });
    process.exitCode = exitCode;
  });
}
