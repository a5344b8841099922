/**
 * The x509 action's parsing, the same in either thread: a certificate's facts (certFacts) and a
 * kubeconfig's client certificates (kubeconfigClientCerts). x509-pool.ts runs it on a worker thread
 * so a fleet-wide check parses while the main thread keeps its connections moving; parseRequest is
 * what that worker (x509-worker.ts) answers, and what runs inline when no worker can start.
 */
import { posix } from 'node:path';
// js-yaml 4 for kubeconfigs: several times faster than 5 on their long base64 values (js-yaml-4.d.ts)
import { load as loadYaml } from 'js-yaml-4';
import { isUserError, messageOf } from '../errors.js';
import { stepError } from './util.js';
import { certFields, type CertFields } from './x509-der.js';

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

/** What names a certificate in the report. */
export interface CertMeta {
  name: string;
  path: string;
  source: 'file' | 'kubeconfig';
  embedded?: boolean;
  user?: string;
}

export function certFacts(data: Buffer, meta: CertMeta, now = Date.now()): CertFacts {
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

/** A kubeconfig user's client certificate: its facts when embedded, else the file it names. */
export interface ClientCert {
  name: string;
  user?: string;
  /** the embedded certificate's facts, or why it is none */
  embedded?: Parsed<CertFacts>;
  /** the certificate file the user names, absolute */
  file?: string;
}

/** A kubeconfig's client certificates in its users' order (each embedded one read at once). */
export function kubeconfigClientCerts(data: Buffer, kc: string, now: number): ClientCert[] {
  let doc: unknown;
  try {
    doc = loadYaml(data.toString('utf8'));
  } catch (e) {
    throw stepError(`x509: ${kc} is not a valid kubeconfig: ${messageOf(e)}`);
  }
  // an empty or truncated file is no kubeconfig (js-yaml 4 reads "" as undefined, not as an error)
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw stepError(`x509: ${kc} is not a valid kubeconfig: ${doc == null ? 'it is empty' : 'it is not a mapping'}`);
  const listed = (doc as { users?: unknown }).users ?? [];
  if (!Array.isArray(listed)) throw stepError(`x509: ${kc} is not a valid kubeconfig: its users are not a list`);
  const users = (listed as KubeconfigUser[]).filter((u) => u && u.user);
  const base = posix.basename(kc);
  const wanted: ClientCert[] = [];
  for (const u of users) {
    const i = wanted.length;
    const named = { name: i === 0 ? base : `${base}:${u.name ?? i}`, ...(u.name ? { user: u.name } : {}) };
    const embedded = u.user!['client-certificate-data'];
    const file = u.user!['client-certificate'];
    if (typeof embedded === 'string') {
      const meta: CertMeta = { ...named, path: kc, source: 'kubeconfig', embedded: true };
      wanted.push({ ...named, embedded: parsed(() => certFacts(Buffer.from(embedded, 'base64'), meta, now)) });
    } else if (typeof file === 'string') wanted.push({ ...named, file: posix.resolve(posix.dirname(kc), file) });
  }
  return wanted;
}

/**
 * A result, or the step error it would have thrown: errors cross a thread as messages (a
 * UserError's class does not survive the copy), and anything else is an internal error.
 */
export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string; internal?: true };

function parsed<T>(f: () => T): Parsed<T> {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    return isUserError(e) ? { ok: false, message: e.message } : { ok: false, message: messageOf(e), internal: true };
  }
}

/** What a parse result means on the calling side: the value, or the error thrown again. */
export function valueOf<T>(r: Parsed<T>): T {
  if (r.ok) return r.value;
  throw r.internal ? new Error(r.message) : stepError(r.message);
}

/** Bytes as they arrive from another thread: a Buffer's copy is a plain Uint8Array. */
const bufferOf = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

export type ParseRequest = { op: 'certs'; items: { data: Uint8Array; meta: CertMeta }[]; now: number } | { op: 'kubeconfigs'; items: { data: Uint8Array; kc: string }[]; now: number };
export type ParseReply = { op: 'certs'; results: Parsed<CertFacts>[] } | { op: 'kubeconfigs'; results: Parsed<ClientCert[]>[] };

export function parseRequest(req: ParseRequest): ParseReply {
  if (req.op === 'certs') return { op: 'certs', results: req.items.map((it) => parsed(() => certFacts(bufferOf(it.data), it.meta, req.now))) };
  return { op: 'kubeconfigs', results: req.items.map((it) => parsed(() => kubeconfigClientCerts(bufferOf(it.data), it.kc, req.now))) };
}
