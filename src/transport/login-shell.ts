/**
 * What an SSH exec request carries. sshd runs it as `LOGIN_SHELL -c REQUEST`: the request is parsed
 * by the user's login shell, whatever runbook quoted it for. runbook's lines are POSIX sh; on a csh
 * or fish login shell they mean something else, or nothing, and fish even exits 0 after rejecting
 * one. So every request for a POSIX login shell is one `case` that POSIX shells run and csh and
 * fish reject before running any of it, and which first reports the shell's PID (the process group
 * a timeout kills) under a marker made fresh for the command:
 *   - `case x in x) echo "MARKER:$$" >&2;; esac; LINE` for a line of one line;
 *   - `case x in x) echo "MARKER:$$" >&2; eval "$(printf '%b' 'LINE, escaped')";; esac` for one with
 *     newlines: tcsh runs the lines after one it rejected, so such a line never reaches a shell as lines.
 * No marked PID line means the command never ran (noPosixShell below), never a silent success.
 * With `ansible_shell_type: csh` or `fish` (Ansible's variable for such hosts), every line goes as
 * `exec /bin/sh -c 'eval "$(echo BASE64 | base64 -d)"'`, which csh, fish and sh all pass to /bin/sh
 * unchanged (no quote, backslash, `!` or newline inside the single quotes).
 */
import { randomBytes } from 'node:crypto';
import { userError, type UserError } from '../errors.js';

export type LoginShell = 'sh' | 'csh' | 'fish';

/** The marker of one command's PID line: nothing a login shell's start-up prints can pass for it. */
export function newPidMarker(): string {
  return `runbook-pid-${randomBytes(6).toString('hex')}`;
}

/** Linux's limit on one argument (MAX_ARG_STRLEN, the NUL included): sshd passes the request as one. */
export const MAX_REQUEST_BYTES = 131_071;

/** The exec request that runs `line` through a login shell of this kind, reporting its PID under `marker`. */
export function loginShellLine(line: string, shell: LoginShell, marker: string): string {
  const pid = `echo "${marker}:$$" >&2;`;
  if (shell !== 'sh') return `exec /bin/sh -c 'eval "$(echo ${Buffer.from(`${pid} ${line}`).toString('base64')} | base64 -d)"'`;
  if (!line.includes('\n')) return `case x in x) ${pid}; esac; ${line}`;
  // %b turns \\ back into one backslash and \n into a newline; a quote leaves and re-enters the quotes
  const escaped = line.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/'/g, `'\\''`);
  return `case x in x) ${pid} eval "$(printf '%b' '${escaped}')";; esac`;
}

/**
 * The PID under `marker` in the start of a command's stderr, and what follows its line. What came
 * before it is a login shell's start-up talking, not the command (dropped); a csh or fish shell's
 * complaint about the request quotes `$$`, never digits.
 */
export function pidLine(head: Buffer, marker: string): { pid: string; rest: Buffer } | undefined {
  const m = new RegExp(`${marker}:(\\d+)\\n`).exec(head.toString('latin1'));
  if (!m) return undefined;
  return { pid: m[1]!, rest: head.subarray(m.index + m[0].length) };
}

/** Why an `ansible_shell_type` value (written as `name`) cannot be used, or undefined when it can (unset is sh). */
export function loginShellProblem(value: unknown, name = 'ansible_shell_type'): string | undefined {
  if (value === undefined || value === null || value === 'sh' || value === 'csh' || value === 'fish') return undefined;
  const windows = value === 'powershell' || value === 'cmd' ? 'runbook runs POSIX commands, on Unix hosts only; ' : '';
  return `${name} ${JSON.stringify(value)} is not supported: ${windows}use sh (the default, for bash, dash, zsh, ksh... login shells), csh (csh, tcsh) or fish`;
}

/** `ansible_shell_type`'s value as runbook reads it. */
export function parseLoginShell(value: unknown, where: { host: string }): LoginShell {
  const problem = loginShellProblem(value);
  if (problem) throw userError('inventory', problem, where);
  return value === 'csh' || value === 'fish' ? value : 'sh';
}

/** A command ended without its PID line: the login shell did not run runbook's sh (or, wrapped, /bin/sh or base64 is missing). */
export function noPosixShell(who: { host: string; user: string }, shell: LoginShell, said: string, code: number | null): UserError {
  const text = said.replace(/\s+/g, ' ').trim();
  const heard = text ? `it said "${text.slice(0, 160)}"` : `it printed nothing and exited ${code ?? 'on a signal'}`;
  if (shell === 'sh') {
    return userError('connect', `the login shell of ${who.user} on ${who.host} did not run runbook's command (${heard}): runbook sends POSIX sh commands, which a csh or fish login shell rejects: for one, set ansible_shell_type: csh (or fish) for this host`, {
      host: who.host,
      hint: 'with ansible_shell_type csh or fish, every command goes through /bin/sh; a login whose shell is nologin, or one a ForceCommand confines, cannot run commands at all',
    });
  }
  return userError('connect', `${who.host}: runbook's command did not start through /bin/sh from ${who.user}'s ${shell} login shell (${heard})`, {
    host: who.host,
    hint: 'with ansible_shell_type csh or fish, every command runs as `exec /bin/sh -c ...` and is decoded with base64: both must be on the PATH there',
  });
}
