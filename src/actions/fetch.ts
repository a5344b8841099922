/**
 * `fetch`: copy a file from the host to the operator's machine (`dest`, relative to the working
 * local directory; `{{ host.name }}` in it keeps hosts apart). Directories are created; a
 * different existing file is kept as `<dest>.<UTC timestamp>.bak`; the new file is written
 * atomically (temp + rename) with `mode` (default 0600: kubeconfigs hold keys).
 *
 * probe: one exec on the host (`sha256sum` via inspectPath) + a local read and hash → ok when
 * identical and the mode is right. Writes nothing.
 * apply: one transport.read; local rename/write.
 * undo: the .bak is put back (or the fetched file removed when there was none).
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { FetchParams } from '../runbook/schema-types.js';
import { quoteArg } from '../transport/quote.js';
import type { Action } from './types.js';
import { absPath, inspectPath, missingInDryRun, modeString, parseMode, stepError } from './util.js';

export interface FetchState {
  src: string;
  dest: string;
  mode: number;
  remoteSha: string;
  /** local file: absent, same content, or different */
  local: 'absent' | 'same' | 'different';
  chmodOnly: boolean;
}

function utcStamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z'); // 20250101T120000Z
}

async function writeLocalAtomic(path: string, data: Buffer, mode: number): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.runbook-tmp-${randomBytes(6).toString('hex')}`);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export const fetchAction: Action<FetchParams, FetchState> = {
  type: 'fetch',
  readOnly: true, // writes on the operator's machine only: it changes no host

  async probe(ctx, params) {
    const src = absPath(params.src, 'fetch.src');
    if (typeof params.dest !== 'string' || !params.dest) throw stepError('fetch.dest: expected a local path');
    const dest = resolve(ctx.localDir, params.dest);
    const mode = parseMode(params.mode, 'fetch.mode') ?? 0o600;
    const remote = await inspectPath(ctx, src, { hash: true });
    if (!remote.exists) {
      return missingInDryRun(ctx, `fetch: ${src} does not exist on the host`, { src, dest, mode, remoteSha: '', local: 'absent', chmodOnly: false });
    }
    if (remote.type !== 'file' || !remote.sha256) throw stepError(`fetch: ${src} is not a regular file (${remote.type})`);
    let local: FetchState['local'] = 'absent';
    let chmodOnly = false;
    const st = await stat(dest).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw stepError(`fetch: cannot stat the local ${dest}: ${e.message} (${e.code ?? 'EIO'})`);
    });
    if (st) {
      if (!st.isFile()) throw stepError(`fetch: local ${dest} exists and is not a file`);
      const sha = createHash('sha256').update(await readFile(dest)).digest('hex');
      local = sha === remote.sha256 ? 'same' : 'different';
      chmodOnly = local === 'same' && (st.mode & 0o7777) !== mode;
    }
    const state: FetchState = { src, dest, mode, remoteSha: remote.sha256, local, chmodOnly };
    if (local === 'same' && !chmodOnly) return { status: 'ok', commands: [], summary: `${dest} is up to date`, state };
    const commands =
      local === 'same'
        ? [`chmod ${modeString(mode)} -- ${quoteArg(dest)} (local)`]
        : [
            ...(local === 'different' ? [`mv ${quoteArg(dest)} ${quoteArg(`${dest}.<UTC timestamp>.bak`)} (local)`] : []),
            `fetch ${quoteArg(src)} → ${quoteArg(dest)} (local, mode ${modeString(mode)}, sha256 ${remote.sha256.slice(0, 16)}…)`,
          ];
    return { status: 'change', commands, summary: local === 'absent' ? `new local file ${dest}` : local === 'different' ? `${dest} differs` : `mode of ${dest}`, state };
  },

  async apply(ctx, _params, probe) {
    if (probe.status === 'unknown') throw stepError(probe.summary ?? 'not probed');
    const s = probe.state;
    if (s.local === 'same' && !s.chmodOnly) return { changed: false, commands: [] };
    if (s.chmodOnly) {
      const prev = (await stat(s.dest)).mode & 0o7777;
      await chmod(s.dest, s.mode);
      return { changed: true, commands: [`chmod ${modeString(s.mode)} -- ${quoteArg(s.dest)} (local)`], undo: { dest: s.dest, prevMode: prev } };
    }
    const data = await ctx.transport.read(s.src);
    await mkdir(dirname(s.dest), { recursive: true });
    const commands: string[] = [];
    let backup: string | undefined;
    if (s.local === 'different') {
      backup = `${s.dest}.${utcStamp()}.bak`;
      await rename(s.dest, backup);
      commands.push(`mv ${quoteArg(s.dest)} ${quoteArg(backup)} (local)`);
    }
    await writeLocalAtomic(s.dest, data, s.mode);
    commands.push(`fetch ${quoteArg(s.src)} → ${quoteArg(s.dest)} (local, mode ${modeString(s.mode)})`);
    const sha = createHash('sha256').update(data).digest('hex');
    return { changed: true, commands, facts: { src: s.src, dest: s.dest, sha256: sha, size: data.length, ...(backup ? { backup } : {}) }, undo: { dest: s.dest, ...(backup ? { backup } : {}) } };
  },

  async undo(_ctx, record) {
    const dest = String(record.dest);
    if (typeof record.prevMode === 'number') {
      await chmod(dest, record.prevMode);
      return;
    }
    if (typeof record.backup === 'string') await rename(record.backup, dest);
    else await rm(dest, { force: true });
  },
};

export default fetchAction;
