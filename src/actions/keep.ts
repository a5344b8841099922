/**
 * Keeping what a step is about to destroy, on the host itself, so its undo can put it back
 * exactly (content, mode, owner, times, symlinks: `cp -a`). Bounded: a tree over KEEP_LIMIT bytes
 * is not kept (the step's undo record then lists it as `lost`, and only a backup covers it).
 * Kept copies live in <keep root>/<run id>/ (beside the host's lock: KEEP_ROOT by default; 0700; private keys stay on the host, never in the
 * operator's journal).
 */
import { posix } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { StepContext } from './types.js';
import { describeExit, run, stepError } from './util.js';
import { phase } from '../engine/profile.js';

export const KEEP_LIMIT = 1024 * 1024;
export const KEEP_ROOT = '/var/lib/runbook/kept';

/** $1 = path, $2 = directory to keep it in, $3 = limit in bytes. Prints `kept` or `too-large N`. */
const KEEP_SCRIPT = [
  'set -eu',
  'export LC_ALL=C',
  'p=$1; d=$2; lim=$3',
  'n=$(du -s -b -- "$p" | cut -f1)',
  'if [ "$n" -gt "$lim" ]; then echo "too-large $n"; exit 0; fi',
  'umask 077',
  'mkdir -p -- "$d"',
  'cp -a -- "$p" "$d/"',
  // on disk before the step removes the original (see backup.ts)
  'sync -f -- "$d" 2>/dev/null || sync',
  'echo kept',
].join('\n');

/**
 * $1 = kept copy, $2 = path, $3 = 1 to replace what is at path now. Copies beside the path,
 * then renames over it (a directory being replaced is moved aside first, then removed).
 */
const PUT_BACK_SCRIPT = [
  'set -eu',
  'k=$1; p=$2',
  'if [ -e "$p" ] || [ -L "$p" ]; then [ "$3" = 1 ] || { echo present; exit 0; }; fi',
  'd=$(dirname -- "$p"; echo x); mkdir -p -- "${d%?x}"',
  't=$p.runbook-put-back-$$',
  'rm -rf -- "$t"',
  'cp -a -- "$k" "$t"',
  'if [ -d "$p" ] && [ ! -L "$p" ]; then mv -T -- "$p" "$t.old"; mv -T -- "$t" "$p"; rm -rf -- "$t.old"; else mv -T -- "$t" "$p"; fi',
  'echo put-back',
].join('\n');

/** Keep a copy of `path` (anything: file, tree, symlink); the copy's path, or undefined when it is over the limit. */
export async function keepCopy(ctx: StepContext, path: string, limit = KEEP_LIMIT): Promise<string | undefined> {
  const dir = `${ctx.keepRoot ?? KEEP_ROOT}/${ctx.runId}/${randomBytes(6).toString('hex')}`;
  const r = await phase('backup', () => run(ctx, ['sh', '-c', KEEP_SCRIPT, 'sh', path, dir, String(limit)]));
  if (r.code !== 0) throw stepError(`cannot keep a copy of ${path} on ${ctx.hostName} before changing it: ${describeExit(r)}`);
  if (r.stdout.startsWith('too-large')) return undefined;
  return `${dir}/${posix.basename(path)}`;
}

/** Put a kept copy back at `path`; unless `replace`, something there now is left alone (false). */
export async function putBack(ctx: StepContext, kept: string, path: string, replace: boolean): Promise<boolean> {
  const r = await run(ctx, ['sh', '-c', PUT_BACK_SCRIPT, 'sh', kept, path, replace ? '1' : '0']);
  if (r.code !== 0) throw stepError(`cannot put ${path} back from ${kept} on ${ctx.hostName}: ${describeExit(r)}`);
  return r.stdout.trim() === 'put-back';
}
