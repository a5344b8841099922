/** Step timeouts that stop the work, not only the wait (the safety contract: src/engine/safety.ts). */
import { userError } from '../errors.js';

/**
 * The step's timeout. The transport kills a command after ms itself; this catches anything else
 * that hangs (a file transfer), a little later, and then CANCELS it (process groups killed, the
 * SFTP session closed, temp files removed) and waits for the step to settle before reporting the
 * timeout: rollback never starts while the step's work can still land.
 */
export function withTimeout<T>(p: Promise<T>, ms: number | undefined, what: string, host: string, cancel?: () => Promise<void>): Promise<T> {
  if (!ms) return p;
  const grace = ms + Math.min(5_000, Math.max(500, ms / 10));
  return new Promise<T>((resolve, reject) => {
    let fired = false;
    const timer = setTimeout(() => {
      fired = true;
      void (async () => {
        await cancel?.().catch(() => undefined);
        await Promise.race([p.then(noop, noop), new Promise((r) => setTimeout(r, 5_000))]);
        reject(userError('timeout', `${what} timed out after ${ms} ms; its work in flight was stopped`, { host }));
      })();
    }, grace);
    p.then(
      (v) => void (!fired && (clearTimeout(timer), resolve(v))),
      (e: unknown) => void (!fired && (clearTimeout(timer), reject(e))),
    );
  });
}

const noop = (): void => undefined;
