/* Generated from the JSON Schema by scripts/gen-types.mjs. Do not edit: change the schema and run `npm run gen:types`. */

/**
 * This interface was referenced by `Inventory`'s JSON-Schema
 * via the `definition` "groupName".
 */
export type GroupName = string;
/**
 * A host name (letters, digits, `.`, `-`, `_`, `:`), or a range like `cp[1:3]`.
 *
 * This interface was referenced by `Inventory`'s JSON-Schema
 * via the `definition` "hostName".
 */
export type HostName = string;
/**
 * A group: its hosts, its child groups and variables for all of them.
 *
 * This interface was referenced by `Inventory`'s JSON-Schema
 * via the `definition` "group".
 */
export type Group = {
  hosts?: {
    [k: string]: Host;
  } | null;
  children?: {
    [k: string]: Group;
  } | null;
  vars?: Vars;
} | null;
/**
 * A host's variables. The Ansible connection variables runbook honours and warns about are listed in README (Inventories): ansible_host, ansible_port, ansible_user, ansible_ssh_private_key_file, ansible_password, ansible_ssh_common_args, ansible_ssh_extra_args, ansible_ssh_args, ansible_become, ansible_become_user, ansible_become_password, ansible_connection (ssh | local), ...
 *
 * This interface was referenced by `Inventory`'s JSON-Schema
 * via the `definition` "host".
 */
export type Host = {
  ansible_host?: string;
  ansible_port?: number;
  ansible_user?: string;
  ansible_ssh_private_key_file?: string;
  ansible_become?: AnsibleBoolean;
  ansible_host_key_checking?: AnsibleBoolean;
  ansible_connection?: "ssh" | "local";
  runbook_known_hosts?: string;
  [k: string]: unknown;
} | null;
/**
 * A boolean as Ansible's boolean() reads it: true/false, yes/no, on/off, y/n, t/f, 1/0, in any case (YAML 1.2 loads `yes` as text; runbook takes it as Ansible does). Another value is an error naming the host or group and the variable.
 *
 * This interface was referenced by `Inventory`'s JSON-Schema
 * via the `definition` "ansibleBoolean".
 */
export type AnsibleBoolean = boolean | string | number;
/**
 * This interface was referenced by `Inventory`'s JSON-Schema
 * via the `definition` "vars".
 */
export type Vars = {
  [k: string]: unknown;
} | null;

/**
 * Hosts and groups, in Ansible's YAML inventory format. Top-level keys are groups (usually just `all`).
 */
export interface Inventory {
  [k: string]: Group;
}
