/**
 * `x509`: certificate facts, read-only. Sources: `paths`, every `*.crt` under `dir`
 * (recursively), or the client certificates of `kubeconfigs` (embedded client-certificate-data,
 * or the client-certificate file they point at).
 *
 * The host needs no openssl: ONE exec of a literal sh script (find + base64, coreutils) returns
 * every file's bytes (the directory's and the named ones); certificates are read here (x509-der.ts:
 * a DER walk, OpenSSL for unusual ones). A kubeconfig that points at a certificate file costs a
 * second exec for those files.
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

/** Reads the *.crt under `dir` (when given) and `files`: over SFTP when the transport can, else in one exec. */
async function readFiles(ctx: StepContext, dir: string | undefined, files: string[]): Promise<ReadResult> {
  const out: ReadResult = { inDir: new Map(), files: new Map() };
  if (dir === undefined && files.length === 0) return out;
  const t = ctx.transport;
  if (t.filesInProcess === true && t.list) return readInProcess(t as Transport & { list: NonNullable<Transport['list']> }, dir, files);
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

/** At most this many reads in flight per host (sftp-server holds a handle for each). */
const READS_IN_FLIGHT = 16;
/** read errors that mean the file is missing or unreadable (the exec path's `!`) */
const UNREADABLE = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'EPERM', 'EISDIR']);

/**
 * readFiles without a process on the host: SFTP readdir and reads, the reads in flight together,
 * as a fleet-wide check wants (find's rules: *.crt files and symlinks, no descent into a
 * symlinked directory; a file that cannot be read is missing).
 */
async function readInProcess(t: Transport & { list: NonNullable<Transport['list']> }, dir: string | undefined, files: string[]): Promise<ReadResult> {
  const found: string[] = [];
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
        else if (e.name.endsWith('.crt') && (e.type === 'file' || e.type === 'symlink')) found.push(p);
      }),
    );
  };
  if (dir !== undefined) await walk(dir, true);
  const all = [...found, ...files];
  const data: (Buffer | undefined)[] = new Array<Buffer | undefined>(all.length);
  let next = 0;
  const reader = async () => {
    while (next < all.length) {
      const i = next++;
      data[i] = await t.read(all[i]!).catch((e: unknown) => {
        // absent or unreadable is "missing", as in the exec path; a broken connection is an error, never a missing file
        if (e instanceof UserError && e.kind === 'io' && UNREADABLE.has(e.diagnostic.errno ?? '')) return undefined;
        throw e;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(READS_IN_FLIGHT, all.length) }, reader));
  return {
    inDir: new Map(found.map((p, i) => [p, data[i]])),
    files: new Map(files.map((p, i) => [p, data[found.length + i]])),
  };
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

async function collect(ctx: StepContext, params: X509Params): Promise<{ certs: CertFacts[]; missing: string[] }> {
  const certs: CertFacts[] = [];
  const missing: string[] = [];
  const now = Date.now();
  const dir = params.dir !== undefined ? absPath(params.dir, 'x509.dir') : undefined;
  const paths = (params.paths ?? []).map((p) => absPath(p, 'x509.paths'));
  const kubeconfigs = (params.kubeconfigs ?? []).map((p) => absPath(p, 'x509.kubeconfigs'));
  const read = await readFiles(ctx, dir, [...new Set([...paths, ...kubeconfigs])]);
  if (dir !== undefined) {
    for (const [path, data] of read.inDir) {
      if (!data) throw stepError(`x509: cannot read ${path}`);
      const name = posix.relative(dir, path).replace(/\.crt$/, '');
      certs.push(certFacts(data, { name, path, source: 'file' }, now));
    }
  }
  if (paths.length || kubeconfigs.length) {
    const files = read.files;
    for (const path of paths) {
      const data = files.get(path);
      if (!data) missing.push(path);
      else certs.push(certFacts(data, { name: posix.basename(path).replace(/\.crt$/, ''), path, source: 'file' }, now));
    }
    const referenced: Array<{ name: string; kubeconfig: string; file: string; user?: string }> = [];
    for (const kc of kubeconfigs) {
      const data = files.get(kc);
      if (!data) {
        missing.push(kc);
        continue;
      }
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
      for (const u of users) {
        const name = i === 0 ? base : `${base}:${u.name ?? i}`;
        const embedded = u.user!['client-certificate-data'];
        const file = u.user!['client-certificate'];
        if (typeof embedded === 'string') {
          certs.push(certFacts(Buffer.from(embedded, 'base64'), { name, path: kc, source: 'kubeconfig', embedded: true, ...(u.name ? { user: u.name } : {}) }, now));
          i++;
        } else if (typeof file === 'string') {
          referenced.push({ name, kubeconfig: kc, file: posix.resolve(posix.dirname(kc), file), ...(u.name ? { user: u.name } : {}) });
          i++;
        }
      }
    }
    if (referenced.length) {
      const refFiles = (await readFiles(ctx, undefined, [...new Set(referenced.map((r) => r.file))])).files;
      for (const r of referenced) {
        const data = refFiles.get(r.file);
        if (!data) {
          missing.push(r.file);
          continue;
        }
        certs.push(certFacts(data, { name: r.name, path: r.file, source: 'kubeconfig', embedded: false, ...(r.user ? { user: r.user } : {}) }, now));
      }
    }
  }
  return { certs, missing };
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
