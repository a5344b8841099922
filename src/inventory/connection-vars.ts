/**
 * The Ansible connection variables of an inventory, checked where they are written: ssh arguments
 * (`ansible_ssh_common_args` ...) are split and every option runbook does not act on is a warning
 * naming it (never silently ignored), a variable runbook cannot honour is a warning, and an
 * argument that cannot be read is an error — each with its file:line:col, once per place written.
 * README "Inventories" lists the same names.
 */
import type { Diagnostic, Location } from '../errors.js';
import { positionOf, type YamlDocument } from '../runbook/yaml.js';
import { parseSshArgs, SSH_ARG_VARS } from '../transport/ssh-args.js';
import { loginShellProblem } from '../transport/login-shell.js';

/** Variables runbook honours (besides the ssh argument variables). */
export const HONOURED_VARS = [
  'ansible_host',
  'ansible_ssh_host',
  'ansible_port',
  'ansible_ssh_port',
  'ansible_user',
  'ansible_ssh_user',
  'ansible_ssh_private_key_file',
  'ansible_private_key_file',
  'ansible_ssh_private_key_passphrase',
  'ansible_password',
  'ansible_ssh_pass',
  'ansible_ssh_password',
  'ansible_connection',
  'ansible_become',
  'ansible_become_user',
  'ansible_become_method',
  'ansible_become_password',
  'ansible_become_pass',
  'ansible_host_key_checking',
  'ansible_ssh_timeout',
  'ansible_timeout',
  'ansible_shell_type',
  ...SSH_ARG_VARS,
];

/** Variables that would change how Ansible connects, which runbook does not follow: a warning each. */
export const WARNED_VARS: Record<string, string> = {
  ansible_become_exe: 'runbook always runs `sudo` from the host\'s PATH',
  ansible_become_flags: 'runbook runs sudo with its own flags (-S -p <prompt> -u <user>)',
  ansible_ssh_executable: 'runbook does not run ssh(1); it speaks SSH itself',
  ansible_ssh_transfer_method: 'files go through SFTP (or through sudo with become)',
  ansible_scp_extra_args: 'files go through SFTP (or through sudo with become)',
  ansible_sftp_extra_args: 'files go through SFTP (or through sudo with become)',
  ansible_scp_if_ssh: 'files go through SFTP (or through sudo with become)',
  ansible_sftp_batch_mode: 'files go through SFTP (or through sudo with become)',
  ansible_pipelining: 'runbook runs no Python modules: nothing to pipeline',
  ansible_ssh_pipelining: 'runbook runs no Python modules: nothing to pipeline',
  ansible_shell_executable: "runbook's shell steps run the host's `sh`; other commands go through the login shell (ansible_shell_type for a csh or fish one)",
  ansible_ssh_retries: 'runbook connects once per host; an unreachable host is reported, not retried',
  ansible_ssh_common_args_file: 'not an Ansible variable runbook knows',
  ansible_paramiko_pass: 'runbook does not use paramiko; use ansible_password',
  ansible_sudo: 'renamed ansible_become long ago: use ansible_become',
  ansible_sudo_pass: 'renamed ansible_become_password long ago: use ansible_become_password',
  ansible_sudo_user: 'renamed ansible_become_user long ago: use ansible_become_user',
};

type Vars = Record<string, unknown>;
interface RawGroup {
  hosts?: Record<string, Vars | null> | null;
  children?: Record<string, RawGroup | null> | null;
  vars?: Vars | null;
}

function checkVars(vars: Vars, path: (string | number)[], doc: YamlDocument, out: Diagnostic[]): void {
  checkConnectionVars(vars, (k) => ({ file: doc.source.file, ...positionOf(doc, [...path, k]) }), out);
}

/**
 * The diagnostics for connection variables, each at `at(name)`; `nameOf` says how the message
 * names the setting (default: the variable itself).
 */
export function checkConnectionVars(vars: Vars, at: (k: string) => Location, out: Diagnostic[], nameOf: (k: string) => string = (k) => k): void {
  for (const [k, v] of Object.entries(vars)) {
    const name = nameOf(k);
    const shellProblem = k === 'ansible_shell_type' ? loginShellProblem(v, name) : undefined;
    if ((SSH_ARG_VARS as readonly string[]).includes(k)) {
      if (typeof v !== 'string') {
        out.push({ kind: 'inventory', severity: 'error', message: `${name} must be a string of ssh arguments`, ...at(k) });
        continue;
      }
      const p = parseSshArgs(v);
      for (const e of p.errors) out.push({ kind: 'inventory', severity: 'error', message: `${name}: ${e}`, ...at(k) });
      for (const i of p.ignored) out.push({ kind: 'inventory', severity: 'warning', message: `${name}: \`${i.option}\` is ignored: ${i.why}`, ...at(k) });
    } else if (k in WARNED_VARS) {
      out.push({ kind: 'inventory', severity: 'warning', message: `${name} is ignored: ${WARNED_VARS[k]}`, ...at(k) });
    } else if (k === 'ansible_become_method' && v !== 'sudo') {
      out.push({ kind: 'inventory', severity: 'warning', message: `${name} ${JSON.stringify(v)} is not supported: runbook becomes other users only through sudo`, ...at(k) });
    } else if (shellProblem) {
      out.push({ kind: 'inventory', severity: 'error', message: shellProblem, ...at(k) });
    } else if (k === 'ansible_connection' && v !== 'ssh' && v !== 'local' && v !== 'smart' && v !== 'paramiko') {
      out.push({ kind: 'inventory', severity: 'warning', message: `${name} ${JSON.stringify(v)} is not supported: runbook connects over ssh or local`, ...at(k) });
    }
  }
}

/** Diagnostics for every place the inventory sets a connection variable. */
export function connectionVarDiagnostics(root: Record<string, RawGroup | null>, doc: YamlDocument): Diagnostic[] {
  const out: Diagnostic[] = [];
  const visit = (raw: RawGroup | null, path: (string | number)[]) => {
    if (!raw || typeof raw !== 'object') return;
    if (raw.vars && typeof raw.vars === 'object') checkVars(raw.vars, [...path, 'vars'], doc, out);
    for (const [h, vars] of Object.entries(raw.hosts ?? {})) if (vars && typeof vars === 'object') checkVars(vars, [...path, 'hosts', h], doc, out);
    for (const [c, child] of Object.entries(raw.children ?? {})) visit(child, [...path, 'children', c]);
  };
  for (const [name, raw] of Object.entries(root)) visit(raw, [name]);
  return out;
}
