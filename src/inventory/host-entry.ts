/** An inventory host's connection settings, from its merged variables (YAML, INI and --hosts inventories alike). */
import type { HostEntry } from './types.js';
import { hostAnsibleBoolean } from './ansible-values.js';

/** Where a host's SSH settings are read from, each under its name and Ansible's older one (ansible_ssh_*), first found wins. */
const SSH_VARS = {
  address: ['ansible_host', 'ansible_ssh_host'],
  port: ['ansible_port', 'ansible_ssh_port'],
  user: ['ansible_user', 'ansible_ssh_user'],
  key: ['ansible_ssh_private_key_file', 'ansible_private_key_file'],
} as const;

export function hostEntry(name: string, vars: Record<string, unknown>, groups: string[]): HostEntry {
  const str = (ks: readonly string[]) => ks.map((k) => vars[k]).find((v): v is string => typeof v === 'string');
  const portVar = SSH_VARS.port.map((k) => vars[k]).find((v) => v !== undefined && v !== null);
  const port = typeof portVar === 'number' ? portVar : typeof portVar === 'string' ? Number(portVar) : 22;
  return {
    name,
    address: str(SSH_VARS.address) ?? name,
    port,
    user: str(SSH_VARS.user),
    privateKeyFile: str(SSH_VARS.key),
    knownHostsFile: str(['runbook_known_hosts']),
    become: hostAnsibleBoolean(vars, 'ansible_become', name) === true, // `yes`, `on`, 1... as in Ansible
    connection: vars.ansible_connection === 'local' || (name === 'localhost' && vars.ansible_connection === undefined && !sshSettings(vars)) ? 'local' : 'ssh',
    groups: groups.includes('all') ? groups : ['all', ...groups],
    vars,
  };
}

/**
 * Whether a host's variables say how to reach it over SSH. A bare `localhost` is the operator's
 * machine (as Ansible's implicit localhost); one with an address, port, user or key is an SSH
 * target, as Ansible treats a localhost the inventory lists (a VM behind a forwarded port:
 * `localhost ansible_port=2222 ansible_user=vagrant`), never this machine as the operator.
 */
function sshSettings(vars: Record<string, unknown>): boolean {
  return Object.values(SSH_VARS).some((ks) => ks.some((k) => vars[k] !== undefined));
}
