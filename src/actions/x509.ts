/**
 * `x509`: certificate facts, read-only. Sources: `paths`, every `*.crt` under `dir`
 * (recursively), or the client certificates of `kubeconfigs` (embedded client-certificate-data,
 * or the client-certificate file they point at).
 *
 * The host needs no openssl: the files come over SFTP or, through sudo, from one or two execs
 * (x509-files.ts); certificates and kubeconfigs are parsed on a worker thread (x509-pool.ts,
 * x509-parse.ts; x509-der.ts: a DER walk, OpenSSL for unusual ones).
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
import type { X509Params } from '../runbook/schema-types.js';
import type { Action, ProbeResult, StepContext } from './types.js';
import { parseDuration } from './duration.js';
import { absPath, stepError } from './util.js';
import { allInOrder, fileSource, type FileSource } from './x509-files.js';
import { valueOf, type CertFacts, type CertMeta } from './x509-parse.js';
import { parseCerts, parseKubeconfigs } from './x509-pool.js';

export type { CertFacts } from './x509-parse.js';

/** One source's share of a step's report. */
interface Found {
  certs: CertFacts[];
  missing: string[];
}

/**
 * Each kubeconfig's client certificates, in the users' order: one parse for all the step's
 * kubeconfigs once they are read, so the files they name are asked for together (one more exec
 * through sudo); each kubeconfig's own read error stays its own.
 */
function kubeconfigCerts(src: FileSource, kcs: string[], now: number): Promise<Found>[] {
  const reads = kcs.map((kc) => src.file(kc));
  const parsed = Promise.allSettled(reads).then((rs) => {
    const present = rs.flatMap((r, i) => (r.status === 'fulfilled' && r.value ? [{ data: r.value, kc: kcs[i]! }] : []));
    return parseKubeconfigs(present, now).then((results) => new Map(present.map((p, i) => [p.kc, results[i]!])));
  });
  return kcs.map(async (kc, k) => {
    const data = await reads[k];
    if (!data) return { certs: [], missing: [kc] };
    const wanted = valueOf((await parsed).get(kc)!);
    // every read settled before anything is judged: a bad certificate must not leave a read unawaited
    const bytes = await allInOrder(wanted.map((w) => (w.file !== undefined ? src.file(w.file) : Promise.resolve(undefined))));
    const read = wanted.flatMap((w, i) => (w.file !== undefined && bytes[i] ? [{ data: bytes[i]!, meta: { name: w.name, path: w.file, source: 'kubeconfig' as const, embedded: false, ...(w.user !== undefined ? { user: w.user } : {}) } }] : []));
    const facts = await parseCerts(read, now);
    const found: Found = { certs: [], missing: [] };
    let next = 0;
    for (const [i, w] of wanted.entries()) {
      if (w.embedded) found.certs.push(valueOf(w.embedded));
      else if (!bytes[i]) found.missing.push(w.file!);
      else found.certs.push(valueOf(facts[next++]!));
    }
    return found;
  });
}

async function collect(ctx: StepContext, params: X509Params): Promise<Found> {
  const now = Date.now();
  const dir = params.dir !== undefined ? absPath(params.dir, 'x509.dir') : undefined;
  const paths = (params.paths ?? []).map((p) => absPath(p, 'x509.paths'));
  const kubeconfigs = (params.kubeconfigs ?? []).map((p) => absPath(p, 'x509.kubeconfigs'));
  const src = fileSource(ctx, dir, [...new Set([...paths, ...kubeconfigs])]);
  const dirCerts = async (d: string): Promise<Found> => {
    const files = [...(await src.dirCerts())];
    const items = files.flatMap(([path, data]): { data: Buffer; meta: CertMeta }[] => (data ? [{ data, meta: { name: posix.relative(d, path).replace(/\.crt$/, ''), path, source: 'file' } }] : []));
    const parsed = await parseCerts(items, now);
    let next = 0;
    // the first failure in the directory's order, an unreadable file or one that is no certificate
    const certs = files.map(([path, data]) => {
      if (!data) throw stepError(`x509: cannot read ${path}`);
      return valueOf(parsed[next++]!);
    });
    return { certs, missing: [] };
  };
  const pathCert = async (path: string): Promise<Found> => {
    const data = await src.file(path);
    if (!data) return { certs: [], missing: [path] };
    const [facts] = await parseCerts([{ data, meta: { name: posix.basename(path).replace(/\.crt$/, ''), path, source: 'file' } }], now);
    return { certs: [valueOf(facts!)], missing: [] };
  };
  try {
    // all at once; the failure reported is the first in the step's own order, whichever came first
    const parts = await allInOrder([...(dir !== undefined ? [dirCerts(dir)] : []), ...paths.map(pathCert), ...kubeconfigCerts(src, kubeconfigs, now)]);
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
