/** Step timeouts that stop the work, not only the wait (the safety contract: src/engine/safety.ts). */
import { userError } from '../errors.js';
import { carryMarks, failedAfterChange, failedUnchanged } from '../actions/partial.js';

/**
 * The step's timeout. The transport kills a command after ms itself; this catches anything else
 * that hangs (a file transfer), a little later, and then CANCELS it (process groups killed, the
 * SFTP session closed, temp files removed) and waits for the step to settle before reporting the
 * timeout: rollback never starts while the step's work can still land.
 *
 * What the step did is not thrown away with it: when it settles while being cancelled, the
 * timeout error carries its undo record (an apply that finished, or failed after changing, in the
 * grace period) or says it changed nothing (src/actions/partial.ts). One that did not settle at
 * all may have changed anything: the error says nothing, and the engine treats it as changed.
 */
export function withTimeout<T>(p: Promise<T>, ms: number | undefined, what: string, host: string, cancel?: () => Promise<void>): Promise<T> {
  if (!ms) return p;
  const grace = ms + Math.min(5_000, Math.max(500, ms / 10));
  return new Promise<T>((resolve, reject) => {
    let fired = false;
    let settled: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
    const timer = setTimeout(() => {
      fired = true;
      void (async () => {
        await cancel?.().catch(() => undefined);
        await Promise.race([p.then(noop, noop), new Promise((r) => setTimeout(r, 5_000))]);
        reject(outcomeOf(settled, userError('timeout', `${what} timed out after ${ms} ms; its work in flight was stopped`, { host })));
      })();
    }, grace);
    p.then(
      (v) => {
        settled = { ok: true, value: v };
        if (!fired) {
          clearTimeout(timer);
          resolve(v);
        }
      },
      (e: unknown) => {
        settled = { ok: false, error: e };
        if (!fired) {
          clearTimeout(timer);
          reject(e);
        }
      },
    );
  });
}

/** The timeout error, marked with what the step did when it settled after the timer fired. */
export function outcomeOf<T>(settled: { ok: true; value: T } | { ok: false; error: unknown } | undefined, err: Error): Error {
  if (!settled) return err;
  if (!settled.ok) return carryMarks(settled.error, err);
  const v = settled.value as { changed?: unknown; undo?: unknown } | undefined;
  if (v && typeof v === 'object' && v.undo && typeof v.undo === 'object') return failedAfterChange(err, v.undo as Record<string, unknown>);
  if (v && typeof v === 'object' && v.changed === false) return failedUnchanged(err);
  return err;
}

const noop = (): void => undefined;
