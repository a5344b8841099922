/**
 * A lock file on each host so two runs never change it at once. Created atomically with the
 * shell's noclobber (`set -C`: O_EXCL) in one round trip; it holds one JSON line
 * {run_id, operator, pid, started}. A lock held by the same run id (a killed run being rolled
 * back) is taken over; `--break-lock` removes anyone's lock first. Released at the end of the
 * run only when it is still ours.
 */
import { userError } from '../errors.js';
import type { HostEntry } from '../inventory/types.js';
import type { Transport } from '../transport/types.js';

export const DEFAULT_LOCK_PATH = '/var/lib/runbook/lock';

/** The host's lock file: its `runbook_lock_path` variable when absolute, else the default. */
export function lockPathFor(h: HostEntry): string {
  const v = h.vars.runbook_lock_path;
  return typeof v === 'string' && v.startsWith('/') ? v : DEFAULT_LOCK_PATH;
}

export interface LockInfo {
  run_id: string;
  operator: string;
  pid: number;
  started: string;
}

/** $1 = lock path, $2 = our JSON line, $3 = our run id, $4 = 1 to break an existing lock. */
const ACQUIRE_SCRIPT = [
  'l=$1; d=$(dirname -- "$l")',
  'mkdir -p -- "$d" || exit 3',
  'if [ "$4" = 1 ]; then rm -f -- "$l"; fi',
  'if ( set -C; printf "%s\\n" "$2" > "$l" ) 2>/dev/null; then exit 0; fi',
  'if grep -q -F -- "\\"run_id\\":\\"$3\\"" "$l" 2>/dev/null; then printf "%s\\n" "$2" > "$l" && exit 0; fi',
  'cat -- "$l" 2>/dev/null',
  'exit 1',
].join('\n');

/** $1 = lock path, $2 = our run id: remove only our own lock. */
const RELEASE_SCRIPT = ['l=$1', 'if grep -q -F -- "\\"run_id\\":\\"$2\\"" "$l" 2>/dev/null; then rm -f -- "$l" || exit 2; fi', 'exit 0'].join('\n');

export function describeHolder(text: string): string {
  try {
    const h = JSON.parse(text.trim().split('\n')[0] ?? '') as Partial<LockInfo>;
    return `run ${h.run_id ?? '?'} by ${h.operator ?? '?'} (pid ${h.pid ?? '?'}) since ${h.started ?? '?'}`;
  } catch {
    return `an unreadable lock (${JSON.stringify(text.trim().slice(0, 80))})`;
  }
}

export async function acquireLock(t: Transport, path: string, info: LockInfo, opts: { breakLock?: boolean } = {}): Promise<void> {
  const r = await t.exec(['sh', '-c', ACQUIRE_SCRIPT, 'sh', path, JSON.stringify(info), info.run_id, opts.breakLock ? '1' : '0']);
  if (r.code === 0) return;
  if (r.code === 1) {
    throw userError('lock', `${t.host} is locked by ${describeHolder(r.stdout)} (${path})`, {
      host: t.host,
      hint: 'wait for that run to finish, or pass --break-lock if it is stale',
    });
  }
  throw userError('lock', `cannot create the lock ${path} on ${t.host}: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`, { host: t.host });
}

export async function releaseLock(t: Transport, path: string, runId: string): Promise<void> {
  const r = await t.exec(['sh', '-c', RELEASE_SCRIPT, 'sh', path, runId]);
  if (r.code !== 0) throw userError('lock', `cannot remove the lock ${path} on ${t.host}: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`}`, { host: t.host });
}

/** Read-only: who holds the lock now (for plan's warning), or undefined. */
export async function lockHolder(t: Transport, path: string): Promise<string | undefined> {
  try {
    const st = await t.stat(path);
    if (!st) return undefined;
    return describeHolder((await t.read(path)).toString('utf8'));
  } catch {
    return undefined;
  }
}
