/** `runbook prune --older-than 30d`: list (default) or remove old kept copies and backup directories on the hosts (src/engine/prune.ts). */
import type { Command } from 'commander';
import pLimit from 'p-limit';
import { userError } from '../errors.js';
import { selectHosts } from '../inventory/load.js';
import { parseDuration } from '../runbook/duration.js';
import { openTransport } from '../engine/connect.js';
import { DEFAULT_FORKS, operatorName } from '../engine/host-connection.js';
import { lockPathFor } from '../engine/lock.js';
import { DEFAULT_BACKUP_ROOT, pruneHost, type PruneCandidate, type PruneHostResult } from '../engine/prune.js';
import { indexRunHosts, loadRunOutcomes } from '../engine/run-outcome.js';
import { allStateDirs, defaultStateDir } from '../engine/state-dir.js';
import { EXIT } from './exit-codes.js';
import { addConnectionOptions, addHostOptions, connectOptions, loadHostsInventory, nonNegativeInt, positiveInt, type ConnectionCliOptions, type HostsCliOptions } from './run-options.js';

export interface PruneCmdOptions extends ConnectionCliOptions, HostsCliOptions {
  pattern?: string;
  olderThan?: string;
  /** remove (default: list what would be removed) */
  yes?: boolean;
  backupRoot?: string[];
  stateDir?: string;
  forks?: number;
  breakLock?: boolean;
  json?: boolean;
  /** the newest N settled runs on each host keep their directories (default 1) */
  keepLast?: number;
  /** prune directories of runs with no journal on this machine */
  includeUnknown?: boolean;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

export async function pruneCmd(o: PruneCmdOptions): Promise<{ exitCode: number; results: PruneHostResult[] }> {
  const out = o.stdout ?? process.stdout;
  if (!o.olderThan) throw userError('usage', 'prune: give --older-than, e.g. --older-than 30d', { hint: 'nothing is pruned without an age' });
  const olderThanMs = parseDuration(o.olderThan);
  const inv = await loadHostsInventory(o, o.stderr ?? process.stderr);
  if (!inv) return { exitCode: EXIT.invalidInput, results: [] };
  const hosts = selectHosts(inv, o.pattern ?? 'all', o.limit);
  const conn = await connectOptions(o);
  const limit = pLimit(o.forks ?? DEFAULT_FORKS);
  const stateDir = o.stateDir ?? defaultStateDir(process.cwd());
  const operator = operatorName();
  // an explicit --state-dir is the only place journals are read from (as rollback and resume do)
  const runs = loadRunOutcomes(allStateDirs(o.stateDir));
  const policy = { runs, hosts: indexRunHosts(runs.values()), keepLast: o.keepLast ?? 1, includeUnknown: o.includeUnknown === true };
  const results = await Promise.all(
    hosts.map((h) =>
      limit(async (): Promise<PruneHostResult> => {
        let t;
        try {
          t = await openTransport(h, conn);
        } catch (e) {
          return { host: h.name, candidates: [], held: [], removed: [], error: e instanceof Error ? e.message : String(e) };
        }
        try {
          return await pruneHost({ host: h, policy, transport: t, lockPath: lockPathFor(h), backupRoots: o.backupRoot?.length ? o.backupRoot : [DEFAULT_BACKUP_ROOT], olderThanMs, apply: o.yes === true, operator, stateDir, ...(o.breakLock ? { breakLock: true } : {}) });
        } finally {
          await t.close().catch(() => undefined);
        }
      }),
    ),
  );
  for (const r of results) {
    if (o.json) {
      out.write(JSON.stringify({ ...r, dryRun: !o.yes }) + '\n');
      continue;
    }
    if (r.error) out.write(`${r.host}: ${r.error}\n`);
    const what = (c: PruneCandidate) => `${c.path} (${c.kind === 'kept' ? 'kept copies' : 'backup'} of run ${c.runId}, ${c.ageDays} days old)`;
    for (const c of r.candidates) out.write(`${r.host}: ${o.yes ? (r.removed.includes(c.path) ? 'removed' : 'not removed') : 'would remove'} ${what(c)}\n`);
    for (const c of r.held) out.write(`${r.host}: keeping ${what(c)}: ${c.reason}\n`);
    if (!r.error && r.candidates.length === 0 && r.held.length === 0) out.write(`${r.host}: nothing older than ${o.olderThan}\n`);
  }
  if (!o.yes && results.some((r) => r.candidates.length)) out.write('dry run: nothing removed; add --yes to remove these\n');
  return { exitCode: results.some((r) => r.error) ? EXIT.failedHosts : EXIT.ok, results };
}

export function register(program: Command): void {
  const cmd = program
    .command('prune')
    .description("list (or with --yes remove) old runs' kept copies (beside the host's lock) and backup directories (<backup root>/<run id>) on the hosts; only runs the journals here show completed or rolled back on the host, never the newest of those (--keep-last), nor anything a failed or interrupted run may be restored from; removals are logged to <state dir>/prune.jsonl")
    .argument('[pattern]', 'hosts pattern (default all)')
    .option('--older-than <age>', 'runs older than this (30d, 12h); required')
    .option('--yes', 'remove them (default: only list)')
    .option('--backup-root <dir>', `where backups are made, one directory per run id (default ${DEFAULT_BACKUP_ROOT}; repeatable)`, (v: string, p: string[] = []) => [...p, v])
    .option('--keep-last <n>', 'the newest N runs that completed (or were rolled back) on each host keep their directories (default 1; 0 keeps none)', nonNegativeInt('--keep-last'))
    .option('--include-unknown', 'also remove directories of runs no journal on this machine knows (default: kept, their outcome is unknown)')
    .option('--state-dir <dir>', 'where run journals are read and prune.jsonl is written (default: the git root\'s .runbook, the XDG state dir and those it indexes)')
    .option('-f, --forks <n>', 'hosts at once', positiveInt('--forks'))
    .option('--break-lock', 'remove a lock held by another run')
    .option('--json', 'one JSON object per host');
  addConnectionOptions(addHostOptions(cmd)).action(async (pattern: string | undefined, opts: Omit<PruneCmdOptions, 'pattern'>) => {
    const { exitCode } = await pruneCmd({ ...opts, ...(pattern ? { pattern } : {}) });
    process.exitCode = exitCode;
  });
}
