/** Helpers shared by the step types. Everything reaches the host through ctx.transport. */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { userError, UserError } from '../errors.js';
import type { ExecOptions, ExecResult, FileStat } from '../transport/types.js';
import { displayCommand, quoteArg, type Arg } from '../transport/quote.js';
import { modeString } from './mode.js';
import type { ProbeResult, StepContext } from './types.js';

export type Scalar = string | number | boolean;

/** A failed step: the engine reports it against the host and step. */
export function stepError(message: string, hint?: string): UserError {
  return userError('step', message, hint ? { hint } : {});
}

/** argv items as strings; a string here is a template the engine did not expand into a list. */
export function toArgv(value: unknown, what: string): string[] {
  if (Array.isArray(value)) {
    if (value.length === 0) throw stepError(`${what}: the command is empty`);
    return value.map((v, i) => {
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'boolean') return String(v);
      throw stepError(`${what}: argument ${i + 1} is ${v === null ? 'null' : typeof v}, expected a string`);
    });
  }
  if (typeof value === 'string') {
    throw stepError(`${what}: expected a list of arguments, got the string ${JSON.stringify(value)}`, 'write the command as a list: [kubeadm, version]');
  }
  throw stepError(`${what}: expected a list of arguments`);
}

export function envStrings(env: Record<string, Scalar> | undefined): Record<string, string> | undefined {
  if (!env) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) out[k] = String(v);
  return out;
}

/** Run one argv on the host with the step's timeout. */
export function run(ctx: StepContext, argv: readonly Arg[], options: ExecOptions = {}): Promise<ExecResult> {
  const opts: ExecOptions = { ...options };
  if (opts.timeoutMs === undefined && ctx.timeoutMs !== undefined) opts.timeoutMs = ctx.timeoutMs;
  return ctx.transport.exec(argv, opts);
}

/** Run argv and throw a step error unless it exits 0. */
export async function runOk(ctx: StepContext, argv: readonly Arg[], options: ExecOptions = {}): Promise<ExecResult> {
  const r = await run(ctx, argv, options);
  if (r.code !== 0) throw stepError(`\`${displayCommand(argv)}\` ${describeExit(r)}`);
  return r;
}

export function describeExit(r: ExecResult): string {
  const why = r.timedOut ? 'timed out' : r.code === null ? `was killed${r.signal ? ` by ${r.signal}` : ''}` : `exited ${r.code}`;
  const err = r.stderr.trim() || r.stdout.trim();
  return err ? `${why}: ${lastLines(err, 5)}` : why;
}

export function lastLines(text: string, n: number): string {
  const lines = text.split('\n');
  return lines.slice(-n).join('\n');
}

/** The display form of a command with env and cwd, as the transport runs it. */
export function displayExec(argv: readonly Arg[], options: { env?: Record<string, string>; cwd?: string } = {}): string {
  const env = options.env ? Object.entries(options.env).map(([k, v]) => `${k}=${v}`) : [];
  const cmd = displayCommand(env.length ? ['env', ...env, ...argv] : argv);
  return options.cwd ? `cd ${quoteArg(options.cwd)} && ${cmd}` : cmd;
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** `"0644"` → 0o644; undefined stays undefined. */
export function parseMode(mode: string | undefined, what = 'mode'): number | undefined {
  if (mode === undefined) return undefined;
  const s = String(mode);
  if (!/^0?[0-7]{3,4}$/.test(s)) throw stepError(`${what}: "${s}" is not an octal mode like "0644"`);
  return parseInt(s, 8);
}

/** Absolute, normalised target path (templates may yield `//` or a trailing `/`). */
export function absPath(p: unknown, what: string): string {
  if (typeof p !== 'string' || p.length === 0) throw stepError(`${what}: expected a path`);
  if (!p.startsWith('/')) throw stepError(`${what}: "${p}" is not an absolute path`);
  let n = posix.normalize(p);
  if (n.length > 1 && n.endsWith('/')) n = n.slice(0, -1);
  return n;
}

export function isWithin(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent === '/' ? '/' : parent + '/');
}

/** What a probe learns about one path on the host. */
export interface PathInfo {
  exists: boolean;
  type?: 'file' | 'directory' | 'symlink' | 'other';
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  /** user / group names (only when asked for) */
  user?: string;
  group?: string;
  /** sha256 of a regular file's contents (only when asked for) */
  sha256?: string;
}

/**
 * sh function `present PATH`: true when the path exists (a dangling symlink too), false only when
 * stat says "No such file or directory" or "Not a directory"; any other error (permission denied,
 * I/O error, a symlink loop) is printed and the script exits 5: unreadable is never "absent".
 */
export const PRESENT_FN = [
  'present() {',
  '  if [ -e "$1" ] || [ -L "$1" ]; then return 0; fi',
  '  if __e=$(LC_ALL=C stat -- "$1" 2>&1 >/dev/null); then return 0; fi',
  '  case $__e in *"No such file"*|*"Not a directory"*) return 1 ;; esac',
  '  printf "cannot stat %s: %s\\n" "$1" "$__e" >&2',
  '  exit 5',
  '}',
].join('\n');

/**
 * One read-only probe of a path: `stat` (and `sha256sum` for files) in a single exec.
 * The script is a literal; the path is a positional argument.
 */
const INSPECT_SCRIPT = [
  PRESENT_FN,
  'p=$1',
  'if ! present "$p"; then echo absent; exit 0; fi',
  "stat -c '%a %u %g %s %U %G %F' -- \"$p\" || exit 2",
  'if [ "$2" = 1 ] && [ -f "$p" ] && [ ! -L "$p" ]; then sha256sum < "$p" || exit 3; fi',
].join('\n');

function typeOfStat(f: string): PathInfo['type'] {
  if (f.includes('directory')) return 'directory';
  if (f.includes('symbolic link')) return 'symlink';
  if (f.includes('regular')) return 'file';
  return 'other';
}

/** Files up to this size are hashed on the operator's side when the transport reads them without a process. */
export const LOCAL_HASH_LIMIT = 256 * 1024;

/**
 * Inspect a path. Without `names` this is ctx.transport.stat (no process over SFTP or on local
 * hosts), plus, for `hash` of a small file on such a transport, a read hashed here; otherwise one
 * exec of a small POSIX sh script (stat for owner names, sha256sum for big files).
 */
export async function inspectPath(ctx: StepContext, path: string, want: { hash?: boolean; names?: boolean } = {}): Promise<PathInfo> {
  if (!want.names && (!want.hash || ctx.transport.filesInProcess === true)) {
    const st: FileStat | null = await ctx.transport.stat(path);
    if (!st) return { exists: false };
    const info: PathInfo = { exists: true, type: st.type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size };
    if (!want.hash || st.type !== 'file') return info;
    if (st.size <= LOCAL_HASH_LIMIT) {
      try {
        info.sha256 = sha256(await ctx.transport.read(path));
        return info;
      } catch {
        /* unreadable or gone since the stat: let the script below say what it is */
      }
    }
  }
  const argv = ['sh', '-c', INSPECT_SCRIPT, 'sh', path, want.hash ? '1' : '0'];
  const r = await run(ctx, argv);
  if (r.code !== 0) throw stepError(`cannot inspect ${path}: ${describeExit(r)}`);
  const lines = r.stdout.split('\n');
  if (lines[0] === 'absent') return { exists: false };
  const m = /^([0-7]+) (\d+) (\d+) (\d+) (\S+) (\S+) (.*)$/.exec(lines[0] ?? '');
  if (!m) throw stepError(`cannot inspect ${path}: unexpected stat output ${JSON.stringify(lines[0])}`);
  const info: PathInfo = {
    exists: true,
    mode: parseInt(m[1]!, 8),
    uid: Number(m[2]),
    gid: Number(m[3]),
    size: Number(m[4]),
    user: m[5]!,
    group: m[6]!,
    type: typeOfStat(m[7]!),
  };
  const h = /^([0-9a-f]{64})\b/.exec(lines[1] ?? '');
  if (h) info.sha256 = h[1];
  return info;
}

/** Does `wanted` (a name or a numeric id) name the owner with this id / name? */
export function idMatches(wanted: string | undefined, id: number | undefined, name: string | undefined): boolean {
  if (wanted === undefined) return true;
  if (/^\d+$/.test(wanted)) return Number(wanted) === id;
  return wanted === name;
}

export function isNumericId(v: string | undefined): boolean {
  return v === undefined || /^\d+$/.test(v);
}

/** `chown` argv for owner and/or group (or undefined when neither is given). */
export function chownArgv(path: string, owner: string | undefined, group: string | undefined): string[] | undefined {
  if (owner === undefined && group === undefined) return undefined;
  const spec = owner !== undefined ? (group !== undefined ? `${owner}:${group}` : owner) : `:${group}`;
  return ['chown', spec, '--', path];
}

/** What writeAtomic will do, for plans: content is never shown, only its size and hash. */
export function displayWrite(path: string, size: number, sha: string, mode?: number): string {
  return `write ${quoteArg(path)} (${size} bytes, sha256 ${sha.slice(0, 16)}…${mode !== undefined ? `, mode ${modeString(mode)}` : ''})`;
}

/** Largest previous content kept in an undo record (the journal holds it, base64). */
export const UNDO_CONTENT_LIMIT = 1024 * 1024;

/**
 * May a file's previous content go into an undo record? Only small, world-readable files: the
 * journal lives on the operator's machine and must not collect private keys or kubeconfigs
 * (those come back from the backup instead).
 */
export function journalable(info: { size?: number; mode?: number }): boolean {
  return (info.size ?? 0) <= UNDO_CONTENT_LIMIT && ((info.mode ?? 0) & 0o004) !== 0;
}

/** Is this error the transport's "file does not exist"? (Any other I/O error is not "absent".) */
export { isNotFound } from '../errors.js';

/**
 * Something an earlier step may create is missing. In a dry run those steps have not run, so the
 * probe says `unknown` instead of failing; in a real run (probed just before apply) it fails.
 */
export function missingInDryRun<S>(ctx: StepContext, message: string, state: S, hint?: string): ProbeResult<S> {
  if (ctx.dryRun) return { status: 'unknown', commands: [], summary: `${message} (an earlier step may create it)`, state };
  throw stepError(message, hint);
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export { modeString };

/** The directories above `path` (itself included) that do not exist, outermost first: what `mkdir -p` would make. */
export async function missingAncestors(ctx: StepContext, path: string): Promise<string[]> {
  const missing: string[] = [];
  let p = path;
  while (p !== '/' && !(await ctx.transport.stat(p))) {
    missing.unshift(p);
    p = posix.dirname(p);
  }
  return missing;
}

/**
 * Undo of a `mkdir -p`: the directories it made (outermost first), removed innermost first while
 * empty. One something was put into since (by another run, a daemon) stops it, with the ones
 * above it: removing it would lose what is in it, and it was empty when made.
 */
export async function removeMadeDirs(ctx: StepContext, made: string[] | undefined): Promise<void> {
  if (!made?.length) return;
  await runOk(ctx, ['sh', '-c', 'for d in "$@"; do [ -d "$d" ] || continue; rmdir -- "$d" 2>/dev/null || exit 0; done', 'sh', ...[...made].reverse()]);
}
