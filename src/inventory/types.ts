/** An inventory host, with its variables already merged in Ansible's order (all < parent groups < child groups < host). */
export interface HostEntry {
  /** inventory name */
  name: string;
  /** address to connect to (ansible_host, else the name) */
  address: string;
  port: number;
  /** SSH user; undefined means: from ~/.ssh/config, else the operator's user name */
  user?: string;
  privateKeyFile?: string;
  knownHostsFile?: string;
  become: boolean;
  connection: 'ssh' | 'local';
  /** groups the host belongs to, directly or through children; always includes `all` */
  groups: string[];
  /** merged inventory variables (group vars then host vars) */
  vars: Record<string, unknown>;
}

export interface Inventory {
  /** file it was loaded from; undefined for --hosts */
  file?: string;
  hosts: Map<string, HostEntry>;
  /** group name → names of the hosts in it, including through children */
  groups: Map<string, Set<string>>;
  /** Ansible's view of the groups, for host patterns in Ansible's order (patterns.ts): rebuilt from a YAML file, Ansible's own for an INI one; absent: one flat group */
  tree?: import('./patterns.js').PatternTree;
}
