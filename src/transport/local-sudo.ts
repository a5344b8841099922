/**
 * A command on this machine as another user through sudo, with the same password dialog as over
 * SSH (become.ts): stdin is held back until sudo lets the command start, the password is written
 * only when sudo asks for it.
 */
import { spawn } from 'node:child_process';
import { userError, messageOf, type UserError } from '../errors.js';
import { newSudoMarkers, SudoDialog, sudoArgv, watchSudo } from './become.js';
import { type Arg, shellJoin } from './quote.js';

export interface LocalSudoOptions {
  user: string;
  host: string;
  env: NodeJS.ProcessEnv;
  stdin?: Buffer;
  cwd?: string;
  timeoutMs?: number;
  password?: string;
  /** sudo let the command start (src/transport/become.ts SudoGate) */
  onReady?: () => void;
}

export interface LocalSudoResult {
  code: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: Buffer;
  durationMs: number;
  timedOut: boolean;
}

export function runLocalSudo(argv: readonly Arg[], o: LocalSudoOptions): Promise<LocalSudoResult> {
  const m = newSudoMarkers();
  // cwd is entered as o.user inside the command sudo runs (become.ts), not as this process's user
  const cmd = shellJoin(sudoArgv(argv, o.user, m, o.cwd));
  const started = Date.now();
  return new Promise((resolve, reject) => {
    // its own process group, so a timeout kills sudo and everything under it
    const child = spawn('/bin/sh', ['-c', cmd], { env: o.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let failure: UserError | undefined;
    let timedOut = false;
    const dialog = new SudoDialog(m, { user: o.user, loginUser: process.env.USER ?? 'this user', host: o.host }, o.password, (pw) => child.stdin.write(pw));
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    };
    const unwatch = watchSudo(dialog, (e) => ((failure = e), killGroup()));
    child.stdin.on('error', () => undefined);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      const r = dialog.feed(b);
      if (r.pass) err.push(r.pass);
      if (r.event?.kind === 'ready') {
        o.onReady?.();
        child.stdin.end(o.stdin ?? Buffer.alloc(0));
      }
      else if (r.event?.kind === 'fail') {
        failure = r.event.error;
        killGroup();
      }
    });
    const timer = o.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          killGroup();
        }, o.timeoutMs)
      : undefined;
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      unwatch();
      reject(userError('io', `cannot run a command on ${o.host}: ${messageOf(e)}`, { host: o.host }));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      unwatch();
      if (failure) return reject(failure);
      if (!dialog.ready && !timedOut) return reject(dialog.refusedAtExit(code));
      resolve({ code: timedOut ? null : code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err), durationMs: Date.now() - started, timedOut });
    });
  });
}
