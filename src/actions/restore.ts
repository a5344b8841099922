/**
 * `restore`: put paths back as a `backup` recorded them, and prove it.
 *
 * For each unit (each recorded root, or the `paths` asked for, which must lie inside a root):
 * what is there now is replaced by the backup's copy (`cp -a` to a temp name beside it, then
 * `rm -rf` of the current tree and `mv` — files that appeared since the backup go too); a unit
 * that did not exist at backup time is removed. Then every entry is verified against the
 * manifest (type, sha256, size, mode, uid, gid, symlink target, nothing extra) and the step
 * fails listing each mismatch.
 *
 * Before anything is removed, the manifest is validated (paths inside the recorded roots, no
 * `..`, no path through a symlink, no symlink pointing outside the roots) and the backup's copy is
 * verified against it: a damaged backup never replaces a live tree.
 *
 * probe: one transport.read (manifest) + one exec listing the current units and the backup copy
 * → ok when the current tree is identical to the manifest.
 * apply: the probe's two round trips (already done by the probe it is given), one exec that
 * swaps the trees, one exec listing the restored units to verify.
 * `restoreFromManifest(ctx, backupDir, paths?)` does the whole thing for the engine's rollback.
 */
import type { RestoreParams } from '../runbook/schema-types.js';
import { displayCommand } from '../transport/quote.js';
import { userError } from '../errors.js';
import type { Action, ProbeResult, StepContext } from './types.js';
import { MANIFEST_NAME, readManifestJson } from './backup.js';
import { compareTrees, listTrees, stripPrefix, validateManifest, type Manifest } from './tree.js';
import { absPath, describeExit, isWithin, missingInDryRun, plural, run, stepError } from './util.js';

export interface RestoreUnit {
  path: string;
  /** the backup holds this path (false: it did not exist at backup time and is removed) */
  fromBackup: boolean;
}

export interface RestoreState {
  from: string;
  manifest: Manifest;
  units: RestoreUnit[];
  differences: string[];
}

/** Literal script: $1 = backup dir, then pairs (1|0, path). */
const RESTORE_SCRIPT = [
  'set -eu',
  'b=$1; shift',
  'while [ "$#" -gt 1 ]; do',
  '  keep=$1; p=$2; shift 2',
  '  if [ "$keep" = 1 ]; then',
  '    tmp=$p.runbook-restore.$$',
  '    rm -rf -- "$tmp"',
  '    d=$(dirname -- "$p"; echo x); mkdir -p -- "${d%?x}"',
  '    cp -a -- "$b/files$p" "$tmp"',
  '    if [ -d "$p" ] && [ ! -L "$p" ] && [ -d "$tmp" ] && [ ! -L "$tmp" ]; then',
  // a directory onto a directory: swap the contents, then the directory's own owner and mode, so
  // a root that is a mount point (/var/lib/kubelet often is; every lab host's /etc/kubernetes is)
  // is restored too: `rm -rf` of a mount point fails with EBUSY after emptying it
  '      for e in "$p"/* "$p"/.[!.]* "$p"/..?*; do if [ -e "$e" ] || [ -L "$e" ]; then rm -rf -- "$e"; fi; done',
  '      for e in "$tmp"/* "$tmp"/.[!.]* "$tmp"/..?*; do if [ -e "$e" ] || [ -L "$e" ]; then mv -- "$e" "$p"/; fi; done',
  '      chown --reference="$tmp" -- "$p"',
  '      chmod --reference="$tmp" -- "$p"',
  '      rmdir -- "$tmp"',
  '    else',
  '      rm -rf -- "$p"',
  '      mv -T -- "$tmp" "$p"',
  '    fi',
  '  else',
  '    rm -rf -- "$p"',
  '  fi',
  // what rollback reports as restored is on disk: each path's own filesystem (it may be a mount
  // point), or its parent's when it was removed; not a global sync, which a hung mount elsewhere holds
  '  if [ -e "$p" ]; then s=$p; else s=$(dirname -- "$p"; echo x); s=${s%?x}; fi',
  '  sync -f -- "$s" 2>/dev/null || sync',
  'done',
].join('\n');

export function unitCommands(from: string, units: RestoreUnit[]): string[] {
  const out: string[] = [];
  for (const u of units) {
    out.push(displayCommand(['rm', '-rf', '--', u.path]));
    if (u.fromBackup) out.push(displayCommand(['cp', '-a', '--', `${from}/files${u.path}`, u.path]));
  }
  return out;
}

function unitsOf(manifest: Manifest, from: string, paths: string[] | undefined): RestoreUnit[] {
  const wanted = paths && paths.length ? paths.map((p) => absPath(p, 'restore.paths')) : manifest.roots.map((r) => r.path);
  const units: RestoreUnit[] = [];
  for (const p of wanted) {
    const root = manifest.roots.find((r) => isWithin(p, r.path));
    if (!root) throw stepError(`restore: ${p} is not in the backup ${from} (it holds ${manifest.roots.map((r) => r.path).join(', ')})`);
    if (isWithin(p, from) || isWithin(from, p)) throw stepError(`restore: ${p} overlaps the backup directory ${from}`);
    if (units.some((u) => isWithin(p, u.path) || isWithin(u.path, p))) throw stepError(`restore: ${p} overlaps another path`);
    // through a symlink the backup holds, the path is another one: its rm -rf would follow the
    // link and remove the target's file, which the manifest lists under the target's own path
    const link = manifest.entries.find((e) => e.type === 'symlink' && e.path !== p && isWithin(p, e.path));
    if (link) throw stepError(`restore: ${p} is reached through ${link.path}, a symlink in the backup (to ${link.target ?? '?'}); nothing was changed`, 'name the path without the symlink (the backup holds the target under its own path)');
    units.push({ path: p, fromBackup: root.existed && manifest.entries.some((e) => e.path === p) });
  }
  return units;
}

/**
 * Read and check everything; nothing is written.
 * `expectedRoots`: the paths the backup step that made `fromPath` copied (the engine's rollback
 * knows them from the run); a manifest naming any other root was edited, and is refused before
 * anything is removed.
 */
export async function inspectRestore(ctx: StepContext, fromPath: string, paths?: string[], manifestJson?: unknown, expectedRoots?: string[]): Promise<RestoreState> {
  const from = absPath(fromPath, 'restore.from');
  const json = manifestJson ?? (await readManifestJson(ctx, from));
  if (json === undefined) throw stepError(`restore: no ${MANIFEST_NAME} in ${from}`, 'is this a directory made by a backup step?');
  const manifest = validateManifest(json, `${from}/${MANIFEST_NAME}`);
  if (manifest.host !== '' && manifest.host !== ctx.hostName) {
    throw stepError(`restore: ${from} holds the backup of host ${JSON.stringify(manifest.host)}, not of ${ctx.hostName}; nothing was changed`, 'a backup directory shared by two hosts (a shared filesystem, or one machine under two inventory names) holds one host\'s files');
  }
  if (expectedRoots) {
    const extra = manifest.roots.filter((r) => !expectedRoots.includes(r.path));
    if (extra.length) {
      throw stepError(
        `${from}/${MANIFEST_NAME}: refusing this manifest: it names ${extra.map((r) => r.path).join(', ')}, outside the paths the run's backup step backed up (${expectedRoots.join(', ')}); nothing was changed`,
      );
    }
  }
  const units = unitsOf(manifest, from, paths);
  const filesDir = `${from}/files`;
  const listed = await listTrees(ctx, [...units.map((u) => u.path), ...units.filter((u) => u.fromBackup).map((u) => `${filesDir}${u.path}`)]);
  const backupCopy = stripPrefix(listed, filesDir);
  const current = listed.filter((e) => !isWithin(e.path, filesDir));
  const unitPaths = units.map((u) => u.path);
  const damaged = compareTrees(manifest.entries, backupCopy, units.filter((u) => u.fromBackup).map((u) => u.path));
  if (damaged.length) {
    throw stepError(
      `restore: the backup in ${from} does not match its manifest (${plural(damaged.length, 'difference')}); nothing was changed:\n  ${damaged.join('\n  ')}`,
    );
  }
  return { from, manifest, units, differences: compareTrees(manifest.entries, current, unitPaths) };
}

export interface RestoreReport {
  changed: boolean;
  commands: string[];
  restored: string[];
  removed: string[];
}

/** Swap the trees and verify; throws a UserError (kind 'rollback') listing every mismatch. */
export async function applyRestore(ctx: StepContext, state: RestoreState): Promise<RestoreReport> {
  const { from, manifest, units } = state;
  const report: RestoreReport = {
    changed: false,
    commands: [],
    restored: units.filter((u) => u.fromBackup).map((u) => u.path),
    removed: units.filter((u) => !u.fromBackup).map((u) => u.path),
  };
  if (state.differences.length === 0) return report;
  const args = units.flatMap((u) => [u.fromBackup ? '1' : '0', u.path]);
  report.commands = unitCommands(from, units);
  const r = await run(ctx, ['sh', '-c', RESTORE_SCRIPT, 'sh', from, ...args]);
  report.changed = true;
  if (r.code !== 0) throw userError('rollback', `restore from ${from} failed: ${describeExit(r)}`, { host: ctx.hostName });
  const after = await listTrees(ctx, units.map((u) => u.path));
  const mismatches = compareTrees(manifest.entries, after, units.map((u) => u.path));
  if (mismatches.length) {
    throw userError(
      'rollback',
      `restore from ${from}: ${plural(mismatches.length, 'mismatch')} after restoring:\n  ${mismatches.join('\n  ')}`,
      { host: ctx.hostName },
    );
  }
  return report;
}

/** The engine's rollback: restore every root of the backup in `backupDir` and verify it. */
export async function restoreFromManifest(ctx: StepContext, backupDir: string, paths?: string[], expectedRoots?: string[]): Promise<RestoreReport> {
  return applyRestore(ctx, await inspectRestore(ctx, backupDir, paths, undefined, expectedRoots));
}

export const restoreAction: Action<RestoreParams, RestoreState> = {
  type: 'restore',
  readOnly: false,

  async probe(ctx, params): Promise<ProbeResult<RestoreState>> {
    const from = absPath(params.from, 'restore.from');
    const json = await readManifestJson(ctx, from);
    if (json === undefined) return missingInDryRun(ctx, `restore: no ${MANIFEST_NAME} in ${from}`, undefined as unknown as RestoreState, 'is this a directory made by a backup step?');
    const state = await inspectRestore(ctx, from, params.paths, json);
    const n = state.differences.length;
    return {
      status: n ? 'change' : 'ok',
      commands: n ? unitCommands(state.from, state.units) : [],
      summary: n
        ? `${plural(n, 'difference')} from the backup: ${state.differences.slice(0, 3).join('; ')}${n > 3 ? '; …' : ''}`
        : `identical to the backup in ${state.from}`,
      state,
      writes: state.units.map((u) => u.path),
    };
  },

  async apply(ctx, params, probe) {
    if (probe?.status === 'unknown') throw stepError(probe.summary ?? 'not probed');
    const state = probe?.state ?? (await inspectRestore(ctx, params.from, params.paths));
    try {
      const report = await applyRestore(ctx, state);
      return { changed: report.changed, commands: report.commands, facts: { restored: report.restored, removed: report.removed } };
    } catch (e) {
      if (e instanceof Error && 'diagnostic' in e) {
        return { changed: true, failed: true, message: e.message, commands: unitCommands(state.from, state.units) };
      }
      throw e;
    }
  },
};

export default restoreAction;
