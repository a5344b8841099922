/**
 * `copy`: write a file atomically from inline `content`, a local `src` (relative to the runbook),
 * or a `remote_src` on the host itself, then set mode and owner.
 *
 * probe: dest's stat and sha256 (inspectPath: over SFTP or the local fs a small file is read and
 * hashed here, otherwise one exec of `stat` + `sha256sum`); with remote_src the source likewise,
 * concurrently. A local src is read and hashed on the operator's side.
 * apply (only what differs): `mkdir -p` of the parent for a new file, transport.writeAtomic
 * (remote_src: one transport.read first), then `chmod`/`chown`. Replacing a file keeps its
 * owner (one stat after the write, `chown` only when the rename changed it). The previous
 * content is read first for the undo record when it is world-readable and up to 1 MiB; a private
 * one (keys, kubeconfigs never go into the journal) is kept on the host instead (./keep.ts), a
 * larger one is recorded as `lost` (only a backup brings it back).
 * undo: writes the previous content back with its mode and owner, or removes a file that did not
 * exist.
 */
import { readFile } from 'node:fs/promises';
import { posix, resolve } from 'node:path';
import type { CopyParams } from '../runbook/schema-types.js';
import { displayCommand, quoteArg } from '../transport/quote.js';
import { messageOf } from '../errors.js';
import type { Action, StepContext, UndoRecord } from './types.js';
import {
  absPath,
  chownArgv,
  displayWrite,
  idMatches,
  inspectPath,
  missingAncestors,
  missingInDryRun,
  isNumericId,
  modeString,
  removeMadeDirs,
  parseMode,
  runOk,
  sha256,
  stepError,
  journalable,
  type PathInfo,
} from './util.js';
import { keepCopy, putBack } from './keep.js';
import { contentDiff, diffable, finishDiff, modeChange, ownerChange, type ContentSide, type DiffRequest, type FileDiff } from './diff.js';
import { failedAfterChange, failedUnchanged } from './partial.js';

export interface CopyState {
  dest: string;
  info: PathInfo;
  /** sha256 and size of what will be written */
  sha256: string;
  size: number;
  write: boolean;
  chmod: boolean;
  chown: boolean;
}

export interface CopyUndo extends UndoRecord {
  dest: string;
  existed: boolean;
  wrote: boolean;
  content_b64?: string;
  /** the previous file, kept on the host (private or larger than the journal takes) */
  kept?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** the directories above dest the write made (mkdir -p), outermost first */
  made?: string[];
}

async function sourceData(ctx: StepContext, params: CopyParams): Promise<Buffer> {
  if (typeof params.content === 'string') return Buffer.from(params.content, 'utf8');
  if (typeof params.src === 'string') {
    const file = resolve(ctx.runbookDir, params.src);
    try {
      return await readFile(file);
    } catch (e) {
      throw stepError(`copy: cannot read src ${file} on this machine: ${messageOf(e)}`);
    }
  }
  if (typeof params.remote_src === 'string') return ctx.transport.read(absPath(params.remote_src, 'copy.remote_src'));
  throw stepError('copy: give one of content, src or remote_src');
}

function sourceLabel(params: CopyParams): string {
  if (typeof params.src === 'string') return ` from ${params.src}`;
  if (typeof params.remote_src === 'string') return ` from ${quoteArg(params.remote_src)} on the host`;
  return '';
}

/**
 * `--diff`: the dest's content now against what would be written. Only reads (the dest, and a
 * remote_src not read yet), through the step's transport and so its become; never a private or
 * large file's content (those are summarised by their sizes and hashes).
 */
async function copyDiff(ctx: StepContext, req: DiffRequest, params: CopyParams, dest: string, info: PathInfo, after: ContentSide, write: boolean, chown: boolean): Promise<FileDiff | undefined> {
  const before: ContentSide = { exists: info.exists, ...(info.sha256 ? { sha256: info.sha256 } : {}), ...(info.size !== undefined ? { size: info.size } : {}), ...(info.mode !== undefined ? { mode: info.mode } : {}) };
  const wantsText = (s: ContentSide) => s.exists && diffable(s.size) && ((s.mode ?? 0o644) & 0o004) !== 0;
  if (write && (!before.exists || wantsText(before)) && wantsText(after)) {
    if (before.exists) before.data = await ctx.transport.read(dest);
    if (after.data === undefined && typeof params.remote_src === 'string') after.data = await ctx.transport.read(absPath(params.remote_src, 'copy.remote_src'));
  }
  return finishDiff({
    path: dest,
    ...(info.exists ? {} : { state: 'absent → file' }),
    mode: modeChange(info.mode, after.mode),
    owner: ownerChange(info, params.owner, params.group, chown),
    ...(write ? contentDiff(dest, before, after, req) : {}),
  });
}

export const copyAction: Action<CopyParams, CopyState> = {
  type: 'copy',
  readOnly: false,

  async probe(ctx, params) {
    const dest = absPath(params.dest, 'copy.dest');
    const mode = parseMode(params.mode, 'copy.mode');
    const names = !isNumericId(params.owner) || !isNumericId(params.group);
    const sources = [typeof params.content === 'string', typeof params.src === 'string', typeof params.remote_src === 'string'].filter(Boolean).length;
    if (sources !== 1) throw stepError('copy: give exactly one of content, src or remote_src');
    let srcSha: string;
    let size: number;
    let info: PathInfo;
    let data: Buffer | undefined;
    if (typeof params.remote_src === 'string') {
      const src = absPath(params.remote_src, 'copy.remote_src');
      const [s, d] = await Promise.all([inspectPath(ctx, src, { hash: true }), inspectPath(ctx, dest, { hash: true, names })]);
      if (!s.exists) {
        return missingInDryRun(ctx, `copy: remote_src ${src} does not exist`, { dest, info: { exists: false }, sha256: '', size: 0, write: true, chmod: false, chown: false });
      }
      if (s.type !== 'file' || !s.sha256) throw stepError(`copy: remote_src ${src} is not a regular file (${s.type})`);
      srcSha = s.sha256;
      size = s.size ?? 0;
      info = d;
    } else {
      data = await sourceData(ctx, params);
      srcSha = sha256(data);
      size = data.length;
      info = await inspectPath(ctx, dest, { hash: true, names });
    }
    if (info.exists && info.type !== 'file') throw stepError(`copy: dest ${dest} exists and is a ${info.type}, not a file`);
    const write = !info.exists || info.sha256 !== srcSha;
    const chmod = mode !== undefined && !write && info.mode !== mode; // a write sets the mode itself
    const ownerGiven = params.owner !== undefined || params.group !== undefined;
    const chown = ownerGiven && (write || !idMatches(params.owner, info.uid, info.user) || !idMatches(params.group, info.gid, info.group));
    const commands: string[] = [];
    const reasons: string[] = [];
    if (write) {
      if (!info.exists) commands.push(displayCommand(['mkdir', '-p', '--', posix.dirname(dest)]));
      commands.push(displayWrite(dest, size, srcSha, mode ?? (info.exists ? info.mode : 0o644)) + sourceLabel(params));
      reasons.push(info.exists ? 'content differs' : 'new file');
    }
    if (chmod) {
      commands.push(displayCommand(['chmod', modeString(mode!), '--', dest]));
      reasons.push(`mode ${modeString(info.mode ?? 0)} → ${modeString(mode!)}`);
    }
    if (chown) {
      commands.push(displayCommand(chownArgv(dest, params.owner, params.group)!));
      if (!write) reasons.push('owner differs');
    }
    const changed = write || chmod || chown;
    const newMode = write ? (mode ?? (info.exists ? info.mode : 0o644)) : chmod ? mode : info.mode;
    const diff = ctx.diff && changed ? await copyDiff(ctx, ctx.diff, params, dest, info, { exists: true, sha256: srcSha, size, ...(data ? { data } : {}), ...(newMode !== undefined ? { mode: newMode } : {}) }, write, chown) : undefined;
    return {
      status: changed ? 'change' : 'ok',
      commands,
      summary: changed ? `${dest}: ${reasons.join(', ')}` : `${dest} is up to date`,
      state: { dest, info, sha256: srcSha, size, write, chmod, chown },
      ...(diff ? { diff } : {}),
    };
  },

  async apply(ctx, params, probe) {
    if (probe.status === 'unknown') throw failedUnchanged(stepError(probe.summary ?? 'not probed'));
    const { dest, info, write, chmod, chown } = probe.state;
    if (!write && !chmod && !chown) return { changed: false, commands: [] };
    const mode = parseMode(params.mode, 'copy.mode');
    const undo: CopyUndo = { dest, existed: info.exists, wrote: write };
    if (info.exists) {
      undo.mode = info.mode;
      undo.uid = info.uid;
      undo.gid = info.gid;
    }
    const commands: string[] = [];
    // from the first command that changes dest on, a failure carries the undo record (the write
    // may have landed before a chown failed, or a timeout cancelled it half way)
    let changing = false;
    try {
      if (write) {
        if (info.exists && journalable(info)) {
          undo.content_b64 = (await ctx.transport.read(dest)).toString('base64');
        } else if (info.exists) {
          // private or large: kept on the host (never in the journal), or lost when over the limit
          const kept = await keepCopy(ctx, dest);
          if (kept !== undefined) undo.kept = kept;
          else undo.lost = [dest];
        }
        changing = true;
        if (!info.exists) {
          const made = await missingAncestors(ctx, posix.dirname(dest));
          if (made.length) undo.made = made;
          const mk = ['mkdir', '-p', '--', posix.dirname(dest)];
          commands.push(displayCommand(mk));
          await runOk(ctx, mk);
        }
        const data = await sourceData(ctx, params);
        const writeMode = mode ?? (info.exists ? info.mode! : 0o644);
        commands.push(displayWrite(dest, data.length, sha256(data), writeMode) + sourceLabel(params));
        await ctx.transport.writeAtomic(dest, data, { mode: writeMode });
        if (info.exists && !chown) {
          // the rename put a new inode in place: give it the old owner back
          const st = await ctx.transport.stat(dest);
          if (st && (st.uid !== info.uid || st.gid !== info.gid)) {
            const argv = ['chown', `${info.uid}:${info.gid}`, '--', dest];
            commands.push(displayCommand(argv));
            await runOk(ctx, argv);
          }
        }
      }
      changing = true;
      if (chmod) {
        const argv = ['chmod', modeString(mode!), '--', dest];
        commands.push(displayCommand(argv));
        await runOk(ctx, argv);
      }
      if (chown) {
        const argv = chownArgv(dest, params.owner, params.group)!;
        commands.push(displayCommand(argv));
        await runOk(ctx, argv);
      }
    } catch (e) {
      throw changing ? failedAfterChange(e, undo) : failedUnchanged(e);
    }
    return { changed: true, commands, undo };
  },

  async undo(ctx, record) {
    const r = record as CopyUndo;
    if (!r.existed) {
      await runOk(ctx, ['rm', '-f', '--', r.dest]);
      await removeMadeDirs(ctx, r.made);
      return;
    }
    if (r.wrote) {
      if (r.kept !== undefined) {
        await putBack(ctx, r.kept, r.dest, true);
        return;
      }
      // too large to keep: rewriting it from nothing would only look restored (the engine reports it lost)
      if (r.lost?.includes(r.dest)) return;
      if (r.content_b64 === undefined) {
        throw stepError(`copy undo: the previous ${r.dest} is not in the journal (private or larger than 1 MiB); restore it from the backup`);
      }
      await ctx.transport.writeAtomic(r.dest, Buffer.from(r.content_b64, 'base64'), r.mode !== undefined ? { mode: r.mode } : {});
    } else if (r.mode !== undefined) {
      await runOk(ctx, ['chmod', modeString(r.mode), '--', r.dest]);
    }
    if (r.uid !== undefined && r.gid !== undefined) {
      const st = await ctx.transport.stat(r.dest);
      if (!st || st.uid !== r.uid || st.gid !== r.gid) await runOk(ctx, ['chown', `${r.uid}:${r.gid}`, '--', r.dest]);
    }
  },
};

export default copyAction;
