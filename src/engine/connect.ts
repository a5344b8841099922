/**
 * One transport per host for the whole run: LocalTransport for `ansible_connection: local`,
 * SshTransport otherwise (host keys verified against known_hosts; `--accept-new` records unknown
 * keys, a changed key is always refused).
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { HostEntry } from '../inventory/types.js';
import { LocalTransport } from '../transport/local.js';
import { SshTransport, sshOptionsForHost } from '../transport/ssh.js';
import type { Transport } from '../transport/types.js';

export interface ConnectOptions {
  acceptNew?: boolean;
  /** overrides the inventory's known_hosts */
  knownHosts?: string;
  /** used when the inventory names no key */
  privateKey?: string;
  /** used when the inventory names no user */
  user?: string;
  /** every host becomes root through sudo */
  become?: boolean;
  becomePassword?: string;
  connectTimeoutMs?: number;
  /** ~/.ssh/config text; default: read it when it exists */
  sshConfigText?: string;
}

let cachedSshConfig: string | undefined | null = null;
function defaultSshConfig(): string | undefined {
  if (cachedSshConfig !== null) return cachedSshConfig;
  const file = join(homedir(), '.ssh', 'config');
  try {
    cachedSshConfig = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  } catch {
    cachedSshConfig = undefined;
  }
  return cachedSshConfig;
}

export async function openTransport(h: HostEntry, o: ConnectOptions = {}): Promise<Transport> {
  if (h.connection === 'local') return new LocalTransport({ host: h.name });
  const entry: HostEntry = { ...h };
  if (!entry.user && o.user) entry.user = o.user;
  if (!entry.privateKeyFile && o.privateKey) entry.privateKeyFile = o.privateKey;
  if (o.knownHosts) entry.knownHostsFile = o.knownHosts;
  if (o.become) entry.become = true;
  const sshConfigText = o.sshConfigText ?? defaultSshConfig();
  const so = sshOptionsForHost(entry, {
    ...(o.acceptNew ? { acceptNew: true } : {}),
    ...(sshConfigText !== undefined ? { sshConfigText } : {}),
    ...(o.connectTimeoutMs !== undefined ? { connectTimeoutMs: o.connectTimeoutMs } : {}),
  });
  const { proxyJumpSpec: _jump, ...opts } = so;
  if (o.becomePassword !== undefined && opts.becomePassword === undefined) opts.becomePassword = o.becomePassword;
  return SshTransport.connect(opts);
}
