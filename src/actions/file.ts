/**
 * `file`: a path is a directory (with parents), an empty file (touch: created if missing), a
 * file that must exist (state: file, the default: only mode/owner are set), or absent.
 *
 * probe: one round trip — transport.stat, or (when owner/group are names) one `stat -c` exec.
 * apply: only the commands needed: `mkdir -p`, `touch`, `rm -rf`, `chmod`, `chown` (one exec
 * each; creating a directory first stats the missing ancestors so undo can remove them).
 * undo: created paths are removed (`rm -f` / `rmdir`, never a non-empty directory), mode and
 * owner are set back; a removed path (file, tree, symlink) up to 1 MiB in all was kept on the
 * host before `rm` (src/actions/keep.ts) and is copied back exactly (modes, owners, times); a
 * larger one is listed as `lost` in the record (only a backup brings it back). Records from
 * before the keep (content_b64, target) are still undone as they were.
 */
import { posix } from 'node:path';
import type { FileParams } from '../runbook/schema-types.js';
import { displayCommand } from '../transport/quote.js';
import type { Action, StepContext, UndoRecord } from './types.js';
import {
  absPath,
  chownArgv,
  idMatches,
  inspectPath,
  isNumericId,
  missingAncestors,
  missingInDryRun,
  modeString,
  parseMode,
  runOk,
  stepError,
  type PathInfo,
} from './util.js';
import { failedAfterChange, failedUnchanged } from './partial.js';
import { keepCopy, putBack } from './keep.js';
import { contentDiff, diffable, finishDiff, modeChange, ownerChange, type FileDiff } from './diff.js';

export interface FileState {
  path: string;
  info: PathInfo;
  /** what apply does, in order */
  plan: Array<'mkdir' | 'touch' | 'rm' | 'chmod' | 'chown'>;
}

export interface FileUndo extends UndoRecord {
  path: string;
  /** paths apply created, outermost first */
  created?: string[];
  createdType?: 'file' | 'directory';
  prevMode?: number;
  prevUid?: number;
  prevGid?: number;
  removed?: { type: string; mode: number; uid: number; gid: number; kept?: string; content_b64?: string; target?: string; partial?: boolean };
  /** paths this record cannot bring back (removed and too large to keep) */
  lost?: string[];
}

function argvFor(step: FileState['plan'][number], path: string, params: FileParams, mode: number | undefined): string[] {
  switch (step) {
    case 'mkdir':
      return ['mkdir', '-p', '--', path];
    case 'touch':
      return ['touch', '--', path];
    case 'rm':
      return ['rm', '-rf', '--', path];
    case 'chmod':
      return ['chmod', modeString(mode!), '--', path];
    case 'chown':
      return chownArgv(path, params.owner, params.group)!;
  }
}

export const fileAction: Action<FileParams, FileState> = {
  type: 'file',
  readOnly: false,

  async probe(ctx, params) {
    const path = absPath(params.path, 'file.path');
    const state = params.state ?? 'file';
    const mode = parseMode(params.mode, 'file.mode');
    const names = !isNumericId(params.owner) || !isNumericId(params.group);
    const info = await inspectPath(ctx, path, { names: names && state !== 'absent' });
    const plan: FileState['plan'] = [];
    const reasons: string[] = [];
    if (state === 'absent') {
      if (info.exists) {
        plan.push('rm');
        reasons.push(`remove ${info.type}`);
      }
    } else {
      if (info.exists && info.type === 'symlink') {
        throw stepError(`file: ${path} is a symbolic link`, 'give the path of its target');
      }
      if (state === 'directory') {
        if (info.exists && info.type !== 'directory') throw stepError(`file: ${path} exists and is not a directory (${info.type})`);
        if (!info.exists) {
          plan.push('mkdir');
          reasons.push('create directory');
        }
      } else if (state === 'touch') {
        if (info.exists && info.type === 'directory') throw stepError(`file: ${path} is a directory, state touch wants a file`);
        if (!info.exists) {
          plan.push('touch');
          reasons.push('create empty file');
        }
      } else if (!info.exists) {
        return missingInDryRun(ctx, `file: ${path} does not exist`, { path, info, plan }, 'state: file only sets mode and owner; use state: touch to create it, or copy');
      }
      const created = !info.exists;
      if (mode !== undefined && (created || info.mode !== mode)) {
        plan.push('chmod');
        reasons.push(created ? `mode ${modeString(mode)}` : `mode ${modeString(info.mode!)} → ${modeString(mode)}`);
      }
      const ownerOk = idMatches(params.owner, info.uid, info.user) && idMatches(params.group, info.gid, info.group);
      if ((params.owner !== undefined || params.group !== undefined) && (created || !ownerOk)) {
        plan.push('chown');
        reasons.push(`owner ${[params.owner, params.group].filter((x) => x !== undefined).join(':')}`);
      }
    }
    const diff = ctx.diff && plan.length ? await fileDiff(ctx, params, path, info, plan, mode) : undefined;
    return {
      status: plan.length ? 'change' : 'ok',
      commands: plan.map((s) => displayCommand(argvFor(s, path, params, mode))),
      summary: plan.length ? `${path}: ${reasons.join(', ')}` : `${path} is as wanted`,
      state: { path, info, plan },
      ...(diff ? { diff } : {}),
    };
  },

  async apply(ctx, params, probe) {
    if (probe.status === 'unknown') throw failedUnchanged(stepError(probe.summary ?? 'not probed'));
    const { path, info, plan } = probe.state;
    const mode = parseMode(params.mode, 'file.mode');
    const undo: FileUndo = { path };
    const commands: string[] = [];
    if (info.exists) {
      undo.prevMode = info.mode;
      undo.prevUid = info.uid;
      undo.prevGid = info.gid;
    }
    // once a command ran, a failure carries the record (an `rm -rf` may have removed part of the tree)
    let ran = false;
    try {
      for (const step of plan) {
        if (step === 'mkdir') undo.created = await missingAncestors(ctx, path);
        if (step === 'touch') undo.created = [path];
        if (step === 'mkdir' || step === 'touch') undo.createdType = step === 'mkdir' ? 'directory' : 'file';
        if (step === 'rm') {
          undo.removed = await describeRemoved(ctx, path, info);
          if (!undo.removed.kept) undo.lost = [path];
        }
        const argv = argvFor(step, path, params, mode);
        commands.push(displayCommand(argv));
        ran = true;
        await runOk(ctx, argv);
      }
    } catch (e) {
      // an rm -rf that fails may have removed part of the tree: its undo must replace what is left
      if (undo.removed && plan[plan.length - 1] === 'rm') undo.removed.partial = true;
      throw ran ? failedAfterChange(e, undo) : failedUnchanged(e);
    }
    return { changed: plan.length > 0, commands, ...(plan.length ? { undo } : {}) };
  },

  async undo(ctx, record) {
    const r = record as FileUndo;
    if (r.removed) {
      const rm = r.removed;
      if (rm.kept !== undefined) {
        // an rm that failed part-way left a remnant only the kept copy can replace; anything at
        // the path after a complete rm was put there since, and is not ours to overwrite
        if (!(await putBack(ctx, rm.kept, r.path, rm.partial === true))) {
          throw stepError(`file undo: ${r.path} exists again, so the copy kept before it was removed was not put back; it is at ${rm.kept}`);
        }
        return;
      }
      // too large to keep: an empty directory in its place would only look restored (the engine reports it lost)
      if (r.lost?.includes(r.path)) return;
      const exists = await ctx.transport.stat(r.path);
      if (exists) {
        // a file's rm either happened or not: still there means nothing was removed
        if (rm.type === 'file' && rm.partial) return;
        throw stepError(`file undo: ${r.path} exists again; what was removed (${rm.type}) was not put back`);
      }
      if (rm.type === 'file' && rm.content_b64 !== undefined) {
        await runOk(ctx, ['mkdir', '-p', '--', posix.dirname(r.path)]);
        await ctx.transport.writeAtomic(r.path, Buffer.from(rm.content_b64, 'base64'), { mode: rm.mode });
      } else if (rm.type === 'directory') {
        await runOk(ctx, ['mkdir', '-p', '--', r.path]);
        await runOk(ctx, ['chmod', modeString(rm.mode), '--', r.path]);
      } else if (rm.type === 'symlink' && rm.target !== undefined) {
        await runOk(ctx, ['ln', '-s', '--', rm.target, r.path]);
        await runOk(ctx, ['chown', '-h', `${rm.uid}:${rm.gid}`, '--', r.path]);
        return;
      } else {
        throw stepError(`file undo: ${r.path} (${rm.type}) was removed and is not recorded; restore it from the backup`);
      }
      await runOk(ctx, ['chown', `${rm.uid}:${rm.gid}`, '--', r.path]);
      return;
    }
    if (r.created && r.created.length) {
      if (r.createdType === 'file') {
        await runOk(ctx, ['rm', '-f', '--', r.path]);
      } else {
        // innermost first; rmdir refuses a directory something was put into since; one already
        // gone (an earlier rollback) is fine
        for (const dir of [...r.created].reverse()) if (await ctx.transport.stat(dir)) await runOk(ctx, ['rmdir', '--', dir]);
      }
      return;
    }
    if (r.prevMode !== undefined) await runOk(ctx, ['chmod', modeString(r.prevMode), '--', r.path]);
    if (r.prevUid !== undefined && r.prevGid !== undefined) await runOk(ctx, ['chown', `${r.prevUid}:${r.prevGid}`, '--', r.path]);
  },
};

/**
 * `--diff`: the state, mode and owner changes; a small world-readable regular file being removed
 * shows its content going (a read only; see ./diff.ts for what is never shown).
 */
async function fileDiff(ctx: StepContext, params: FileParams, path: string, info: PathInfo, plan: FileState['plan'], mode: number | undefined): Promise<FileDiff | undefined> {
  const created = plan.includes('mkdir') ? 'directory' : plan.includes('touch') ? 'file' : undefined;
  const removed = plan.includes('rm');
  const d: FileDiff = {
    path,
    ...(created ? { state: `absent → ${created}` } : removed ? { state: `${info.type} → absent` } : {}),
    ...(plan.includes('chmod') ? { mode: modeChange(created ? undefined : info.mode, mode) } : {}),
    ...(plan.includes('chown') ? { owner: ownerChange(info, params.owner, params.group, true) } : {}),
  };
  if (removed && info.type === 'file') {
    const readable = diffable(info.size) && ((info.mode ?? 0) & 0o004) !== 0;
    const data = readable ? await ctx.transport.read(path) : undefined;
    Object.assign(d, contentDiff(path, { exists: true, ...(info.size !== undefined ? { size: info.size } : {}), ...(info.mode !== undefined ? { mode: info.mode } : {}), ...(data ? { data } : {}) }, { exists: false }, ctx.diff!));
  }
  return finishDiff(d);
}

/** The path and its ancestors that do not exist yet, outermost first. */
async function describeRemoved(ctx: StepContext, path: string, info: PathInfo): Promise<NonNullable<FileUndo['removed']>> {
  const rec: NonNullable<FileUndo['removed']> = { type: info.type ?? 'other', mode: info.mode ?? 0o644, uid: info.uid ?? 0, gid: info.gid ?? 0 };
  const kept = await keepCopy(ctx, path);
  if (kept !== undefined) rec.kept = kept;
  return rec;
}

export default fileAction;
