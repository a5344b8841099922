/**
 * `x509`: certificate facts, read-only. Sources: `paths`, every `*.crt` under `dir`
 * (recursively), or the client certificates of `kubeconfigs` (embedded client-certificate-data,
 * or the client-certificate file they point at).
 *
 * The host needs no openssl: the files come over SFTP or, through sudo, from one or two execs
 * (x509-files.ts); certificates are read here (x509-der.ts: a DER walk, OpenSSL for unusual ones).
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
import { messageOf } from '../errors.js';
import type { Action, ProbeResult, StepContext } from './types.js';
import { parseDuration } from './duration.js';
import { certFields, type CertFields } from './x509-der.js';
import { absPath, stepError } from './util.js';
import { allInOrder, fileSource, type FileSource } from './x509-files.js';

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

/** A kubeconfig user's client certificate: embedded, or in the file it names. */
type ClientCert = { name: string; user?: string } & ({ embedded: Buffer } | { file: string });

/** A kubeconfig's client certificates, each user's file read at once; parsed in the users' order. */
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
  const wanted: ClientCert[] = [];
  for (const u of users) {
    const i = wanted.length;
    const named = { name: i === 0 ? base : `${base}:${u.name ?? i}`, ...(u.name ? { user: u.name } : {}) };
    const embedded = u.user!['client-certificate-data'];
    const file = u.user!['client-certificate'];
    if (typeof embedded === 'string') wanted.push({ ...named, embedded: Buffer.from(embedded, 'base64') });
    else if (typeof file === 'string') wanted.push({ ...named, file: posix.resolve(posix.dirname(kc), file) });
  }
  // every read settled before anything is parsed: a parse error must not leave a read unawaited
  const bytes = await allInOrder(wanted.map((w) => ('file' in w ? src.file(w.file) : Promise.resolve(w.embedded))));
  const found: Found = { certs: [], missing: [] };
  wanted.forEach((w, i) => {
    const who = w.user !== undefined ? { user: w.user } : {};
    if ('embedded' in w) found.certs.push(certFacts(w.embedded, { name: w.name, path: kc, source: 'kubeconfig', embedded: true, ...who }, now));
    else if (!bytes[i]) found.missing.push(w.file);
    else found.certs.push(certFacts(bytes[i]!, { name: w.name, path: w.file, source: 'kubeconfig', embedded: false, ...who }, now));
  });
  return found;
}

async function collect(ctx: StepContext, params: X509Params): Promise<Found> {
  const now = Date.now();
  const dir = params.dir !== undefined ? absPath(params.dir, 'x509.dir') : undefined;
  const paths = (params.paths ?? []).map((p) => absPath(p, 'x509.paths'));
  const kubeconfigs = (params.kubeconfigs ?? []).map((p) => absPath(p, 'x509.kubeconfigs'));
  const src = fileSource(ctx, dir, [...new Set([...paths, ...kubeconfigs])]);
  const dirCerts = async (d: string): Promise<Found> => {
    const certs: CertFacts[] = [];
    for (const [path, data] of await src.dirCerts()) {
      if (!data) throw stepError(`x509: cannot read ${path}`);
      certs.push(certFacts(data, { name: posix.relative(d, path).replace(/\.crt$/, ''), path, source: 'file' }, now));
    }
    return { certs, missing: [] };
  };
  const pathCert = async (path: string): Promise<Found> => {
    const data = await src.file(path);
    if (!data) return { certs: [], missing: [path] };
    return { certs: [certFacts(data, { name: posix.basename(path).replace(/\.crt$/, ''), path, source: 'file' }, now)], missing: [] };
  };
  try {
    // all at once; the failure reported is the first in the step's own order, whichever came first
    const parts = await allInOrder([...(dir !== undefined ? [dirCerts(dir)] : []), ...paths.map(pathCert), ...kubeconfigs.map((kc) => kubeconfigCerts(src, kc, now))]);
    return { certs: parts.flatMap((p) => p.certs), missing: parts.flatMap((p) => p.missing) };
  } finally {
    await src.settle();
  }
}

export async function x509Facts(ctx: StepContext, params: X509Params): Promise<Record<string, unknown>> {
  if (params.dir === undefined && params.paths === undefined && params.kubeconfigs === undefined) {
    throw stepError('x509: give paths, dir or kubeconfigs');
  }
  const withinMs = parseDuration(params.within ?? '30d', 'x509.within');
  const { certs, missing } = await collect(ctx, params);
  // a total order (path last), so two certificates read in either order are reported alike
  const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  certs.sort((a, b) => cmp(a.not_after, b.not_after) || cmp(a.name, b.name) || cmp(a.path, b.path));
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
