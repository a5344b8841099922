/**
 * `backup`: copy `paths` into `to` with `cp -a` (mode, owner, times, symlinks kept) and write
 * `to/manifest.json` ({version, created, host, run_id, roots, entries}) describing every entry
 * with its ORIGINAL absolute path. Layout: `to/files/<original path>` (e.g.
 * `/var/backups/runbook/<run>/files/etc/kubernetes/pki/ca.crt`), `to/manifest.json` (0600); `to`
 * is 0700, since backups hold private keys.
 *
 * probe: one transport.read of `to/manifest.json` (ok when it was made by this run).
 * apply: ONE exec of a literal sh script (paths as positional args): copies into `to/.partial`,
 * renames it to `to/files`, then lists the copy (GNU find + sha256sum) for the entries; then
 * one transport.writeAtomic of the manifest. The entries describe the copy, i.e. exactly what
 * restore will put back.
 * Refuses `to` inside a kubelet manifests directory (the kubelet would run the backups as static
 * pods), inside one of `paths`, or a path of `/`.
 */
import { posix } from 'node:path';
import type { BackupParams } from '../runbook/schema-types.js';
import { displayCommand, quoteArg } from '../transport/quote.js';
import type { Action } from './types.js';
import { LIST_SCRIPT, parseListing, stripPrefix, type Manifest } from './tree.js';
import { absPath, describeExit, isWithin, PRESENT_FN, run, stepError } from './util.js';
import { isNotFound } from '../errors.js';

export const MANIFEST_NAME = 'manifest.json';

export interface BackupState {
  to: string;
  paths: string[];
  done: boolean;
}

/** Literal script: $1 = to, $2... = paths. Copies, then lists the copy. */
const BACKUP_SCRIPT = [
  'set -eu',
  PRESENT_FN,
  'to=$1; shift',
  'umask 077',
  'mkdir -p -- "$to"',
  'chmod 700 -- "$to"',
  'rm -rf -- "$to/.partial" "$to/files"',
  'mkdir -p -- "$to/.partial"',
  'for p in "$@"; do',
  '  if present "$p"; then',
  '    d=$to/.partial$(dirname -- "$p")',
  '    mkdir -p -- "$d"',
  '    cp -a -- "$p" "$d/"',
  '  fi',
  'done',
  'mv -T -- "$to/.partial" "$to/files"',
  'n=$#',
  'for p in "$@"; do set -- "$@" "$to/files$p"; done',
  'shift "$n"',
  'set +e',
  LIST_SCRIPT,
].join('\n');

/** Why `to` must not be used, or undefined. */
export function refuseBackupDir(to: string, paths: string[]): string | undefined {
  const segs = to.split('/');
  const k = segs.indexOf('kubernetes');
  if (k >= 0 && segs.slice(k + 1).includes('manifests')) {
    return `backup directory ${to} is inside a kubelet manifests directory: the kubelet would load the backed-up files as static pods`;
  }
  for (const p of paths) {
    if (isWithin(to, p)) return `backup directory ${to} is inside ${p}, which is being backed up`;
    if (isWithin(p, to)) return `${p} is inside the backup directory ${to}`;
  }
  return undefined;
}

function normalize(params: BackupParams): { to: string; paths: string[] } {
  const to = absPath(params.to, 'backup.to');
  if (!Array.isArray(params.paths) || params.paths.length === 0) throw stepError('backup.paths: give at least one path');
  const paths: string[] = [];
  for (const p of params.paths) {
    const n = absPath(p, 'backup.paths');
    if (n === '/') throw stepError('backup.paths: refusing to back up /');
    if (paths.some((o) => isWithin(n, o) || isWithin(o, n))) throw stepError(`backup.paths: ${n} overlaps another path`);
    paths.push(n);
  }
  const why = refuseBackupDir(to, paths);
  if (why) throw stepError(`backup: ${why}`, 'choose another `to`, e.g. /var/backups/runbook/{{ run.id }}');
  return { to, paths };
}

function displayCommands(to: string, paths: string[]): string[] {
  const out = [displayCommand(['mkdir', '-p', '-m', '0700', '--', `${to}/files`])];
  for (const p of paths) out.push(displayCommand(['cp', '-a', '--', p, `${to}/files${posix.dirname(p) === '/' ? '' : posix.dirname(p)}/`]));
  out.push(`write ${quoteArg(`${to}/${MANIFEST_NAME}`)} (path, type, size, mode, uid, gid, sha256 of every entry)`);
  return out;
}

/** The manifest in a backup directory, or undefined when there is none. */
export async function readManifestJson(ctx: Parameters<Action['probe']>[0], dir: string): Promise<unknown | undefined> {
  let raw: Buffer;
  try {
    raw = await ctx.transport.read(`${dir}/${MANIFEST_NAME}`);
  } catch (e) {
    // only "no such file" is "no backup here": unreadable is an error, never a reason to overwrite
    if (isNotFound(e)) return undefined;
    throw e;
  }
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw stepError(`${dir}/${MANIFEST_NAME} is not valid JSON`);
  }
}

export const backupAction: Action<BackupParams, BackupState> = {
  type: 'backup',
  readOnly: false,

  async probe(ctx, params) {
    const { to, paths } = normalize(params);
    const existing = (await readManifestJson(ctx, to)) as Partial<Manifest> | undefined;
    if (existing) {
      if (existing.run_id === ctx.runId) {
        return { status: 'ok', commands: [], summary: `backup ${to} was made by this run`, state: { to, paths, done: true } };
      }
      throw stepError(
        `backup: ${to} already holds a backup from run ${JSON.stringify(existing.run_id)}; refusing to overwrite it`,
        'use a directory per run, e.g. /var/backups/runbook/{{ run.id }}',
      );
    }
    return { status: 'change', commands: displayCommands(to, paths), summary: `back up ${paths.join(', ')} to ${to}`, state: { to, paths, done: false } };
  },

  async apply(ctx, params, probe) {
    const { to, paths, done } = probe.state ?? { ...normalize(params), done: false };
    if (done) return { changed: false, commands: [] };
    const r = await run(ctx, ['sh', '-c', BACKUP_SCRIPT, 'sh', to, ...paths]);
    if (r.code !== 0) throw stepError(`backup to ${to} failed: ${describeExit(r)}`);
    const copy = parseListing(r.stdout);
    const filesDir = `${to}/files`;
    const entries = stripPrefix(copy, filesDir).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const roots = paths.map((p) => ({ path: p, existed: entries.some((e) => e.path === p) }));
    const manifest: Manifest = { version: 1, created: new Date().toISOString(), host: ctx.hostName, run_id: ctx.runId, roots, entries };
    await ctx.transport.writeAtomic(`${to}/${MANIFEST_NAME}`, JSON.stringify(manifest, null, 1) + '\n', { mode: 0o600 });
    const files = entries.filter((e) => e.type === 'file').length;
    return {
      changed: true,
      commands: displayCommands(to, paths),
      message: `backed up ${files} files (${entries.length} entries) to ${to}`,
      facts: { dir: to, manifest: `${to}/${MANIFEST_NAME}`, roots, files, entries: entries.length },
    };
  },
};

export default backupAction;
