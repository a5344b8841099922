/**
 * What evaluating an ssh config touches outside itself: files an `Include` names, the globs that
 * find them, and the commands `Match exec` runs. One `SshConfigIo` lives for one run, so a run's
 * hosts read each file and run each distinct command once (ssh(1) runs them for every connection;
 * one run seeing one answer is the point of a run).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { globSync } from 'tinyglobby';
import { programOf } from './proxy-command.js';

/** A line ssh(1) would refuse, or an Include or Match exec it could not carry out: the evaluation stops. */
export class SshConfigError extends Error {}

/**
 * Thrown by an io that runs commands apart (`machineSshConfigIo({ deferExec: true })`) for a
 * command it has no answer for yet: the caller awaits `settle(command)` and evaluates again.
 */
export class PendingExec extends Error {
  constructor(readonly command: string) {
    super(`Match exec \`${programOf(command)}\` has not run yet`);
  }
}

export interface SshConfigIo {
  /** an included file's text, checked as ssh checks it; undefined when there is no such file (ssh skips it) */
  read(path: string): string | undefined;
  /** the files an absolute glob(3) pattern names, sorted */
  glob(pattern: string): string[];
  /** runs a `Match exec` command through the shell, as ssh does: did it exit 0? */
  exec(command: string): boolean;
  /** runs `command` without blocking, for an io that threw PendingExec for it */
  settle?(command: string): Promise<void>;
}

export interface EvalContext {
  /** the host as given (ssh's host argument: the inventory address) */
  alias: string;
  home: string;
  localUser: string;
  localUid: number;
  io: SshConfigIo;
}

/** ssh has no limit; a run must not hang on a check that never ends */
export const MATCH_EXEC_TIMEOUT_MS = 60_000;

// glob(3) as ssh calls it: `*`, `?` and `[...]`, no braces, no `**`, no dot files unless named
const GLOB = { absolute: true, dot: false, braceExpansion: false, extglob: false, globstar: false, expandDirectories: false, onlyFiles: true, cwd: '/' } as const;

/**
 * A user config file (and any included one) as ssh reads it: refused unless owned by this user or
 * root and writable by no one else (readconf.c's secure_permissions), since its `Match exec` lines
 * and ProxyCommands run as this user. undefined when there is no such file.
 */
export function readUserConfigFile(path: string, o: { unreadable?: 'skip' | 'error' } = {}): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    // ssh skips a ~/.ssh/config it cannot open, but stops at an included file it cannot read
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || o.unreadable === 'skip') return undefined;
    throw new SshConfigError(`cannot read ${path}: ${(e as Error).message}`);
  }
  const st = statSync(path);
  const uid = process.getuid?.() ?? 0;
  const groupOk = (st.mode & 0o020) === 0 || ownersOwnGroup(st.uid, st.gid);
  if ((st.uid !== 0 && st.uid !== uid) || (st.mode & 0o002) !== 0 || !groupOk) {
    throw new SshConfigError(`Bad owner or permissions on ${path}: ssh refuses a config file that is not owned by you or root, or that others can write (chmod go-w ${path})`);
  }
  return text;
}

/**
 * Debian's and Ubuntu's ssh accept a group-writable file when the group has exactly one member,
 * its owner (a user private group, with umask 002). Groups and users as NSS has them (getent).
 */
function ownersOwnGroup(owner: number, gid: number): boolean {
  const getent = (...args: string[]) => spawnSync('getent', args, { encoding: 'utf8' }).stdout ?? '';
  const ownerName = getent('passwd', String(owner)).split(':')[0];
  const members = (getent('group', String(gid)).trim().split(':')[3] ?? '').split(',').filter(Boolean);
  if (!ownerName || members.some((m) => m !== ownerName)) return false;
  const primary = getent('passwd')
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f[3] === String(gid));
  return primary.every((f) => f[2] === String(owner)) && (primary.length > 0 || members.length > 0);
}

// glob(3) reads only `*`, `?` and `[...]` (negated with `!`); picomatch would read these too
const escapeForGlob = (pattern: string) => pattern.replace(/[(){}+@]|(?<!\[)!(?!\])/g, '\\$&').replace(/\[\^/g, '[\\^');

const shellOf = () => process.env.SHELL || '/bin/sh';

/** What a finished Match exec says: exit 0 or not, or why there is no answer. */
function outcome(command: string, r: { error?: Error; signal?: string | null; status?: number | null; timedOut?: boolean }): boolean | SshConfigError {
  const what = `Match exec \`${programOf(command)}\``;
  if (r.timedOut) return new SshConfigError(`${what} did not finish within ${MATCH_EXEC_TIMEOUT_MS / 1000} s: runbook cannot tell whether its block applies`);
  if (r.error) return new SshConfigError(`${what} could not run through ${shellOf()}: ${r.error.message}`);
  if (r.signal) return new SshConfigError(`${what} was killed by ${r.signal}: runbook cannot tell whether its block applies`);
  return r.status === 0;
}

// stdin and stdout to /dev/null as ssh does; its stderr is not shown among runbook's output
function runCommand(command: string, done: (r: boolean | SshConfigError) => void): void {
  let child: ReturnType<typeof spawn>;
  try {
    // its own process group, so a timeout ends what the command started too
    child = spawn(shellOf(), ['-c', command], { stdio: 'ignore', detached: true });
  } catch (error) {
    done(outcome(command, { error: error as Error })); // a NUL byte, say: spawn throws at once
    return;
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }, MATCH_EXEC_TIMEOUT_MS);
  child.once('error', (error) => {
    clearTimeout(timer);
    done(outcome(command, { error }));
  });
  child.once('exit', (status, signal) => {
    clearTimeout(timer);
    done(outcome(command, { status, signal, timedOut }));
  });
}

/**
 * The machine's files, globs and shell, each answer kept for the life of this object. With
 * `deferExec`, `exec` throws PendingExec for a command not run yet, and `settle` runs it without
 * blocking the other hosts' connections (ssh runs each check in a process of its own).
 */
export function machineSshConfigIo(o: { deferExec?: boolean } = {}): SshConfigIo {
  const texts = new Map<string, string | undefined>();
  const globs = new Map<string, string[]>();
  const execs = new Map<string, boolean | SshConfigError>();
  const running = new Map<string, Promise<void>>();
  return {
    read(path) {
      if (!texts.has(path)) texts.set(path, readUserConfigFile(path));
      return texts.get(path);
    },
    glob(pattern) {
      let files = globs.get(pattern);
      if (!files) {
        files = globSync(escapeForGlob(pattern.replace(/^\/+/, '')), GLOB).sort();
        globs.set(pattern, files);
      }
      return files;
    },
    exec(command) {
      let known = execs.get(command);
      if (known === undefined) {
        if (o.deferExec) throw new PendingExec(command);
        const r = spawnSync(shellOf(), ['-c', command], { stdio: 'ignore', timeout: MATCH_EXEC_TIMEOUT_MS, killSignal: 'SIGKILL' });
        const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
        known = outcome(command, { ...(r.error && !timedOut ? { error: r.error } : {}), signal: r.signal, status: r.status, timedOut });
        execs.set(command, known);
      }
      if (known instanceof SshConfigError) throw known;
      return known;
    },
    settle(command) {
      let p = running.get(command);
      if (!p) {
        p = new Promise<void>((resolve) => runCommand(command, (r) => (execs.set(command, r), resolve())));
        running.set(command, p);
      }
      return p;
    },
  };
}
