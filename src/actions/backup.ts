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
 *
 * Symlinks (restore refuses a manifest with a symlink pointing outside the backed-up roots, and a
 * change made through such a link would not be in the backup):
 *  - a path that is itself a symlink is followed: its target (a chain, to its end) is backed up as
 *    a root too, so restore puts back both the link and the files it leads to. The probe finds
 *    them (transport.stat where files are read in-process; one exec reading the links), so `plan`
 *    shows it;
 *  - a symlink INSIDE a backed-up directory is kept as a link; one pointing outside every root
 *    makes the step fail before any change, naming it and its target (`plan` finds them too, with
 *    one `find -type l`). The fresh manifest is checked with restore's own validateManifest: a
 *    backup restore would refuse is never taken.
 */
import { posix } from 'node:path';
import type { BackupParams } from '../runbook/schema-types.js';
import { displayCommand, quoteArg } from '../transport/quote.js';
import type { Action, StepContext } from './types.js';
import { LIST_SCRIPT, parseListing, rootPaths, stripPrefix, symlinksOutside, validateManifest, type Manifest, type OutsideLink, type TreeEntry } from './tree.js';
import { absPath, describeExit, isWithin, PRESENT_FN, run, stepError } from './util.js';
import { isNotFound } from '../errors.js';

export const MANIFEST_NAME = 'manifest.json';

export interface BackupState {
  to: string;
  /** the roots: the paths as given, and the target of each one that is a symlink */
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
  // `; echo x` and `%?x`: $(...) strips trailing newlines, which a directory's name may end in
  '    d=$(dirname -- "$p"; echo x); d=$to/.partial${d%?x}',
  '    mkdir -p -- "$d"',
  '    cp -a -- "$p" "$d/"',
  '  fi',
  'done',
  'mv -T -- "$to/.partial" "$to/files"',
  // on disk before the step that follows changes anything: after a power cut, a change that
  // survived and a backup that did not would leave the host neither done nor restorable.
  // syncfs of the backup's filesystem; a sync without -f (busybox, coreutils < 8.24) flushes all
  'sync -f -- "$to/files" 2>/dev/null || sync',
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

/** Literal script: for each path given that is a symlink, its path and target, NUL-separated. */
const LINKS_SCRIPT = 'for p in "$@"; do if [ -L "$p" ]; then t=$(readlink -- "$p") || exit 1; printf \'%s\\0%s\\0\' "$p" "$t"; fi; done';

/** Literal script: every symlink under the paths given (those present), path and target, NUL-separated. */
const INNER_LINKS_SCRIPT = [PRESENT_FN, 'for p in "$@"; do', '  if present "$p"; then find "$p" -type l -printf \'%p\\0%l\\0\' || exit 3; fi', 'done'].join('\n');

/** NUL-separated pairs → [first, second][]. */
function pairs(stdout: string): [string, string][] {
  const f = stdout.split('\0');
  f.pop();
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < f.length; i += 2) out.push([f[i]!, f[i + 1]!]);
  return out;
}

/** Which of `paths` are symlinks, and their targets as written (one exec, only for links when stat is in-process). */
async function readLinks(ctx: StepContext, paths: string[]): Promise<[string, string][]> {
  let maybe = paths;
  if (ctx.transport.filesInProcess === true) {
    const st = await Promise.all(paths.map((p) => ctx.transport.stat(p)));
    maybe = paths.filter((_, i) => st[i]?.type === 'symlink');
  }
  if (maybe.length === 0) return [];
  const r = await run(ctx, ['sh', '-c', LINKS_SCRIPT, 'sh', ...maybe]);
  if (r.code !== 0) throw stepError(`backup: cannot read the symlinks among ${maybe.join(', ')}: ${describeExit(r)}`);
  return pairs(r.stdout);
}

/**
 * The roots to copy: `given`, and for each one that is a symlink its target (followed along a
 * chain), so the backup holds the files the link leads to and restore puts back both. A target
 * already inside a root adds nothing; a root inside a target is held by the target's copy.
 */
async function followRoots(ctx: StepContext, given: string[], to: string): Promise<{ paths: string[]; followed: { link: string; target: string }[] }> {
  let roots = [...given];
  const followed: { link: string; target: string }[] = [];
  for (let check = given, hops = 0; check.length; hops++) {
    if (hops >= 40) throw stepError(`backup: too many levels of symbolic links from ${check.join(', ')}`);
    const next: string[] = [];
    for (const [link, raw] of await readLinks(ctx, check)) {
      const target = posix.resolve(posix.dirname(link), raw);
      followed.push({ link, target });
      if (roots.some((r) => isWithin(target, r))) continue;
      if (target === '/') throw stepError(`backup: ${link} is a symlink to /: refusing to back up /`);
      roots = [...roots.filter((r) => !isWithin(r, target)), target];
      next.push(target);
    }
    check = next;
  }
  const why = refuseBackupDir(to, roots);
  if (why) throw stepError(`backup: ${why} (following ${followed.map((f) => `${f.link} → ${f.target}`).join(', ')})`, 'choose another `to`, e.g. /var/backups/runbook/{{ run.id }}');
  return { paths: roots, followed };
}

/** The error for symlinks inside the roots that point outside them: restore would refuse the backup. */
function outsideError(links: OutsideLink[], roots: string[]): Error {
  const list = links.map((l) => `${l.path} → ${l.target}${l.target === l.resolved ? '' : ` (${l.resolved})`}`).join(', ');
  const targets = [...new Set(links.map((l) => l.resolved))];
  return stepError(
    `backup: refusing to back up ${roots.join(', ')}: ${links.length === 1 ? 'symlink' : 'symlinks'} ${list} ${links.length === 1 ? 'points' : 'point'} outside the backed-up paths: restore would refuse this backup, and what is changed through ${links.length === 1 ? 'it' : 'them'} would not be in it; nothing was changed`,
    `add ${targets.join(', ')} to backup.paths too (a path that is itself a symlink is followed; a symlink inside a backed-up directory is not)`,
  );
}

/** Dry run: the symlinks inside the roots that point outside them (apply checks its fresh manifest instead). */
async function innerLinksOutside(ctx: StepContext, roots: string[]): Promise<OutsideLink[]> {
  const r = await run(ctx, ['sh', '-c', INNER_LINKS_SCRIPT, 'sh', ...roots]);
  if (r.code !== 0) throw stepError(`backup: cannot list the symlinks under ${roots.join(', ')}: ${describeExit(r)}`);
  const entries: Pick<TreeEntry, 'path' | 'type' | 'target'>[] = pairs(r.stdout).map(([path, target]) => ({ path, type: 'symlink', target }));
  return symlinksOutside(entries, roots);
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

/**
 * The fresh manifest, checked as restore will check it: a backup restore would refuse (a symlink
 * pointing outside the roots) is removed and the step fails, before any change.
 */
async function refuseUnrestorable(ctx: StepContext, manifest: Manifest, to: string): Promise<void> {
  const roots = manifest.roots.map((r) => r.path);
  const outside = symlinksOutside(manifest.entries, roots);
  let refusal: Error | undefined = outside.length ? outsideError(outside, roots) : undefined;
  if (!refusal) {
    try {
      validateManifest(manifest, `backup ${to}`);
    } catch (e) {
      refusal = e instanceof Error ? e : new Error(String(e));
    }
  }
  if (!refusal) return;
  // no manifest is written: the copy goes too (it may hold private keys)
  await run(ctx, ['sh', '-c', 'rm -rf -- "$1/files"; rmdir -- "$1" 2>/dev/null; exit 0', 'sh', to]);
  throw refusal;
}

export const backupAction: Action<BackupParams, BackupState> = {
  type: 'backup',
  readOnly: false,

  async probe(ctx, params) {
    const { to, paths: given } = normalize(params);
    const existing = (await readManifestJson(ctx, to)) as Partial<Manifest> | undefined;
    if (existing) {
      if (existing.run_id === ctx.runId && existing.host !== ctx.hostName) {
        // the same directory seen by two hosts of one run: a shared filesystem, or one machine under two names
        throw stepError(
          `backup: ${to} already holds this run's backup of host ${JSON.stringify(existing.host)}; ${ctx.hostName} would overwrite it, and a rollback of either would put back the other's files`,
          'give each host its own directory, e.g. /var/backups/runbook/{{ run.id }}/{{ inventory_hostname }}, or list one machine once in the inventory',
        );
      }
      if (existing.run_id === ctx.runId) {
        // made by this run (resume): the roots it holds, links followed included
        const held = rootPaths(existing.roots);
        const paths = held?.length ? held : given;
        return { status: 'ok', commands: [], summary: `backup ${to} was made by this run`, state: { to, paths, done: true } };
      }
      throw stepError(
        `backup: ${to} already holds a backup from run ${JSON.stringify(existing.run_id)}; refusing to overwrite it`,
        'use a directory per run, e.g. /var/backups/runbook/{{ run.id }}',
      );
    }
    const { paths, followed } = await followRoots(ctx, given, to);
    if (ctx.dryRun) {
      const outside = await innerLinksOutside(ctx, paths);
      if (outside.length) throw outsideError(outside, paths);
    }
    const via = followed.length ? ` (following ${followed.map((f) => `${f.link} → ${f.target}`).join(', ')})` : '';
    return { status: 'change', commands: displayCommands(to, paths), summary: `back up ${paths.join(', ')} to ${to}${via}`, state: { to, paths, done: false } };
  },

  async apply(ctx, params, probe) {
    const { to, paths, done } = probe.state ?? (await backupAction.probe(ctx, params)).state;
    if (done) return { changed: false, commands: [] };
    const r = await run(ctx, ['sh', '-c', BACKUP_SCRIPT, 'sh', to, ...paths]);
    if (r.code !== 0) throw stepError(`backup to ${to} failed: ${describeExit(r)}`);
    const copy = parseListing(r.stdout);
    const filesDir = `${to}/files`;
    const entries = stripPrefix(copy, filesDir).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const roots = paths.map((p) => ({ path: p, existed: entries.some((e) => e.path === p) }));
    const manifest: Manifest = { version: 1, created: new Date().toISOString(), host: ctx.hostName, run_id: ctx.runId, roots, entries };
    await refuseUnrestorable(ctx, manifest, to);
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
