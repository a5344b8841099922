/**
 * One transport per host for the whole run: LocalTransport for `ansible_connection: local`,
 * SshTransport otherwise (host keys verified against known_hosts; `--accept-new` records unknown
 * keys, a changed key is always refused), through the ProxyJump hops the inventory, ~/.ssh/config
 * or -J name (one shared connection per hop for the whole run).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { HostEntry } from '../inventory/types.js';
import type { AnsibleVars } from '../inventory/ansible-config.js';
import { userError } from '../errors.js';
import { LocalTransport } from '../transport/local.js';
import { SshTransport } from '../transport/ssh.js';
import { becomePasswordOf, sshOptionsForHost } from '../transport/ssh-options.js';
import { JumpPool } from '../transport/jump.js';
import { machineSshConfigIo, PendingExec, readUserConfigFile, SshConfigError, type SshConfigIo } from '../transport/ssh-config-io.js';
import type { BecomeSpec } from '../transport/become.js';
import type { PassphraseSource } from '../transport/ssh-auth.js';
import type { Transport } from '../transport/types.js';

export interface ConnectOptions {
  acceptNew?: boolean;
  /** overrides the inventory's known_hosts */
  knownHosts?: string;
  /** used when the inventory names no key */
  privateKey?: string;
  /** used when the inventory names no user */
  user?: string;
  /** every host becomes root (or becomeUser) through sudo */
  become?: boolean;
  /** --become-user: wins over ansible_become_user */
  becomeUser?: string;
  becomePassword?: string;
  connectTimeoutMs?: number;
  /** ~/.ssh/config text; default: read it when it exists */
  sshConfigText?: string;
  /** /etc/ssh/ssh_config text, read after the user's; default: read it when it exists */
  systemSshConfigText?: string;
  /** -J/--jump: ProxyJump for every host, wins over the inventory and ~/.ssh/config */
  jump?: string;
  /** asked once per encrypted key when $RUNBOOK_KEY_PASSPHRASE does not open it */
  askPassphrase?: PassphraseSource;
  /** ansible.cfg and ANSIBLE_* settings, as the inventory variables they stand beneath (inventory/ansible-config.ts) */
  ansible?: AnsibleVars;
}

// the ssh configs, read once per process (ssh(1) reads them at each start; a run is one start).
// The user's file is checked as ssh checks it (its owner and mode): a refusal is each host's error.
const configTexts = new Map<string, string | undefined | SshConfigError>();
function configText(file: string, user: boolean): string | undefined {
  let text = configTexts.get(file);
  if (!configTexts.has(file)) {
    try {
      text = user ? readUserConfigFile(file, { unreadable: 'skip' }) : existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    } catch (e) {
      text = e instanceof SshConfigError ? e : undefined;
    }
    configTexts.set(file, text);
  }
  if (text instanceof SshConfigError) throw text;
  return text;
}

// one reader of included files and `Match exec` answers per run, as the jump pools below
const configIos = new WeakMap<object, SshConfigIo>();
function sshConfigIoFor(o: ConnectOptions): SshConfigIo {
  let io = configIos.get(o);
  if (!io) configIos.set(o, (io = machineSshConfigIo({ deferExec: true })));
  return io;
}

/** sshOptionsForHost, running the `Match exec` commands it meets without blocking the other hosts. */
async function hostSshOptions(entry: HostEntry, o: ConnectOptions): Promise<ReturnType<typeof sshOptionsForHost>> {
  const io = sshConfigIoFor(o);
  let sshConfigText: string | undefined;
  let systemSshConfigText: string | undefined;
  try {
    sshConfigText = o.sshConfigText ?? configText(join(homedir(), '.ssh', 'config'), true);
    systemSshConfigText = o.systemSshConfigText ?? configText('/etc/ssh/ssh_config', false);
  } catch (e) {
    throw userError('inventory', `the ssh config: ${(e as Error).message}`, { host: entry.name });
  }
  for (;;) {
    try {
      return sshOptionsForHost(entry, {
        ...(o.acceptNew ? { acceptNew: true } : {}),
        ...(sshConfigText !== undefined ? { sshConfigText } : {}),
        ...(systemSshConfigText !== undefined ? { systemSshConfigText } : {}),
        sshConfigIo: io,
        ...(o.connectTimeoutMs !== undefined ? { connectTimeoutMs: o.connectTimeoutMs } : {}),
        ...(o.jump ? { jump: o.jump } : {}),
      });
    } catch (e) {
      if (!(e instanceof PendingExec)) throw e;
      await io.settle!(e.command);
    }
  }
}

// one pool of jump hosts per run (every host of a run shares its ConnectOptions object)
const pools = new WeakMap<object, JumpPool>();
const defaultPool = new JumpPool();
export function jumpPoolFor(o: ConnectOptions | undefined): JumpPool {
  if (!o) return defaultPool;
  let p = pools.get(o);
  if (!p) pools.set(o, (p = new JumpPool()));
  return p;
}

/**
 * Who the host's operations run as: a runbook-level `become`/`become_user` (when set) wins over the
 * inventory's ansible_become and -b; -b/--become-user win over the inventory.
 */
export function hostBecome(h: HostEntry, o: ConnectOptions = {}, runbook?: { become?: boolean; become_user?: string }): BecomeSpec | false {
  // the Ansible config's become and become_user stand beneath the inventory's, as in Ansible
  const own = h.vars.ansible_become !== undefined;
  const on = runbook?.become ?? (o.become || (own ? h.become : o.ansible?.ansible_become === true));
  if (!on) return false;
  const vars = { ...o.ansible, ...h.vars };
  const inv = typeof vars.ansible_become_user === 'string' ? vars.ansible_become_user : undefined;
  const user = runbook?.become_user ?? o.becomeUser ?? inv;
  return user ? { user } : {};
}

/**
 * The identity of a host's session (its lock, backups, restore and rollback): the runbook's become,
 * or become when any play becomes. The live run and `runbook rollback ID` both use it, so every
 * operation on a host runs as the same user.
 */
export function sessionBecome(rb: { runbook: { become?: boolean; become_user?: string }; plays: { settings: { become?: boolean } }[] }): { become?: boolean; become_user?: string } {
  const top = rb.runbook.become ?? (rb.plays.some((p) => p.settings.become === true) ? true : undefined);
  return { ...(top !== undefined ? { become: top } : {}), ...(rb.runbook.become_user ? { become_user: rb.runbook.become_user } : {}) };
}

/**
 * The host as Ansible would connect to it: its inventory values, else the command line's (-u,
 * --private-key), else the Ansible config's; the config's other settings (ssh_args,
 * host_key_checking, timeout, remote_port) beneath the inventory's variables.
 */
export function withAnsibleDefaults(h: HostEntry, o: ConnectOptions): HostEntry {
  const d = o.ansible ?? {};
  const entry: HostEntry = { ...h, vars: { ...d, ...h.vars } };
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const user = h.user ?? o.user ?? text(d.ansible_user);
  if (user) entry.user = user;
  const key = h.privateKeyFile ?? o.privateKey ?? text(d.ansible_ssh_private_key_file);
  if (key) entry.privateKeyFile = key;
  if (h.vars.ansible_port === undefined && h.vars.ansible_ssh_port === undefined && typeof d.ansible_port === 'number') entry.port = d.ansible_port;
  return entry;
}

export async function openTransport(h: HostEntry, o: ConnectOptions = {}, runbook?: { become?: boolean; become_user?: string }): Promise<Transport> {
  const become = hostBecome(h, o, runbook);
  if (h.connection === 'local') {
    // as for SSH hosts: the inventory's (or ansible.cfg's) password, else -K's
    const pw = becomePasswordOf(withAnsibleDefaults(h, o)) ?? o.becomePassword;
    const t = new LocalTransport({ host: h.name, ...(pw !== undefined ? { becomePassword: pw } : {}) });
    return become ? t.withBecome(become) : t;
  }
  const entry = withAnsibleDefaults(h, o);
  if (o.knownHosts) entry.knownHostsFile = o.knownHosts;
  const so = await hostSshOptions(entry, o);
  const { proxyJumpSpec: _spec, jumps, ...opts } = so;
  if (o.becomePassword !== undefined && opts.becomePassword === undefined) opts.becomePassword = o.becomePassword;
  if (o.becomeUser) opts.becomeUser = o.becomeUser;
  if (o.askPassphrase) opts.askPassphrase = o.askPassphrase;
  let t: SshTransport;
  if (jumps?.length) {
    const { knownHostsPaths, globalKnownHostsPaths, hostKeyPolicy, connectTimeoutMs, agent, identitiesOnly, passphrase, askPassphrase, keepalive, keepaliveCountMax, hostKeyAlgorithms } = opts;
    const settings = { knownHostsPaths, globalKnownHostsPaths, hostKeyPolicy, connectTimeoutMs, agent, identitiesOnly, passphrase, askPassphrase, keepalive, keepaliveCountMax, hostKeyAlgorithms };
    for (const k of Object.keys(settings) as (keyof typeof settings)[]) if (settings[k] === undefined) delete settings[k];
    const pool = jumpPoolFor(o);
    const { last, release } = await pool.through(jumps, settings, h.name);
    try {
      t = await SshTransport.connect({ ...opts, proxyJump: last, onClose: release });
    } catch (e) {
      release();
      throw e;
    }
  } else {
    t = await SshTransport.connect(opts);
  }
  return t.withBecome(become);
}
