/**
 * Who connects to a host and how, as the journal records it and the redactor needs it: the
 * operator's name, the inventory host and connection options without their secrets, and the
 * inventory variables that hold passwords. Shared by runs (./run.ts) and rollbacks (./rollback.ts).
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { HostEntry } from '../inventory/types.js';
import type { ConnectOptions } from './connect.js';
import type { ConnectionRef, InventoryHostRef } from './events.js';
import { passwdLogin } from '../transport/local-login.js';

/** How many hosts a run or rollback works on at once (--forks). */
export const DEFAULT_FORKS = 50;

export function operatorName(): string {
  return `${passwdLogin() ?? process.env.USER ?? 'unknown'}@${hostname()}`;
}

export function hostRef(h: HostEntry): InventoryHostRef {
  return {
    name: h.name,
    address: h.address,
    port: h.port,
    ...(h.user ? { user: h.user } : {}),
    connection: h.connection,
    become: h.become,
    ...(h.privateKeyFile ? { privateKeyFile: h.privateKeyFile } : {}),
    ...(h.knownHostsFile ? { knownHostsFile: h.knownHostsFile } : {}),
    groups: h.groups,
    // journaled: passwords and passphrases as *** whatever their type (YAML reads 123456 as a number)
    vars: Object.fromEntries(Object.entries(h.vars).map(([k, v]) => [k, PASSWORD_VARS.includes(k) && v !== undefined && v !== null && v !== '' ? '***' : v])),
  };
}

export function connectionRef(c: ConnectOptions | undefined): ConnectionRef {
  if (!c) return {};
  return {
    ...(c.acceptNew ? { acceptNew: true } : {}),
    ...(c.knownHosts ? { knownHosts: resolve(c.knownHosts) } : {}),
    ...(c.privateKey ? { privateKey: resolve(c.privateKey) } : {}),
    ...(c.user ? { user: c.user } : {}),
    ...(c.become ? { become: true } : {}),
    ...(c.becomeUser ? { becomeUser: c.becomeUser } : {}),
    ...(c.jump ? { jump: c.jump } : {}),
    ...(c.ansible ? { ansible: Object.fromEntries(Object.entries(c.ansible).filter(([k]) => !PASSWORD_VARS.includes(k))) } : {}),
  };
}

/** Inventory variables that hold passwords (Ansible's names): redacted like `secrets:`. */
export const PASSWORD_VARS = [
  'ansible_become_password',
  'ansible_become_pass',
  'ansible_password',
  'ansible_ssh_pass',
  'ansible_ssh_password',
  'ansible_ssh_private_key_passphrase',
  'ansible_private_key_passphrase',
];


/** Their values as the transports use them (a number is a password too), for the redactor. */
export function connectionSecrets(h: HostEntry): string[] {
  return PASSWORD_VARS.map((k) => h.vars[k])
    .map((v) => (typeof v === 'number' ? String(v) : v))
    .filter((v): v is string => typeof v === 'string' && v.length > 0);
}

/** The Ansible settings of a rollback or resume: the run's, over those of where it is run now (a password only from now). */
export function withRunAnsible(run: ConnectionRef, now: ConnectOptions | undefined): { ansible?: Record<string, string | number | boolean> } {
  const ansible = { ...now?.ansible, ...run.ansible };
  return Object.keys(ansible).length ? { ansible } : {};
}
