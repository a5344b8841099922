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
    connection: vars.ansible_connection === 'local' || name === 'localhost' && vars.ansible_connection === undefined && !vars.ansible_host ? 'local' : 'ssh',
    groups: groups.includes('all') ? groups : ['all', ...groups],
    vars,
  };
}
