/**
 * What a tree holds, entry by entry, for "byte-identical" checks (rollback tests, the demo):
 * `d 755` for a directory, `l <target>` for a symlink, `f 644 <sha256>` for a file, `o 600` for
 * anything else (FIFO, socket, device).
 * Read from the operator's side (lab hosts' private trees are reachable through lab.hostPath).
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Called for every entry under `abs` (itself included), in sorted order; nothing when `abs` is missing. */
export function walkTree(abs: string, rel: string, visit: (rel: string, desc: string, size: number) => void): void {
  let st;
  try {
    st = lstatSync(abs);
  } catch {
    return;
  }
  const mode = (st.mode & 0o7777).toString(8);
  if (st.isSymbolicLink()) visit(rel, `l ${readlinkSync(abs)}`, 0);
  else if (st.isDirectory()) {
    visit(rel, `d ${mode}`, 0);
    for (const name of readdirSync(abs).sort()) walkTree(join(abs, name), rel ? `${rel}/${name}` : name, visit);
  } else if (!st.isFile()) {
    visit(rel, `o ${mode}`, 0); // a FIFO or socket: reading it would block or fail
  } else {
    const data = readFileSync(abs);
    visit(rel, `f ${mode} ${createHash('sha256').update(data).digest('hex')}`, data.length);
  }
}

/**
 * Every entry under each root, keyed by its path as named in `roots`; `where` maps a root to the
 * directory to read (e.g. a lab host's private tree). A missing root is left out, or recorded as
 * `absent` with `markAbsent` (so a root that appears later counts as a difference either way).
 */
export function treeSnapshot(roots: readonly string[], where: (root: string) => string = (r) => r, opts: { markAbsent?: boolean } = {}): Map<string, string> {
  const out = new Map<string, string>();
  for (const root of roots) {
    const before = out.size;
    walkTree(where(root), root, (rel, desc) => out.set(rel, desc));
    if (out.size === before && opts.markAbsent) out.set(root, 'absent');
  }
  return out;
}
