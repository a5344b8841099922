/**
 * What an SSH exec request carries. sshd runs it as `LOGIN_SHELL -c LINE`: the line is parsed by
 * the user's login shell, whatever runbook quoted it for. runbook's lines are POSIX sh; on a csh
 * or fish login shell they mean something else, or nothing, and fish even exits 0 after rejecting
 * one. So:
 *   - a line for a POSIX login shell starts with a guard, `case x in x) echo "$$" >&2;; esac;`, that
 *     POSIX shells run (reporting the shell's PID, which the transport needs) and that csh and fish
 *     reject before running anything on the line: no PID line means the command never ran
 *     (noPosixShell below), never a silent success;
 *   - a line with a newline goes to a login shell not yet proven POSIX wrapped (below): csh runs the
 *     lines after a rejected one, so a multi-line script must never reach it as lines;
 *   - with `ansible_shell_type: csh` or `fish` (Ansible's variable for such hosts), every line is
 *     wrapped: `exec /bin/sh -c 'eval "$(echo BASE64 | base64 -d)"'`, which csh, fish and sh all
 *     pass to /bin/sh unchanged (no quote, backslash, `!` or newline inside the single quotes).
 */
import { userError, type UserError } from '../errors.js';

export type LoginShell = 'sh' | 'csh' | 'fish';

const PID_LINE = 'echo "$$" >&2; ';
const GUARD = 'case x in x) echo "$$" >&2;; esac; ';

/** The exec request for `line`, and whether it went to the login shell as it is (so a PID line proves that shell POSIX). */
export function loginShellLine(line: string, shell: LoginShell, proven: boolean): { request: string; raw: boolean } {
  if (shell === 'sh' && (proven || !line.includes('\n'))) return { request: GUARD + line, raw: true };
  const encoded = Buffer.from(PID_LINE + line).toString('base64');
  return { request: `exec /bin/sh -c 'eval "$(echo ${encoded} | base64 -d)"'`, raw: false };
}

/**
 * The PID line at the start of a command's stderr, and what follows it. Only a line of digits counts:
 * a csh or fish login shell's complaint about the line is not one, and lines a login shell's start-up
 * printed before it are not the command's (dropped).
 */
export function pidLine(head: Buffer): { pid: string; rest: Buffer } | undefined {
  let from = 0;
  for (let nl = head.indexOf(0x0a); nl >= 0; from = nl + 1, nl = head.indexOf(0x0a, from)) {
    const line = head.subarray(from, nl).toString('latin1').trim();
    if (/^\d+$/.test(line)) return { pid: line, rest: head.subarray(nl + 1) };
  }
  return undefined;
}

/** Why an `ansible_shell_type` value cannot be used, or undefined when it can (unset is sh). */
export function loginShellProblem(value: unknown): string | undefined {
  if (value === undefined || value === null || value === 'sh' || value === 'csh' || value === 'fish') return undefined;
  const windows = value === 'powershell' || value === 'cmd' ? 'runbook runs POSIX commands, on Unix hosts only; ' : '';
  return `ansible_shell_type ${JSON.stringify(value)} is not supported: ${windows}use sh (the default, for bash, dash, zsh, ksh... login shells), csh (csh, tcsh) or fish`;
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
    return userError('connect', `the login shell of ${who.user} on ${who.host} did not run runbook's command (${heard}): runbook sends POSIX sh commands, which a csh or fish login shell rejects`, {
      host: who.host,
      hint: 'for a csh/tcsh or fish login shell, set ansible_shell_type: csh (or fish) for this host: every command then goes through /bin/sh',
    });
  }
  return userError('connect', `${who.host}: runbook's command did not start through /bin/sh from ${who.user}'s ${shell} login shell (${heard})`, {
    host: who.host,
    hint: 'with ansible_shell_type csh or fish, every command runs as `exec /bin/sh -c ...` and is decoded with base64: both must be on the PATH there',
  });
}
