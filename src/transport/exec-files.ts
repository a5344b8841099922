/**
 * File operations as commands, for when the transport's own file access (SFTP, the local fs) would act
 * as the wrong user: with become, they run through sudo as the become user, like every command.
 * Shared by the SSH and local transports; `run` runs one argv (through sudo) and returns raw output.
 */
import { ioError as makeIoError, messageOf, type UserError } from '../errors.js';
import type { Arg } from './quote.js';
import type { FileStat } from './types.js';

export type RawRun = (argv: readonly Arg[], stdin?: Buffer) => Promise<{ code: number | null; stdout: Buffer; stderr: Buffer }>;

function ioError(host: string, op: string, path: string, detail: string): UserError {
  return makeIoError(op, path, host, detail, errnoOf(detail));
}

/** SFTP status codes (draft-ietf-secsh-filexfer-02) and tools' messages → errno names; only ENOENT/ENOTDIR mean absent. */
export function errnoOf(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'number') return ({ 2: 'ENOENT', 3: 'EACCES', 4: 'EIO', 5: 'EBADMSG', 6: 'ENOTCONN', 7: 'ECONNRESET', 8: 'ENOTSUP' } as Record<number, string>)[code] ?? 'EIO';
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  const text = typeof e === 'string' ? e : messageOf(e);
  if (/no such file/i.test(text)) return 'ENOENT';
  if (/not a directory/i.test(text)) return 'ENOTDIR';
  if (/permission denied/i.test(text)) return 'EACCES';
  if (/is a directory/i.test(text)) return 'EISDIR';
  if (/too many levels of symbolic links/i.test(text)) return 'ELOOP';
  if (/no space left/i.test(text)) return 'ENOSPC';
  return 'EIO';
}

export async function readViaExec(run: RawRun, host: string, path: string): Promise<Buffer> {
  const r = await run(['cat', '--', path]);
  if (r.code !== 0) {
    const err = r.stderr.toString().trim();
    throw ioError(host, 'read', path, err || `cat exited with ${r.code}`);
  }
  return r.stdout;
}

export function statFromMode(mode: number, size: number, uid: number, gid: number, mtimeMs: number): FileStat {
  const fmt = mode & 0o170000;
  const type: FileStat['type'] = fmt === 0o100000 ? 'file' : fmt === 0o040000 ? 'directory' : fmt === 0o120000 ? 'symlink' : 'other';
  return { type, size, mode: mode & 0o7777, uid, gid, mtimeMs };
}

export async function statViaExec(run: RawRun, host: string, path: string): Promise<FileStat | null> {
  // %Y: whole seconds, %y would need parsing; lstat semantics (stat without -L does not follow)
  const r = await run(['stat', '-c', '%f %s %u %g %.9Y', '--', path]);
  if (r.code !== 0) {
    if (/No such file|Not a directory/i.test(r.stderr.toString())) return null;
    throw ioError(host, 'stat', path, r.stderr.toString().trim() || `stat exited with ${r.code}`);
  }
  const [modeHex, size, uid, gid, mtime] = r.stdout.toString().trim().split(' ');
  return statFromMode(parseInt(modeHex!, 16), Number(size), Number(uid), Number(gid), Math.round(Number(mtime) * 1000));
}

/**
 * Write to `tmp` beside `path` (a leftover is removed first, then created with O_EXCL: never written
 * through a link; umask 077 until the mode is set), keep the old file's owner
 * and mode unless a mode is given (a new file: 0644, owned by the become user), fsync, rename over.
 * $1 = temp, $2 = path, $3 = octal mode or ''.
 */
const WRITE_SCRIPT = [
  'set -e',
  'umask 077',
  'rm -f -- "$1"',
  'set -C',
  'cat > "$1"',
  'set +C',
  'm=$3',
  'if [ -f "$2" ]; then chown --reference="$2" -- "$1" 2>/dev/null || true; [ -n "$m" ] || m=$(stat -c %a -- "$2"); fi',
  '[ -n "$m" ] || m=644',
  'chmod "$m" -- "$1"',
  'sync -- "$1" 2>/dev/null || true',
  'mv -f -- "$1" "$2"',
].join('\n');

export async function writeViaExec(run: RawRun, host: string, tmp: string, path: string, data: Buffer, mode: number | undefined): Promise<void> {
  const r = await run(['sh', '-c', WRITE_SCRIPT, 'sh', tmp, path, mode === undefined ? '' : mode.toString(8)], data);
  if (r.code !== 0) {
    await run(['rm', '-f', '--', tmp]).catch(() => undefined);
    throw ioError(host, 'write', path, r.stderr.toString().trim() || `exit ${r.code}`);
  }
}
