/** `runbook rollback ID`: restore every host of a run from its backups (verified), then run the runbook's rollback steps. Idempotent; `--dry-run` shows what it would do. */
import type { Command } from 'commander';
import { rollbackRun, type RollbackRunResult } from '../engine/rollback.js';
import { parseExtraVars } from '../runbook/vars.js';
import { useAgeIdentityFile } from '../runbook/encrypted.js';
import { makeReporter } from '../report/reporter.js';
import { addConnectionOptions, connectOptions, loadHostsInventory, positiveInt, type ConnectionCliOptions } from './run-options.js';
import { userError } from '../errors.js';
import { listRuns } from '../engine/journal.js';

export interface RollbackOptions extends ConnectionCliOptions {
  id: string;
  dryRun?: boolean;
  stateDir?: string;
  extraVars?: string[];
  /** host names, comma list */
  limit?: string;
  forks?: number;
  json?: boolean;
  breakLock?: boolean;
  /** reach the run's hosts through this inventory (by host name) instead of the journal's addresses */
  inventory?: string;
  hosts?: string;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/**
 * `runbook rollback --group G`: every slice of a logical run journaled under the state dir, one
 * after the other (slices hold disjoint hosts); the worst exit code wins.
 */
export async function rollbackGroupCmd(group: string, o: Omit<RollbackOptions, 'id'>): Promise<RollbackRunResult> {
  const runs = listRuns(o.stateDir).filter((r) => r.slice?.group === group && r.mode !== 'rollback' && r.mode !== 'plan');
  if (runs.length === 0) throw userError('usage', `no slices of ${group} under ${o.stateDir ?? 'the state dir'}`, { hint: 'runbook history --group NAME lists them; the slices must share --state-dir' });
  const recap: RollbackRunResult['recap'] = [];
  let exitCode = 0;
  for (const r of runs.sort((a, b) => a.slice!.index - b.slice!.index)) {
    const res = await rollbackCmd({ ...o, id: r.id });
    recap.push(...res.recap);
    exitCode = Math.max(exitCode, res.exitCode);
  }
  return { exitCode, recap };
}

export async function rollbackCmd(o: RollbackOptions): Promise<RollbackRunResult> {
  useAgeIdentityFile(o.identityFile);
  const extraVars = await parseExtraVars(o.extraVars ?? []);
  const inventory = o.inventory || o.hosts ? await loadHostsInventory(o, o.stderr ?? process.stderr) : undefined;
  if ((o.inventory || o.hosts) && !inventory) throw userError('inventory', `invalid inventory ${o.inventory ?? o.hosts}`);
  const reporter = await makeReporter({ json: o.json === true, ...(o.stdout ? { out: o.stdout } : {}) });
  try {
    return await rollbackRun({
      id: o.id,
      ...(o.stateDir ? { stateDir: o.stateDir } : {}),
      dryRun: o.dryRun === true,
      sink: reporter,
      connect: await connectOptions(o),
      extraVars,
      ...(o.limit ? { hosts: o.limit.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
      ...(o.forks ? { forks: o.forks } : {}),
      ...(o.breakLock ? { breakLock: true } : {}),
      ...(inventory ? { reachVia: [...inventory.hosts.values()] } : {}),
    });
  } finally {
    await reporter.close();
  }
}

export function register(program: Command): void {
  const cmd = program
    .command('rollback')
    .description('restore every host of a run from its backup manifests (sha256 verified, files that appeared since removed), then run the rollback steps')
    .argument('[id]', 'run id (see `runbook history`)')
    .option('--group <name>', 'every slice of a sliced run (--slice-group) instead of one run id')
    .option('-n, --dry-run', 'show what would be restored; change nothing')
    .option('-l, --limit <hosts>', 'only these hosts (comma list of names)')
    .option('-e, --extra-vars <var>', 'key=value, @file.yaml or {"key": value} for the rollback steps (secrets are not journaled: give them again)', (v: string, p: string[] = []) => [...p, v])
    .option('-f, --forks <n>', 'hosts worked on at once', positiveInt('--forks'))
    .option('--json', 'JSON-lines events')
    .option('--break-lock', 'remove a lock held by another run')
    .option('--identity-file <file>', 'age identity (key) file for encrypted -e @file.age and vars_files (default $RUNBOOK_AGE_IDENTITY)')
    .option('--state-dir <dir>', "where run journals are kept (default: the runbook's git root's .runbook, else $XDG_STATE_HOME/runbook)")
    .option('-i, --inventory <file>', "reach the run's hosts through this inventory (matched by host name) instead of the addresses the journal recorded")
    .option('--hosts <list>', 'the same, without an inventory: a,b,user@c:2222');
  addConnectionOptions(cmd).action(async (id: string | undefined, opts: Omit<RollbackOptions, 'id'> & { group?: string }) => {
    const { group, ...rest } = opts;
    if ((id === undefined) === (group === undefined)) throw userError('usage', 'give a run id or --group NAME (one of them)', { hint: 'runbook history lists run ids and slice groups' });
    const { exitCode } = group !== undefined ? await rollbackGroupCmd(group, rest) : await rollbackCmd({ ...rest, id: id! });
    process.exitCode = exitCode;
  });
}
