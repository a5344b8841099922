/**
 * OpenSSH known_hosts, parsed by hand: plain names, `[host]:port`, comma lists, wildcards and
 * `!negation`, hashed `|1|salt|hash` names, and the `@revoked` / `@cert-authority` markers.
 * Keys are compared as raw blobs; fingerprints are printed like OpenSSH (`SHA256:` + unpadded base64).
 */
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface KnownHostEntry {
  file: string;
  /** 1-based line number */
  line: number;
  marker?: 'revoked' | 'cert-authority';
  /** the raw host field: comma list of patterns, or one `|1|salt|hash` */
  hosts: string;
  keyType: string;
  key: Buffer;
}

/** How OpenSSH names a host in known_hosts: `host` on port 22, `[host]:port` otherwise. */
export function hostKeyName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** ssh's GlobalKnownHostsFile default: a fleet's host keys, as configuration management puts them there */
export const GLOBAL_KNOWN_HOSTS = ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];

export interface KnownHostsChoice {
  host: string;
  port: number;
  /** UserKnownHostsFile; default ~/.ssh/known_hosts and ~/.ssh/known_hosts2 */
  knownHostsPath?: string;
  knownHostsPaths?: string[];
  /** GlobalKnownHostsFile; default GLOBAL_KNOWN_HOSTS */
  globalKnownHostsPaths?: string[];
  /** HostKeyAlias: the name looked up and recorded instead of the host (no port added, as ssh) */
  hostKeyAlias?: string;
}

/**
 * What ssh reads to check a host's key: the user's files then the global ones, and the name it
 * looks the host up by. `files[0]` is where an accepted new key is recorded (a user file, never a
 * global one); `shown` names, for messages, that file and the others that exist.
 */
export function knownHostsFor(o: KnownHostsChoice): { files: string[]; shown: string[]; keyName: string; entries: KnownHostEntry[] } {
  const user = o.knownHostsPaths ?? (o.knownHostsPath ? [o.knownHostsPath] : [join(homedir(), '.ssh', 'known_hosts'), join(homedir(), '.ssh', 'known_hosts2')]);
  const files = [...user, ...(o.globalKnownHostsPaths ?? GLOBAL_KNOWN_HOSTS)];
  const keyName = o.hostKeyAlias ?? hostKeyName(o.host, o.port);
  return { files, shown: [files[0]!, ...files.slice(1).filter((f) => existsSync(f))], keyName, entries: loadKnownHosts(files, keyName) };
}

/** `SHA256:...` as printed by `ssh-keygen -lf` */
export function fingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

/** Key type written inside the blob (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ...). */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const len = key.readUInt32BE(0);
  if (len > 64 || 4 + len > key.length) return 'unknown';
  return key.subarray(4, 4 + len).toString('latin1');
}

export function parseKnownHosts(text: string, file = 'known_hosts'): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const fields = raw.split(/[ \t]+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else continue; // unknown marker: OpenSSH ignores the line
    }
    const [hosts, keyType, b64] = fields;
    if (!hosts || !keyType || !b64) continue;
    // @revoked lines may name `*`; plain lines need a key type and a base64 blob
    let key: Buffer;
    try {
      key = Buffer.from(b64, 'base64');
    } catch {
      continue;
    }
    if (key.length === 0 || keyTypeOf(key) !== keyType) continue; // corrupt line: skip like OpenSSH
    out.push({ file, line: i + 1, ...(marker ? { marker } : {}), hosts, keyType, key });
  }
  return out;
}

// Compiled patterns, shared by every host of a run: each host checks every known_hosts line, so
// compiling per call made 500 hosts cost 500 × 500 RegExp compilations.
const patterns = new Map<string, RegExp | string>();

/** OpenSSH's pattern match: `*` and `?` wildcards, case-insensitive. */
function globMatch(pattern: string, name: string): boolean {
  let p = patterns.get(pattern);
  if (p === undefined) {
    p = /[*?]/.test(pattern)
      ? new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'i')
      : pattern.toLowerCase();
    patterns.set(pattern, p);
  }
  return typeof p === 'string' ? p === name.toLowerCase() : p.test(name);
}

/** Does the host field of an entry match this host name (as given by hostKeyName)? */
export function hostsFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) {
    const [, , salt, hash] = hosts.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  let matched = false;
  for (const p of hosts.split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false; // a negated match vetoes the line
    } else if (globMatch(p, name)) matched = true;
  }
  return matched;
}

export type HostKeyVerdict =
  | { status: 'ok'; entry: KnownHostEntry }
  | { status: 'revoked'; entry: KnownHostEntry }
  | { status: 'changed'; entry: KnownHostEntry }
  /** no entry for this host and key type; `otherTypes` lists the key types that are known, `authority` the first @cert-authority line for its name */
  | { status: 'unknown'; otherTypes: string[]; authority?: KnownHostEntry };

/**
 * OpenSSH's decision for `key` presented by `name` (from hostKeyName):
 * a revoked key always refuses; a matching entry accepts; an entry of the same key type with
 * another key means the key CHANGED; otherwise it is unknown.
 */
export function checkHostKey(entries: readonly KnownHostEntry[], name: string, key: Buffer): HostKeyVerdict {
  for (const e of entries) {
    if (e.marker === 'revoked' && e.key.equals(key)) return { status: 'revoked', entry: e };
  }
  const type = keyTypeOf(key);
  let changed: KnownHostEntry | undefined;
  const otherTypes = new Set<string>();
  let authority: KnownHostEntry | undefined;
  for (const e of entries) {
    // cert-authority lines vouch only for host certificates, which runbook's SSH library cannot check
    if (e.marker === 'cert-authority' && hostsFieldMatches(e.hosts, name)) authority ??= e;
    if (e.marker) continue;
    if (!hostsFieldMatches(e.hosts, name)) continue;
    if (e.key.equals(key)) return { status: 'ok', entry: e };
    if (e.keyType === type) changed ??= e;
    else otherTypes.add(e.keyType);
  }
  if (changed) return { status: 'changed', entry: changed };
  return { status: 'unknown', otherTypes: [...otherTypes], ...(authority ? { authority } : {}) };
}

/** Key types known for a host, to offer them first in the key exchange (as OpenSSH does). */
export function knownKeyTypes(entries: readonly KnownHostEntry[], name: string): string[] {
  const types = new Set<string>();
  for (const e of entries) if (!e.marker && hostsFieldMatches(e.hosts, name)) types.add(e.keyType);
  return [...types];
}

// ---- files, cached by (mtime, size): 500 hosts share one known_hosts ----
interface CachedFile {
  mtimeMs: number;
  size: number;
  entries: KnownHostEntry[];
  /**
   * Entries by each plain (lower-cased, no wildcard) name of their host field, so a host finds its
   * lines without scanning the file: scanning made N hosts against an N-line file quadratic
   * (2,000 hosts: 4 million pattern matches).
   */
  byName: Map<string, KnownHostEntry[]>;
  /** entries every host must still check: revoked keys, hashed names, wildcards, negations */
  scanned: KnownHostEntry[];
}
const cache = new Map<string, CachedFile>();

function indexEntries(entries: KnownHostEntry[]): Pick<CachedFile, 'byName' | 'scanned'> {
  const byName = new Map<string, KnownHostEntry[]>();
  const scanned: KnownHostEntry[] = [];
  for (const e of entries) {
    const names = e.hosts.split(',');
    if (e.marker || e.hosts.startsWith('|') || names.some((n) => /[*?!]/.test(n))) {
      scanned.push(e);
      continue;
    }
    for (const n of new Set(names.map((x) => x.toLowerCase()))) {
      const list = byName.get(n);
      if (list) list.push(e);
      else byName.set(n, [e]);
    }
  }
  return { byName, scanned };
}

function cachedFile(file: string): CachedFile | undefined {
  let st;
  try {
    st = statSync(file);
  } catch {
    return undefined; // a missing file knows no hosts
  }
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit;
  const entries = parseKnownHosts(readFileSync(file, 'utf8'), file);
  const c = { mtimeMs: st.mtimeMs, size: st.size, entries, ...indexEntries(entries) };
  cache.set(file, c);
  return c;
}

/**
 * The entries of these files, in file order. With `forName` (hostKeyName), only those that can
 * concern that host: the lines naming it, plus every line a name lookup cannot rule out (revoked
 * keys, hashed names, patterns). checkHostKey and knownKeyTypes decide the same on either.
 */
export function loadKnownHosts(files: readonly string[], forName?: string): KnownHostEntry[] {
  const all: KnownHostEntry[] = [];
  for (const file of files) {
    const c = cachedFile(file);
    if (!c) continue;
    if (forName === undefined) {
      all.push(...c.entries);
      continue;
    }
    const named = c.byName.get(forName.toLowerCase()) ?? [];
    const mine = c.scanned.length === 0 ? named : [...named, ...c.scanned].sort((a, b) => a.line - b.line);
    all.push(...mine);
  }
  return all;
}

/** Append `name type base64` (what `StrictHostKeyChecking accept-new` does). One write: O_APPEND keeps lines whole. */
export function appendKnownHost(file: string, name: string, key: Buffer): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  try {
    const text = readFileSync(file);
    if (text.length > 0 && text[text.length - 1] !== 0x0a) prefix = '\n';
  } catch {
    /* new file */
  }
  appendFileSync(file, `${prefix}${name} ${keyTypeOf(key)} ${key.toString('base64')}\n`, { mode: 0o600 });
  cache.delete(file);
}
