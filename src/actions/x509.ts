/**
 * `x509`: certificate facts, read-only. Sources: `paths`, every `*.crt` under `dir`
 * (recursively), or the client certificates of `kubeconfigs` (embedded client-certificate-data,
 * or the client-certificate file they point at).
 *
 * The host needs no openssl: files come over SFTP, each read started as soon as its path is known
 * (sftpSource), or, when files go through sudo, from ONE exec of a literal sh script (find + base64,
 * coreutils) plus a second for the files kubeconfigs point at (execSource). Certificates are read
 * here (x509-der.ts: a DER walk, OpenSSL for unusual ones).
 *
 * Each cert: name (relative path under `dir` without .crt, e.g. `apiserver`, `etcd/server`; the
 * base name without .crt for `paths`; the kubeconfig's base name, e.g. `admin.conf`), path,
 * source (file|kubeconfig), embedded (kubeconfigs), subject, cn, issuer, sans (plain DNS names and
 * IPs, as `--apiserver-cert-extra-sans` takes them), not_before, not_after (ISO), days_left
 * (whole days, negative when expired), expired, is_ca, fingerprint_sha256, serial.
 * Facts: {certs (sorted by not_after), expiring (names expiring within `within`, default 30d,
 * expired included; sorted), expired (sorted), missing (paths that do not exist: e.g.
 * super-admin.conf exists only on the init node)}. Probe returns the same facts, status ok.
 */
import { posix } from 'node:path';
// js-yaml 4 for kubeconfigs: several times faster than 5 on their long base64 values (js-yaml-4.d.ts)
import { load as loadYaml } from 'js-yaml-4';
import pLimit from 'p-limit';
import type { X509Params } from '../runbook/schema-types.js';
import { messageOf, UserError } from '../errors.js';
import type { Action, ProbeResult, StepContext } from './types.js';
import type { Transport } from '../transport/types.js';
import { parseDuration } from './duration.js';
import { certFields, type CertFields } from './x509-der.js';
import { absPath, describeExit, run, stepError } from './util.js';

export interface CertFacts {
  name: string;
  path: string;
  source: 'file' | 'kubeconfig';
  embedded?: boolean;
  user?: string;
  subject: string;
  cn: string;
  issuer: string;
  sans: string[];
  not_before: string;
  not_after: string;
  days_left: number;
  expired: boolean;
  is_ca: boolean;
  fingerprint_sha256: string;
  serial: string;
}

/**
 * Prints each "$@" as `@<path>` (or `#<base64 path>` when the path holds a line break), then the
 * file as base64, or `!` when unreadable. One process per file (its base64): at hundreds of hosts
 * the processes a check starts on each host are what it costs.
 */
const EMIT_LOOP = [
  "nl='\n'", // a line break, without a subshell
  'for f in "$@"; do',
  '  case $f in',
  "    *\"$nl\"*) printf '#'; printf '%s' \"$f\" | base64 | tr -d '\\n'; printf '\\n' ;;",
  "    *) printf '@%s\\n' \"$f\" ;;",
  '  esac',
  "  if [ -f \"$f\" ] && [ -r \"$f\" ]; then base64 < \"$f\" || echo '!'; else echo '!'; fi",
  'done',
].join('\n');

/**
 * $1 = EMIT_LOOP, $2 = a directory ('' for none), then files: the *.crt under the directory, a `%`
 * line, then the files. One exec for a whole x509 step (its referenced client certificates aside).
 */
const READ_SCRIPT = [
  'loop=$1; d=$2; shift 2',
  'if [ -n "$d" ]; then',
  '  [ -d "$d" ] || { echo "$d is not a directory" >&2; exit 2; }',
  "  find \"$d\" -name '*.crt' \\( -type f -o -type l \\) -exec sh -c \"$loop\" sh {} + || exit 3",
  'fi',
  "printf '%%\\n'",
  // the loop is this module's constant text, run on the files in "$@" without another shell
  '[ $# -eq 0 ] || eval "$loop"',
].join('\n');

interface ReadResult {
  /** the *.crt under the directory: path → bytes */
  inDir: Map<string, Buffer | undefined>;
  /** the named files: path → bytes (undefined when missing or unreadable) */
  files: Map<string, Buffer | undefined>;
}

/** One exec: the *.crt under `dir` (when given) and `files`, for hosts whose files go through sudo. */
async function readByExec(ctx: StepContext, dir: string | undefined, files: string[]): Promise<ReadResult> {
  const out: ReadResult = { inDir: new Map(), files: new Map() };
  if (dir === undefined && files.length === 0) return out;
  const r = await run(ctx, ['sh', '-c', READ_SCRIPT, 'sh', EMIT_LOOP, dir ?? '', ...files]);
  if (r.code !== 0) throw stepError(`x509: cannot read ${[...(dir !== undefined ? [dir] : []), ...files].join(', ')}: ${describeExit(r)}`);
  let target = out.inDir;
  let current: string | undefined;
  let chunks: string[] = [];
  let missing = false;
  const flush = () => {
    if (current !== undefined) target.set(current, missing ? undefined : Buffer.from(chunks.join(''), 'base64'));
    current = undefined;
  };
  for (const line of r.stdout.split('\n')) {
    if (line === '%') {
      flush();
      target = out.files;
    } else if (line.startsWith('@') || line.startsWith('#')) {
      flush();
      current = line.startsWith('@') ? line.slice(1) : Buffer.from(line.slice(1), 'base64').toString('utf8');
      chunks = [];
      missing = false;
    } else if (line === '!') missing = true;
    else if (line) chunks.push(line);
  }
  flush();
  return out;
}

/** A file's bytes, or undefined when it is missing or unreadable. */
type Bytes = Buffer | undefined;

/** Where one x509 step's files come from. */
interface FileSource {
  /** every *.crt under `dir` (find's rules) with its bytes */
  certsUnder(dir: string): Promise<Map<string, Bytes>>;
  file(path: string): Promise<Bytes>;
}

/** At most this many reads in flight per host (sftp-server holds a handle for each). */
const READS_IN_FLIGHT = 16;
/** read errors that mean the file is missing or unreadable (the exec path's `!`) */
const UNREADABLE = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'EISDIR']);

/**
 * Files over SFTP, no process on the host. Each read starts as soon as its path is known (a
 * directory's certificates while its subdirectories are still listed, a kubeconfig's client
 * certificate as soon as the kubeconfig is parsed), so a host costs the longest chain of round
 * trips, not their sum: what a fleet-wide check over a slow link or a loaded fleet waits for.
 * find's rules: *.crt files and symlinks, no descent into a symlinked directory.
 */
function sftpSource(t: Transport & { list: NonNullable<Transport['list']> }): FileSource {
  const limit = pLimit(READS_IN_FLIGHT);
  const reads = new Map<string, Promise<Bytes>>();
  const file = (path: string): Promise<Bytes> => {
    let r = reads.get(path);
    if (!r) {
      r = limit(() =>
        t.read(path).catch((e: unknown) => {
          // absent or unreadable is "missing", as in the exec path; a broken connection is an error, never a missing file
          if (e instanceof UserError && e.kind === 'io' && UNREADABLE.has(e.diagnostic.errno ?? '')) return undefined;
          throw e;
        }),
      );
      // a read nobody awaits any more (the step already failed elsewhere) must not crash the run
      r.catch(() => undefined);
      reads.set(path, r);
    }
    return r;
  };
  const certsUnder = async (dir: string): Promise<Map<string, Bytes>> => {
    const found = new Map<string, Promise<Bytes>>();
    const walk = async (d: string, top: boolean): Promise<void> => {
      const entries = await t.list(d);
      if (!entries) {
        if (top) throw stepError(`x509: cannot read ${d}: it is not a directory`);
        return; // removed while listed
      }
      await Promise.all(
        entries.map(async (e) => {
          const p = posix.join(d, e.name);
          if (e.type === 'directory') await walk(p, false);
          else if (e.name.endsWith('.crt') && (e.type === 'file' || e.type === 'symlink')) found.set(p, file(p));
        }),
      );
    };
    await walk(dir, true);
    return new Map(await Promise.all([...found].map(async ([p, r]) => [p, await r] as const)));
  };
  return { certsUnder, file };
}

/**
 * Files through sudo: ONE exec for the directory and the named files; the paths asked for later
 * (kubeconfigs' client certificates) in one more exec for all asked in the same turn.
 */
function execSource(ctx: StepContext, dir: string | undefined, files: string[]): FileSource {
  const first = readByExec(ctx, dir, files);
  first.catch(() => undefined); // awaited by whoever asks; a step with nothing to ask must not crash on it
  const named = new Set(files);
  let batch: { paths: Set<string>; read: Promise<ReadResult> } | undefined;
  const file = async (path: string): Promise<Bytes> => {
    if (named.has(path)) return (await first).files.get(path);
    if (!batch) {
      const paths = new Set<string>();
      const read = new Promise<void>((res) => setImmediate(res)).then(() => {
        batch = undefined;
        return readByExec(ctx, undefined, [...paths]);
      });
      batch = { paths, read };
    }
    batch.paths.add(path);
    return (await batch.read).files.get(path);
  };
  return { certsUnder: async () => (await first).inDir, file };
}

/** The first PEM certificate's fields (or the file read as DER). */
function firstCert(data: Buffer, where: string): CertFields {
  const text = data.toString('latin1');
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
  try {
    // the PEM body decoded here (base64 skips the line breaks): OpenSSL's PEM reader costs more per certificate
    return certFields(m ? Buffer.from(m[1]!, 'base64') : data);
  } catch (e) {
    throw stepError(`x509: ${where} is not a certificate: ${messageOf(e)}`);
  }
}

function dnLine(dn: string): string {
  return dn.split('\n').filter(Boolean).join(', ');
}

export function certFacts(data: Buffer, meta: { name: string; path: string; source: 'file' | 'kubeconfig'; embedded?: boolean; user?: string }, now = Date.now()): CertFacts {
  const x = firstCert(data, meta.path);
  const cnLine = x.subject.split('\n').find((l) => l.startsWith('CN='));
  return {
    name: meta.name,
    path: meta.path,
    source: meta.source,
    ...(meta.embedded !== undefined ? { embedded: meta.embedded } : {}),
    ...(meta.user !== undefined ? { user: meta.user } : {}),
    subject: dnLine(x.subject),
    cn: cnLine ? cnLine.slice(3) : '',
    issuer: dnLine(x.issuer),
    sans: x.sans,
    not_before: x.validFrom.toISOString(),
    not_after: x.validTo.toISOString(),
    days_left: Math.floor((x.validTo.getTime() - now) / 86_400_000),
    expired: x.validTo.getTime() <= now,
    is_ca: x.ca,
    fingerprint_sha256: x.fingerprint256,
    serial: x.serialNumber,
  };
}

interface KubeconfigUser {
  name?: string;
  user?: { 'client-certificate-data'?: string; 'client-certificate'?: string };
}

/** One source's share of a step's report. */
interface Found {
  certs: CertFacts[];
  missing: string[];
}

/** A kubeconfig's client certificates: embedded, or read from the file each user names. */
async function kubeconfigCerts(src: FileSource, kc: string, now: number): Promise<Found> {
  const data = await src.file(kc);
  if (!data) return { certs: [], missing: [kc] };
  let doc: unknown;
  try {
    doc = loadYaml(data.toString('utf8'));
  } catch (e) {
    throw stepError(`x509: ${kc} is not a valid kubeconfig: ${messageOf(e)}`);
  }
  // an empty or truncated file is no kubeconfig (js-yaml 4 reads "" as undefined, not as an error)
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw stepError(`x509: ${kc} is not a valid kubeconfig: ${doc == null ? 'it is empty' : 'it is not a mapping'}`);
  const users = ((doc as { users?: KubeconfigUser[] }).users ?? []).filter((u) => u && u.user);
  const base = posix.basename(kc);
  let i = 0;
  const certs: Promise<CertFacts | string>[] = [];
  for (const u of users) {
    const name = i === 0 ? base : `${base}:${u.name ?? i}`;
    const who = u.name ? { user: u.name } : {};
    const embedded = u.user!['client-certificate-data'];
    const file = u.user!['client-certificate'];
    if (typeof embedded === 'string') {
      certs.push(Promise.resolve(certFacts(Buffer.from(embedded, 'base64'), { name, path: kc, source: 'kubeconfig', embedded: true, ...who }, now)));
      i++;
    } else if (typeof file === 'string') {
      const path = posix.resolve(posix.dirname(kc), file);
      certs.push(src.file(path).then((d) => (d ? certFacts(d, { name, path, source: 'kubeconfig', embedded: false, ...who }, now) : path)));
      i++;
    }
  }
  const all = await Promise.all(certs);
  return { certs: all.filter((c): c is CertFacts => typeof c !== 'string'), missing: all.filter((c): c is string => typeof c === 'string') };
}

async function collect(ctx: StepContext, params: X509Params): Promise<Found> {
  const now = Date.now();
  const dir = params.dir !== undefined ? absPath(params.dir, 'x509.dir') : undefined;
  const paths = (params.paths ?? []).map((p) => absPath(p, 'x509.paths'));
  const kubeconfigs = (params.kubeconfigs ?? []).map((p) => absPath(p, 'x509.kubeconfigs'));
  const t = ctx.transport;
  const src = t.filesInProcess === true && t.list ? sftpSource(t as Transport & { list: NonNullable<Transport['list']> }) : execSource(ctx, dir, [...new Set([...paths, ...kubeconfigs])]);
  const dirCerts = async (d: string): Promise<Found> => {
    const certs: CertFacts[] = [];
    for (const [path, data] of await src.certsUnder(d)) {
      if (!data) throw stepError(`x509: cannot read ${path}`);
      certs.push(certFacts(data, { name: posix.relative(d, path).replace(/\.crt$/, ''), path, source: 'file' }, now));
    }
    return { certs, missing: [] };
  };
  const pathCert = async (path: string): Promise<Found> => {
    const data = await src.file(path);
    return data ? { certs: [certFacts(data, { name: posix.basename(path).replace(/\.crt$/, ''), path, source: 'file' }, now)], missing: [] } : { certs: [], missing: [path] };
  };
  // all at once; the first failure reported is the first in the step's own order, whichever came first
  const settled = await Promise.allSettled([...(dir !== undefined ? [dirCerts(dir)] : []), ...paths.map(pathCert), ...kubeconfigs.map((kc) => kubeconfigCerts(src, kc, now))]);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  const parts = settled.map((s) => (s as PromiseFulfilledResult<Found>).value);
  return { certs: parts.flatMap((p) => p.certs), missing: parts.flatMap((p) => p.missing) };
}

export async function x509Facts(ctx: StepContext, params: X509Params): Promise<Record<string, unknown>> {
  if (params.dir === undefined && params.paths === undefined && params.kubeconfigs === undefined) {
    throw stepError('x509: give paths, dir or kubeconfigs');
  }
  const withinMs = parseDuration(params.within ?? '30d', 'x509.within');
  const { certs, missing } = await collect(ctx, params);
  certs.sort((a, b) => (a.not_after < b.not_after ? -1 : a.not_after > b.not_after ? 1 : a.name < b.name ? -1 : 1));
  const limit = Date.now() + withinMs;
  const expiring = [...new Set(certs.filter((c) => Date.parse(c.not_after) <= limit).map((c) => c.name))].sort();
  const expired = [...new Set(certs.filter((c) => c.expired).map((c) => c.name))].sort();
  return { certs, expiring, expired, missing: missing.sort() };
}

/** What `runbook report` draws: every certificate's dates, no key material, no file contents. */
export function certReport(certs: CertFacts[], within: string): Record<string, unknown> {
  return {
    within,
    checked_at: new Date().toISOString(),
    certs: certs.map((c) => ({
      name: c.name,
      path: c.path,
      source: c.source,
      ...(c.embedded !== undefined ? { embedded: c.embedded } : {}),
      cn: c.cn,
      not_before: c.not_before,
      not_after: c.not_after,
      days_left: c.days_left,
      expired: c.expired,
      is_ca: c.is_ca,
      serial: c.serial,
    })),
  };
}

export const x509Action: Action<X509Params, undefined> = {
  type: 'x509',
  readOnly: true,
  async probe(ctx, params): Promise<ProbeResult<undefined>> {
    const facts = await x509Facts(ctx, params);
    const certs = facts.certs as CertFacts[];
    const expiring = facts.expiring as string[];
    return {
      status: 'ok',
      commands: [],
      // every certificate with its days left, soonest first: the report cert-check's --json carries
      summary: `${certs.length} certificates${expiring.length ? `, expiring: ${expiring.join(', ')}` : ''}${certs.length ? ` (days left: ${certs.map((c) => `${c.name} ${c.days_left}`).join(', ')})` : ''}`,
      state: undefined,
      facts,
      report: certReport(certs, params.within ?? '30d'),
    };
  },
  // the probe just read every file: reading them again would double the step's cost for the same facts
  async apply(_ctx, _params, probe) {
    return { changed: false, commands: [], facts: probe.facts };
  },
};

export default x509Action;
