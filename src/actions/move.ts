/**
 * `move`: move a file or directory (a stale certificate aside, a manifest out and back).
 * Done when `src` is gone and `dest` exists.
 *
 * probe: two transport.stat calls, concurrently (one round trip of latency):
 *   src present, dest absent → change; src absent, dest present → ok;
 *   both absent → fail (ok with missing_ok); both present → fail (which one is current?).
 * apply: `mkdir -p -- <parent of dest>`, then `mv -T -- src dest` (two execs).
 * undo: `mv -T -- dest src` (when src is still free); `rm -rf -- dest` once rollback has restored
 * src from a backup taken before the move.
 */
import { posix } from 'node:path';
import type { MoveParams } from '../runbook/schema-types.js';
import { displayCommand } from '../transport/quote.js';
import type { Action, UndoRecord } from './types.js';
import { absPath, isWithin, missingAncestors, missingInDryRun, removeMadeDirs, runOk, stepError } from './util.js';
import { failedAfterChange, failedUnchanged } from './partial.js';

export interface MoveState {
  src: string;
  dest: string;
  move: boolean;
}

function argvs(src: string, dest: string): string[][] {
  return [
    ['mkdir', '-p', '--', posix.dirname(dest)],
    ['mv', '-T', '--', src, dest],
  ];
}

export const moveAction: Action<MoveParams, MoveState> = {
  type: 'move',
  readOnly: false,

  async probe(ctx, params) {
    const src = absPath(params.src, 'move.src');
    const dest = absPath(params.dest, 'move.dest');
    if (isWithin(dest, src)) throw stepError(`move: dest ${dest} is inside src ${src}`);
    const [s, d] = await Promise.all([ctx.transport.stat(src), ctx.transport.stat(dest)]);
    if (s && d) {
      throw stepError(`move: both ${src} and ${dest} exist; refusing to overwrite ${dest}`, `remove or rename one of them (was a previous run interrupted?)`);
    }
    if (!s && !d) {
      if (params.missing_ok) return { status: 'ok', commands: [], summary: `${src} and ${dest} are both absent (missing_ok)`, state: { src, dest, move: false } };
      return missingInDryRun(ctx, `move: neither ${src} nor ${dest} exists`, { src, dest, move: false }, 'set missing_ok: true when the source may be absent');
    }
    if (!s) return { status: 'ok', commands: [], summary: `already moved to ${dest}`, state: { src, dest, move: false } };
    return {
      status: 'change',
      commands: argvs(src, dest).map((a) => displayCommand(a)),
      summary: `move ${src} → ${dest}`,
      state: { src, dest, move: true },
    };
  },

  async apply(ctx, _params, probe) {
    const { src, dest, move } = probe.state;
    if (probe.status === 'unknown') throw failedUnchanged(stepError(`move: neither ${src} nor ${dest} exists`));
    if (!move) return { changed: false, commands: [] };
    const commands: string[] = [];
    const made = await missingAncestors(ctx, posix.dirname(dest));
    // the directories mkdir -p makes for dest go with the undo too (outermost first)
    const undo: UndoRecord = { src, dest, ...(made.length ? { made } : {}) };
    for (const argv of argvs(src, dest)) {
      commands.push(displayCommand(argv));
      // a failure carries the record: undo moves dest back only when it is there
      await runOk(ctx, argv).catch((e: unknown) => {
        throw failedAfterChange(e, undo);
      });
    }
    return { changed: true, commands, undo };
  },

  async undo(ctx, record) {
    const src = String(record.src);
    const dest = String(record.dest);
    const [s, d] = await Promise.all([ctx.transport.stat(src), ctx.transport.stat(dest)]);
    if (!d) return; // nothing to move back
    // rollback restored the source from a backup taken before the move: the destination, free
    // before the move, holds a second copy (engine/rollback.ts movedOut)
    if (record.source_restored === true) {
      // the restore put src back only if its backup held it: a file the run moved in and then out
      // again was not there, and dest is then its only copy
      if (!s) throw stepError(`move undo: ${dest} was left where it is: the backup did not hold ${src}, so it is the only copy`);
      await runOk(ctx, ['rm', '-rf', '--', dest]);
    } else {
      if (s) throw stepError(`move undo: ${src} exists again; ${dest} was left where it is`);
      await runOk(ctx, ['mkdir', '-p', '--', posix.dirname(src)]);
      await runOk(ctx, ['mv', '-T', '--', dest, src]);
    }
    await removeMadeDirs(ctx, Array.isArray(record.made) ? record.made.filter((d): d is string => typeof d === 'string') : undefined);
  },
};

export default moveAction;
