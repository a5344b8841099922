/**
 * File trees on the host, listed in ONE exec: the backup manifest's entries and restore's
 * verification. GNU find prints every entry as NUL-separated fields (binary-safe names), then
 * `sha256sum` hashes the regular files; names in its output are unescaped as coreutils escapes them.
 */
import { posix } from 'node:path';
import type { StepContext } from './types.js';
import { describeExit, isWithin, modeString, PRESENT_FN, run, stepError } from './util.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'other';

export interface TreeEntry {
  /** absolute path on the host (for a manifest: the original path) */
  path: string;
  type: EntryType;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  sha256?: string;
  target?: string;
}

export interface ManifestRoot {
  path: string;
  existed: boolean;
}

export interface Manifest {
  version: 1;
  created: string;
  host: string;
  run_id: string;
  roots: ManifestRoot[];
  entries: TreeEntry[];
}

/** Lists every path given as an argument (missing ones are skipped). Literal; paths are "$@". */
export const LIST_SCRIPT = [
  PRESENT_FN,
  'for p in "$@"; do',
  '  if present "$p"; then',
  "    find \"$p\" -printf '%y\\0%m\\0%U\\0%G\\0%s\\0%l\\0%p\\0' || exit 3",
  '  fi',
  'done',
  "printf 'END\\0'",
  'for p in "$@"; do',
  '  if present "$p"; then',
  '    find "$p" -type f -exec sha256sum -- {} + || exit 4',
  '  fi',
  'done',
].join('\n');

const TYPES: Record<string, EntryType> = { f: 'file', d: 'dir', l: 'symlink' };

/** Parse LIST_SCRIPT's output. */
export function parseListing(stdout: string): TreeEntry[] {
  const end = stdout.indexOf('END\0');
  if (end < 0) throw stepError('unexpected listing output (no END marker): is GNU find installed on the host?');
  const fields = stdout.slice(0, end).split('\0');
  fields.pop(); // after the last NUL
  if (fields.length % 7 !== 0) throw stepError('unexpected listing output (fields)');
  const entries = new Map<string, TreeEntry>();
  for (let i = 0; i < fields.length; i += 7) {
    const [y, m, u, g, s, l, p] = fields.slice(i, i + 7) as [string, string, string, string, string, string, string];
    const e: TreeEntry = { path: p, type: TYPES[y] ?? 'other', size: Number(s), mode: parseInt(m, 8), uid: Number(u), gid: Number(g) };
    if (e.type === 'symlink') e.target = l;
    entries.set(p, e);
  }
  for (const line of stdout.slice(end + 4).split('\n')) {
    if (!line) continue;
    const escaped = line.startsWith('\\');
    const m = /^\\?([0-9a-f]{64}) [ *](.*)$/s.exec(line);
    if (!m) throw stepError(`unexpected sha256sum output: ${JSON.stringify(line.slice(0, 100))}`);
    const name = escaped ? m[2]!.replace(/\\(\\|n|r)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : '\\')) : m[2]!;
    const e = entries.get(name);
    if (e) e.sha256 = m[1]!;
  }
  return [...entries.values()];
}

/** List the trees at `paths` on the host (one exec). */
export async function listTrees(ctx: StepContext, paths: string[]): Promise<TreeEntry[]> {
  if (paths.length === 0) return [];
  const r = await run(ctx, ['sh', '-c', LIST_SCRIPT, 'sh', ...paths]);
  if (r.code !== 0) throw stepError(`cannot list ${paths.join(', ')}: ${describeExit(r)}`);
  return parseListing(r.stdout);
}

/** Entries under `prefix` with the prefix stripped (`/b/files/etc/x` → `/etc/x`). */
export function stripPrefix(entries: TreeEntry[], prefix: string): TreeEntry[] {
  return entries.filter((e) => e.path.startsWith(prefix + '/')).map((e) => ({ ...e, path: e.path.slice(prefix.length) }));
}

/**
 * Differences between what the manifest says (`expected`) and what is there (`actual`), for the
 * paths under `units`. Directory sizes are not compared (they depend on the filesystem's history).
 */
export function compareTrees(expected: TreeEntry[], actual: TreeEntry[], units: string[]): string[] {
  const inUnits = (p: string) => units.some((u) => isWithin(p, u));
  const want = new Map(expected.filter((e) => inUnits(e.path)).map((e) => [e.path, e]));
  const have = new Map(actual.filter((e) => inUnits(e.path)).map((e) => [e.path, e]));
  const out: string[] = [];
  for (const [p, w] of want) {
    const h = have.get(p);
    if (!h) {
      out.push(`${p}: missing`);
      continue;
    }
    if (h.type !== w.type) {
      out.push(`${p}: is a ${h.type}, expected a ${w.type}`);
      continue;
    }
    if (w.type === 'file' && h.sha256 !== w.sha256) out.push(`${p}: sha256 ${short(h.sha256)} != ${short(w.sha256)}`);
    if (w.type === 'file' && h.size !== w.size) out.push(`${p}: size ${h.size} != ${w.size}`);
    if (w.type === 'symlink' && h.target !== w.target) out.push(`${p}: points to ${h.target}, expected ${w.target}`);
    if (w.type !== 'symlink' && h.mode !== w.mode) out.push(`${p}: mode ${modeString(h.mode)} != ${modeString(w.mode)}`);
    if (h.uid !== w.uid) out.push(`${p}: uid ${h.uid} != ${w.uid}`);
    if (h.gid !== w.gid) out.push(`${p}: gid ${h.gid} != ${w.gid}`);
  }
  for (const p of have.keys()) if (!want.has(p)) out.push(`${p}: not in the backup`);
  return out.sort();
}

function short(h: string | undefined): string {
  return h ? h.slice(0, 12) : '(none)';
}

/** The paths of a manifest's `roots` (as journaled in a backup's facts too), or undefined when one has none. */
export function rootPaths(roots: unknown): string[] | undefined {
  if (!Array.isArray(roots)) return undefined;
  const out = roots.map((r) => (r as { path?: unknown } | null)?.path);
  return out.every((p): p is string => typeof p === 'string') ? out : undefined;
}

/** A symlink whose target lies outside every backed-up root. */
export interface OutsideLink {
  path: string;
  /** as the link says it */
  target: string;
  /** absolute, resolved against the link's directory */
  resolved: string;
}

/**
 * The symlinks among `entries` that point outside every one of `roots`. Restore refuses them (a
 * restored link could lead writes anywhere), and a backup holding one misses what is changed
 * through it: backup refuses them too, before any change (./backup.ts).
 */
export function symlinksOutside(entries: Pick<TreeEntry, 'path' | 'type' | 'target'>[], roots: string[]): OutsideLink[] {
  const out: OutsideLink[] = [];
  for (const e of entries) {
    if (e.type !== 'symlink' || typeof e.target !== 'string') continue;
    const resolved = posix.resolve(posix.dirname(e.path), e.target);
    if (!roots.some((r) => isWithin(resolved, r))) out.push({ path: e.path, target: e.target, resolved });
  }
  return out;
}

/**
 * Check a manifest read from a backup directory before anything is removed: every path is
 * absolute and normalised, every entry lies inside a recorded root that existed, its parent is a
 * directory entry (no path through a symlink), and no symlink points outside the roots.
 */
export function validateManifest(value: unknown, where: string): Manifest {
  const bad = (msg: string) => stepError(`${where}: refusing this manifest: ${msg}`);
  if (typeof value !== 'object' || value === null) throw bad('not a JSON object');
  const m = value as Partial<Manifest>;
  if (m.version !== 1) throw bad(`unsupported version ${JSON.stringify(m.version)}`);
  if (!Array.isArray(m.roots) || !Array.isArray(m.entries)) throw bad('roots and entries must be lists');
  const okPath = (p: unknown): p is string =>
    typeof p === 'string' && p.startsWith('/') && p !== '/' && posix.normalize(p) === p && !p.endsWith('/') && !p.split('/').includes('..') && !p.includes('\0');
  const roots: ManifestRoot[] = [];
  for (const r of m.roots) {
    if (!r || !okPath(r.path) || typeof r.existed !== 'boolean') throw bad(`bad root ${JSON.stringify(r)}`);
    if (roots.some((o) => isWithin(r.path, o.path) || isWithin(o.path, r.path))) throw bad(`roots ${r.path} overlap`);
    roots.push({ path: r.path, existed: r.existed });
  }
  const byPath = new Map<string, TreeEntry>();
  for (const e of m.entries) {
    if (!e || !okPath(e.path)) throw bad(`entry path ${JSON.stringify(e?.path)} is not an absolute, normalised path without ..`);
    const root = roots.find((r) => isWithin(e.path, r.path));
    if (!root) throw bad(`entry ${e.path} is outside the backed-up roots`);
    if (!root.existed) throw bad(`entry ${e.path} is under ${root.path}, which did not exist at backup time`);
    if (!['file', 'dir', 'symlink', 'other'].includes(e.type)) throw bad(`entry ${e.path} has type ${JSON.stringify(e.type)}`);
    for (const k of ['size', 'mode', 'uid', 'gid'] as const) {
      if (typeof e[k] !== 'number' || !Number.isInteger(e[k]) || e[k] < 0) throw bad(`entry ${e.path} has a bad ${k}`);
    }
    if (e.type === 'file' && (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256))) throw bad(`file ${e.path} has no sha256`);
    if (e.type === 'symlink' && typeof e.target !== 'string') throw bad(`symlink ${e.path} has no target`);
    if (byPath.has(e.path)) throw bad(`entry ${e.path} appears twice`);
    byPath.set(e.path, e);
  }
  for (const e of byPath.values()) {
    const root = roots.find((r) => isWithin(e.path, r.path))!;
    if (e.path !== root.path) {
      const parent = byPath.get(posix.dirname(e.path));
      if (!parent || parent.type !== 'dir') throw bad(`entry ${e.path}: its parent is not a directory in the backup (a path through a symlink?)`);
    }
    if (symlinksOutside([e], roots.map((r) => r.path)).length) throw bad(`symlink ${e.path} → ${e.target} points outside the backed-up roots`);
  }
  for (const r of roots) if (r.existed && !byPath.has(r.path)) throw bad(`root ${r.path} existed but has no entry`);
  return {
    version: 1,
    created: String(m.created ?? ''),
    host: String(m.host ?? ''),
    run_id: String(m.run_id ?? ''),
    roots,
    entries: [...byPath.values()],
  };
}
