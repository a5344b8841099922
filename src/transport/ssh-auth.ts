/**
 * What an SSH connection needs before its first byte: private keys (with their passphrase), the
 * authentication methods in OpenSSH's order, the host key check against known_hosts, host key
 * algorithms, and connection errors in words an operator can act on.
 */
import { createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import ssh2, { type AnyAuthMethod, type ParsedKey } from 'ssh2';
import { messageOf, userError, UserError } from '../errors.js';
import { matchesPattern } from './ssh-config-match.js';
import { appendKnownHost, checkHostKey, fingerprint, keyTypeOf, type KnownHostEntry } from './known-hosts.js';

const { utils } = ssh2; // CommonJS: no named exports at run time

export type HostKeyPolicy = 'strict' | 'accept-new';

export const DEFAULT_HOST_KEY_ALGOS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

// what ssh2 can verify: certificates (`*-cert-v01@openssh.com`) and security keys (`sk-*`) it cannot
const SSH2_HOST_KEY_ALGOS = new Set([...DEFAULT_HOST_KEY_ALGOS, 'ssh-dss']);

/**
 * Host key algorithms, the types known_hosts already has for this host first (as OpenSSH orders
 * them). `configured` is a HostKeyAlgorithms value: a list replaces the default, `+x` appends,
 * `-x` removes (wildcards allowed), `^x` puts first (ssh_config(5)). Algorithms ssh2 does not have
 * are left out (a system-wide crypto policy lists certificate types); a list of nothing else is an error.
 */
export function hostKeyAlgorithms(knownTypes: string[], configured?: string, where?: { host: string }): string[] {
  let base = DEFAULT_HOST_KEY_ALGOS;
  if (configured) {
    const written = configured.slice(/^[+^-]/.test(configured) ? 1 : 0).split(',').map((s) => s.trim()).filter(Boolean);
    const list = written.filter((a) => SSH2_HOST_KEY_ALGOS.has(a));
    if (configured.startsWith('+')) base = [...base, ...list];
    else if (configured.startsWith('-')) base = base.filter((a) => !written.some((w) => matchesPattern(a, w)));
    else if (configured.startsWith('^')) base = [...list, ...base];
    else if (list.length) return list; // an explicit list: exactly these, in this order
    else throw userError('inventory', `HostKeyAlgorithms ${configured} names no host key algorithm runbook's SSH library (ssh2) can verify; it has ${[...SSH2_HOST_KEY_ALGOS].join(', ')}`, where);
    if (!base.length) throw userError('inventory', `HostKeyAlgorithms ${configured} leaves no host key algorithm`, where);
  }
  const first: string[] = [];
  for (const t of knownTypes) {
    if (t === 'ssh-rsa') first.push('rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa');
    else if (base.includes(t)) first.push(t);
  }
  return [...new Set([...first.filter((a) => base.includes(a)), ...base])];
}

/** Asked once per key file when it is encrypted and no passphrase was given (a terminal prompt). */
export type PassphraseSource = (keyPath: string) => Promise<string | undefined>;

// Keys are read and parsed once per process: 500 hosts share one lab key.
const keyCache = new Map<string, ParsedKey>();

export async function loadKey(path: string, passphrase: string | undefined, where: { host: string }, ask?: PassphraseSource): Promise<ParsedKey> {
  const cached = keyCache.get(path);
  if (cached) return cached;
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    throw userError('connect', `cannot read private key ${path}: ${messageOf(e)}`, where);
  }
  let parsed = utils.parseKey(data, passphrase ?? process.env.RUNBOOK_KEY_PASSPHRASE);
  const encrypted = (e: ParsedKey | ParsedKey[] | Error): e is Error => e instanceof Error && /encrypted|passphrase|bad decrypt/i.test(e.message);
  if (encrypted(parsed) && ask) {
    const p = await ask(path);
    if (p !== undefined) parsed = utils.parseKey(data, p);
  }
  if (parsed instanceof Error) {
    const hint = encrypted(parsed) ? 'the key is encrypted: set $RUNBOOK_KEY_PASSPHRASE, run on a terminal to be asked, or load it into ssh-agent' : undefined;
    throw userError('connect', `cannot use private key ${path}: ${parsed.message}`, { ...where, ...(hint ? { hint } : {}) });
  }
  const key = signingOnce(Array.isArray(parsed) ? parsed[0]! : parsed);
  keyCache.set(path, key);
  return key;
}

/** The hash each key type signs with when ssh2 names none (its keyParser's defaults); RSA is always named, from server-sig-algs. */
const DEFAULT_SIGN_HASH: Partial<Record<string, string | null>> = {
  'ssh-ed25519': null,
  'ecdsa-sha2-nistp256': 'sha256',
  'ecdsa-sha2-nistp384': 'sha384',
  'ecdsa-sha2-nistp521': 'sha512',
};

/**
 * ssh2 signs with the key's PEM text, which OpenSSL parses anew at every signature: a seventh of
 * the client's CPU when connecting to hundreds of hosts (BENCHMARKS.md, fleet cert-check). This
 * key signs with a key object parsed once; the signature is the same bytes (ssh-auth.test.ts).
 */
export function signingOnce(key: ParsedKey): ParsedKey {
  let keyObject: KeyObject | undefined;
  const viaPem = key.sign.bind(key);
  key.sign = (data: Buffer | string, algo?: string): Buffer => {
    const hash = algo || DEFAULT_SIGN_HASH[key.type];
    if (hash === undefined) return viaPem(data, algo); // no default known here: as ssh2 signs
    const pem = key.getPrivatePEM() as string | null; // null for a public key given as a private one
    if (pem === null) return new Error('No private key available') as unknown as Buffer; // ssh2's own words
    try {
      keyObject ??= createPrivateKey(pem);
      return cryptoSign(hash, typeof data === 'string' ? Buffer.from(data) : data, keyObject);
    } catch (e) {
      // ssh2's contract: an Error returned, not thrown (its types say Buffer)
      return (e instanceof Error ? e : new Error(String(e))) as unknown as Buffer;
    }
  };
  return key;
}

export interface AuthOptions {
  user: string;
  privateKeyPaths?: string[];
  passphrase?: string;
  askPassphrase?: PassphraseSource;
  /** ssh-agent socket; `true` means $SSH_AUTH_SOCK */
  agent?: string | boolean;
  /** IdentitiesOnly: with key files given, do not offer the agent's keys */
  identitiesOnly?: boolean;
  password?: string;
}

/** Authentication methods: named key files, the agent (unless IdentitiesOnly), password (then keyboard-interactive with it). */
export async function authMethods(o: AuthOptions, where: { host: string }, target: string): Promise<AnyAuthMethod[]> {
  const methods: AnyAuthMethod[] = [];
  const user = o.user;
  const agent = o.agent === true ? process.env.SSH_AUTH_SOCK : o.agent || undefined;
  let keyPaths = o.privateKeyPaths;
  // the keys the inventory names first, then the agent's: an agent full of other keys must not use
  // up the server's MaxAuthTries before the right key is offered
  const explicit = !!keyPaths?.length;
  if (agent && !explicit) methods.push({ type: 'agent', username: user, agent });
  if (!keyPaths && !agent && o.password === undefined) {
    keyPaths = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => join(homedir(), '.ssh', f)).filter((f) => existsSync(f));
    if (process.env.SSH_AUTH_SOCK) methods.push({ type: 'agent', username: user, agent: process.env.SSH_AUTH_SOCK });
  }
  for (const p of keyPaths ?? []) methods.push({ type: 'publickey', username: user, key: await loadKey(p, o.passphrase, where, o.askPassphrase) });
  if (agent && explicit && !o.identitiesOnly) methods.push({ type: 'agent', username: user, agent });
  const password = o.password;
  if (password !== undefined) {
    methods.push({ type: 'password', username: user, password });
    // the same password through PAM's own prompt (sshd with PasswordAuthentication no and
    // KbdInteractiveAuthentication yes, FreeBSD's default), as Ansible's sshpass answers it; any
    // other question (a second factor) gets no answer, and the login fails
    methods.push({ type: 'keyboard-interactive', username: user, prompt: (_name, _instructions, _lang, prompts, finish) => finish(prompts.map((p) => (/password/i.test(p.prompt) ? password : ''))) });
  }
  if (methods.length === 0) {
    throw userError('connect', `no way to authenticate to ${target}: no private key, ssh-agent or password`, {
      ...where,
      hint: 'set ansible_ssh_private_key_file or start ssh-agent',
    });
  }
  return methods;
}

/**
 * The ssh2 hostVerifier for one host: a known key passes; a changed or revoked key always refuses;
 * an unknown key refuses (strict) or is recorded (accept-new). `refusal()` tells why it refused.
 */
export function hostVerifier(o: { entries: KnownHostEntry[]; keyName: string; hostPort: string; knownFiles: string[]; shownFiles?: string[]; policy: HostKeyPolicy; where: { host: string } }): {
  verify: (key: Buffer) => boolean;
  refusal: () => UserError | undefined;
} {
  let refusal: UserError | undefined;
  const { entries, keyName, hostPort, knownFiles, policy, where } = o;
  const verify = (key: Buffer): boolean => {
    const fp = `${keyTypeOf(key)} ${fingerprint(key)}`;
    const v = checkHostKey(entries, keyName, key);
    if (v.status === 'ok') return true;
    if (v.status === 'revoked') {
      refusal = userError('host-key', `host key for ${hostPort} (${fp}) is REVOKED in ${v.entry.file} line ${v.entry.line}; refusing to connect`, where);
      return false;
    }
    if (v.status === 'changed') {
      refusal = userError(
        'host-key',
        `HOST KEY CHANGED for ${hostPort} (now ${fp}): possible man-in-the-middle; remove the old key from ${v.entry.file} line ${v.entry.line} if the change is expected`,
        where,
      );
      return false;
    }
    if (policy === 'accept-new') {
      try {
        appendKnownHost(knownFiles[0]!, keyName, key);
      } catch (e) {
        refusal = userError('host-key', `cannot record the host key for ${hostPort} in ${knownFiles[0]}: ${messageOf(e)}`, where);
        return false;
      }
      return true;
    }
    const also = v.otherTypes.length ? ` (known_hosts has only ${v.otherTypes.join(', ')} keys for it)` : '';
    const notKnown = `host key for ${hostPort} is not in ${(o.shownFiles ?? knownFiles).join(', ')} (${fp})${also}`;
    if (v.authority) {
      // ssh(1) trusts the host through its certificate; ssh2 negotiates plain keys only
      refusal = userError('host-key', `${notKnown}: ${v.authority.file} line ${v.authority.line} trusts it through a host certificate authority (@cert-authority), and runbook's SSH library (ssh2) cannot verify host certificates`, {
        ...where,
        hint: `add the host's own key to a known_hosts file runbook reads (e.g. \`ssh-keyscan -t ed25519 HOST\`, checked against the certificate: \`ssh-keygen -L\`), or accept it once with --accept-new`,
      });
      return false;
    }
    refusal = userError('host-key', `${notKnown}; run with --accept-new to trust it`, where);
    return false;
  };
  return { verify, refusal: () => refusal };
}

/** Errors while connecting, in words an operator can act on. */
export function connectError(e: unknown, target: string, where: { host: string }, timeoutMs: number): UserError {
  if (e instanceof UserError) return e;
  const err = e as NodeJS.ErrnoException & { level?: string };
  const code = err?.code;
  let msg: string;
  if (code === 'ECONNREFUSED') msg = `cannot connect to ${target}: connection refused (is sshd running and listening there?)`;
  else if (code === 'ETIMEDOUT' || /timed out/i.test(messageOf(e))) msg = `cannot connect to ${target}: timed out after ${timeoutMs} ms`;
  else if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') msg = `cannot connect to ${target}: host unreachable`;
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') msg = `cannot connect to ${target}: unknown host name`;
  else if (code === 'ECONNRESET') msg = `cannot connect to ${target}: connection reset during the SSH handshake`;
  else if (err?.level === 'client-authentication') msg = `authentication failed for ${target}: ${messageOf(e)}`;
  else msg = `cannot connect to ${target}: ${messageOf(e)}`;
  return userError('connect', msg, where);
}
