/** An inventory host's connection settings, from its merged variables (YAML, INI and --hosts inventories alike). */
import type { HostEntry } from './types.js';
import { hostAnsibleBoolean } from './ansible-values.js';

export function hostEntry(name: string, vars: Record<string, unknown>, groups: string[]): HostEntry {
  const str = (k: string) => (typeof vars[k] === 'string' ? (vars[k] as string) : undefined);
  const portVar = vars.ansible_port ?? vars.ansible_ssh_port; // ansible_ssh_*: Ansible's older names, still honoured
  const port = typeof portVar === 'number' ? portVar : typeof portVar === 'string' ? Number(portVar) : 22;
  return {
    name,
    address: str('ansible_host') ?? str('ansible_ssh_host') ?? name,
    port,
    user: str('ansible_user') ?? str('ansible_ssh_user'),
    privateKeyFile: str('ansible_ssh_private_key_file') ?? str('ansible_private_key_file'),
    knownHostsFile: str('runbook_known_hosts'),
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
  return ['ansible_host', 'ansible_ssh_host', 'ansible_port', 'ansible_ssh_port', 'ansible_user', 'ansible_ssh_user', 'ansible_ssh_private_key_file', 'ansible_private_key_file'].some((k) => vars[k] !== undefined);
}
