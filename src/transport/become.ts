/**
 * Becoming another user through sudo, the same way for SSH and local commands.
 *
 * Every become command is `sudo -S -p PROMPT -u USER -- sh -c 'printf READY >&2; exec "$@"' ... argv`
 * (with a working directory: `... printf READY >&2; cd -- "$1" || exit; shift; exec "$@"' READY DIR argv`)
 * with a prompt and a ready marker made fresh for each invocation. The caller feeds the command's
 * stderr to a SudoDialog, which:
 *   - writes the password on stdin only when sudo prints PROMPT (NOPASSWD or a cached timestamp: sudo
 *     never asks, and nothing is written), and at most once: a second PROMPT means a wrong password;
 *   - says when READY arrives: sudo has let the command start, and only now may the command's own
 *     stdin be sent (before that, bytes on stdin could be read by sudo as a password);
 *   - hides sudo's own chatter (the prompt, a lecture, "unable to resolve host") from the command's stderr.
 * The password is never in argv, and `sh` is always what sudo runs, so sudo's verdict is the same
 * for every command of a host (one check, then no retries: see SudoGate).
 */
import { randomBytes } from 'node:crypto';
import { userError, type UserError } from '../errors.js';
import type { Arg } from './quote.js';

/** Who to become: `user` (default: the host's ansible_become_user, else root). */
export interface BecomeSpec {
  user?: string;
}

export function becomeUser(spec: BecomeSpec): string {
  return spec.user && spec.user !== '' ? spec.user : 'root';
}

export interface SudoMarkers {
  prompt: string;
  ready: string;
}

export function newSudoMarkers(): SudoMarkers {
  const id = randomBytes(12).toString('hex'); // no `%`: sudo expands %-escapes in -p
  return { prompt: `[runbook-sudo-${id}] password: `, ready: `runbook-sudo-${id}-ready` };
}

/** `cd`'s operand for a working directory: a relative one gets `./`, so it never looks like an option or `-`. */
export function cdOperand(cwd: string): string {
  return cwd.startsWith('/') ? cwd : `./${cwd}`;
}

/**
 * The argv that runs `argv` as `user` through sudo, announcing READY on stderr when sudo lets it
 * start. With `cwd`, the directory is entered by the command sudo runs, as `user` (as Ansible's
 * chdir with become): a directory only that user may enter works, and one that cannot be entered
 * fails after READY, as the command (sh's message names it), never as a sudo refusal.
 */
export function sudoArgv(argv: readonly Arg[], user: string, m: SudoMarkers, cwd?: string): Arg[] {
  const sudo = ['sudo', '-S', '-p', m.prompt, '-u', user, '--', 'sh', '-c'];
  if (cwd === undefined || cwd === '') return [...sudo, 'printf "%s\\n" "$0" >&2; exec "$@"', m.ready, ...argv];
  return [...sudo, 'printf "%s\\n" "$0" >&2; cd -- "$1" || exit; shift; exec "$@"', m.ready, cdOperand(cwd), ...argv];
}

export type SudoEvent = { kind: 'ready' } | { kind: 'fail'; error: UserError };

/**
 * Reads the stderr of one sudo invocation. `feed` returns the bytes that belong to the command's
 * own stderr (none before READY) and at most one event.
 */
export class SudoDialog {
  private buf = Buffer.alloc(0);
  private prompts = 0;
  ready = false;
  failed = false;
  /** when the password was last written (PAM may take its time after it: watchSudo waits from then) */
  answeredAt: number | undefined;
  constructor(
    private readonly m: SudoMarkers,
    private readonly who: { user: string; loginUser: string; host: string },
    private readonly password: string | undefined,
    private readonly writePassword: (line: Buffer) => void,
  ) {}

  feed(chunk: Buffer): { pass?: Buffer; event?: SudoEvent } {
    if (this.ready) return { pass: chunk };
    if (this.failed) return {};
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      const text = this.buf.toString('latin1');
      const p = text.indexOf(this.m.prompt);
      const r = text.indexOf(this.m.ready + '\n');
      if (r >= 0 && (p < 0 || r < p)) {
        this.ready = true;
        const rest = this.buf.subarray(Buffer.byteLength(text.slice(0, r + this.m.ready.length + 1), 'latin1'));
        this.buf = Buffer.alloc(0);
        return { ...(rest.length ? { pass: rest } : {}), event: { kind: 'ready' } };
      }
      if (p < 0) return {};
      this.buf = this.buf.subarray(p + this.m.prompt.length);
      this.prompts++;
      if (this.password === undefined) {
        this.failed = true;
        return {
          event: {
            kind: 'fail',
            error: userError('become', `sudo asks ${this.who.loginUser} on ${this.who.host} for a password, and none was given`, {
              host: this.who.host,
              hint: 'pass -K (--ask-become-pass, or $RUNBOOK_BECOME_PASSWORD) or set ansible_become_password',
            }),
          },
        };
      }
      if (this.prompts > 1) {
        this.failed = true;
        return { event: { kind: 'fail', error: wrongPassword(this.who) } };
      }
      this.writePassword(Buffer.from(this.password + '\n'));
      this.answeredAt = Date.now();
    }
  }

  /** sudo neither started the command nor asked with our prompt in `ms`: what it printed, and why nothing answers it. */
  stalled(ms: number): UserError {
    const said = this.buf.toString('utf8').replace(/\s+/g, ' ').trim();
    // a question it asked is the host's sudo verdict (SudoGate keeps a `become` error); silence
    // may be a one-off slow lookup: a `timeout`, and the next command asks sudo again
    return userError(said ? 'become' : 'timeout', `sudo on ${this.who.host} did not start the command as ${this.who.user} within ${Math.round(ms / 1000)} s: ${said ? `it asked "${said.slice(-120)}", which is not runbook's password prompt` : this.answeredAt !== undefined ? 'it was given the password and has not answered since' : 'it printed nothing (a PAM module or a name-service lookup waiting?)'}`, {
      host: this.who.host,
      hint: `runbook answers only sudo's password prompt: a second factor or another PAM question cannot be answered (allow ${this.who.loginUser} sudo without it, e.g. NOPASSWD); a slow sudo can be given longer with RUNBOOK_BECOME_TIMEOUT=SECONDS`,
    });
  }

  /** The command ended before READY: sudo refused (not in sudoers, no tty required, ...). */
  refusedAtExit(code: number | null): UserError {
    const said = this.buf
      .toString('utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !/^We trust you have received|^#\d\)|^\s*$|Sorry, try again/.test(l))
      .join('; ');
    if (this.prompts > 0 && /incorrect password|Sorry|Authentication failure/i.test(this.buf.toString())) return wrongPassword(this.who);
    // `Defaults requiretty`: runbook's commands have no terminal (as Ansible's with pipelining)
    const tty = /must have a tty/i.test(said);
    return userError('become', `sudo refused to run commands as ${this.who.user} for ${this.who.loginUser} on ${this.who.host}: ${said || `exit ${code}`}`, {
      host: this.who.host,
      hint: tty
        ? `the host's sudoers has \`Defaults requiretty\`, and runbook runs commands without a terminal: exempt this login with \`Defaults:${this.who.loginUser} !requiretty\` (visudo -f /etc/sudoers.d/...)`
        : `check the sudoers rules for ${this.who.loginUser} there`,
    });
  }
}

/** How long sudo may take to start a command: RUNBOOK_BECOME_TIMEOUT seconds, 30 by default (Ansible waits 10 for the prompt). */
export function becomeTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const s = Number(env.RUNBOOK_BECOME_TIMEOUT);
  return (Number.isFinite(s) && s > 0 ? s : 30) * 1000;
}

/**
 * Gives up on a sudo that has neither started the command nor failed within becomeTimeoutMs() (a
 * PAM question other than the password, which would otherwise hold the step, the host's lock and
 * every later become command forever): `stall` gets the error. Returns the function that stops watching.
 */
export function watchSudo(dialog: SudoDialog, stall: (e: UserError) => void): () => void {
  const ms = becomeTimeoutMs();
  let t: NodeJS.Timeout;
  const check = (): void => {
    if (dialog.ready || dialog.failed) return;
    // counted again from the password: PAM's check of it (an LDAP bind) is sudo working, not stalled
    const left = dialog.answeredAt !== undefined ? dialog.answeredAt + ms - Date.now() : 0;
    if (left > 0) return void (t = setTimeout(check, left));
    dialog.failed = true;
    stall(dialog.stalled(ms));
  };
  t = setTimeout(check, ms);
  return () => clearTimeout(t);
}

function wrongPassword(who: { loginUser: string; host: string }): UserError {
  return userError('become', `sudo: wrong password for ${who.loginUser} on ${who.host}`, {
    host: who.host,
    hint: 'check -K / $RUNBOOK_BECOME_PASSWORD / ansible_become_password; no further attempt is made on this host',
  });
}

/**
 * One sudo check per host and target user: the first become command runs alone until sudo
 * CONFIRMS it (READY: the password was taken, or none was needed); then the others follow in
 * parallel, while it still runs. Only sudo's confirmation counts: a first command that ends
 * without it (timed out or cancelled while sudo was still asking, the connection lost) proves
 * nothing, and the next command makes the check again, alone. When sudo refused (a wrong
 * password), every later command gets the same error at once instead of asking sudo again (no
 * retry storm, one failed attempt in the host's auth log).
 */
export class SudoGate {
  private readonly state = new Map<string, { ok: boolean; pending?: Promise<void>; failure?: UserError }>();

  /** Runs `f`, first waiting for (or becoming) the check for `user`; `f` calls `confirmed` when sudo let its command start. */
  async run<T>(user: string, f: (confirmed: () => void) => Promise<T>): Promise<T> {
    for (;;) {
      const s = this.state.get(user);
      if (s?.failure) throw s.failure;
      if (s?.ok) return f(noop);
      if (!s?.pending) break;
      await s.pending;
    }
    let release!: () => void;
    const s: { ok: boolean; pending?: Promise<void>; failure?: UserError } = { ok: false, pending: new Promise<void>((r) => (release = r)) };
    this.state.set(user, s);
    const confirmed = (): void => {
      if (s.ok || s.failure) return;
      s.ok = true;
      delete s.pending;
      release();
    };
    try {
      return await f(confirmed);
    } catch (e) {
      if (!s.ok && (e as UserError)?.kind === 'become') s.failure = e as UserError;
      throw e;
    } finally {
      if (!s.ok) {
        // not confirmed: the waiters check again (one of them alone), unless sudo refused
        delete s.pending;
        if (!s.failure && this.state.get(user) === s) this.state.delete(user);
        release();
      }
    }
  }
}

const noop = (): void => undefined;
