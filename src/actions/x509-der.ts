/**
 * What the x509 action reports of a certificate, read from its DER with node-forge's ASN.1 decoder
 * instead of node's X509Certificate. Why: OpenSSL 3 decodes the public key through its provider
 * framework on every parse, ~120 µs a certificate and most of a fleet cert-check's client CPU
 * (BENCHMARKS.md), and the check never uses the key; the DER walk costs a fraction of that.
 *
 * It reads only the forms kubeadm, openssl and cfssl write: single-valued RDNs of well-known
 * attributes in plain ASCII that needs no escaping, DNS and IP names, DER times, a positive serial,
 * each extension once. Anything else returns undefined and the caller asks OpenSSL (x509.ts), so
 * the two never disagree: x509-der.test.ts compares both on openssl-made certificates, odd ones
 * included.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';

/** The fields, formatted exactly as X509Certificate's getters format them. */
export interface CertFields {
  /** one `SN=value` line per RDN, as X509Certificate.subject */
  subject: string;
  issuer: string;
  /** DNS names and IP addresses, in certificate order */
  sans: string[];
  validFrom: Date;
  validTo: Date;
  /** X509_check_ca(cert) == 1, as X509Certificate.ca */
  ca: boolean;
  /** colon-separated upper-case hex, as X509Certificate.fingerprint256 */
  fingerprint256: string;
  /** upper-case hex without leading zero bytes, as X509Certificate.serialNumber */
  serialNumber: string;
}

/** node-forge's decoded node: `value` is the bytes (a binary string) or the children */
interface Asn1 {
  tagClass: number;
  type: number;
  constructed: boolean;
  value: string | Asn1[];
}

interface Asn1Module {
  fromDer(bytes: string, options: { strict: boolean; parseAllBytes: boolean; decodeBitStrings: boolean }): Asn1;
  derToOid(bytes: string): string;
}

let asn1: Asn1Module | undefined;
/** Loaded on the first certificate (only runs with an x509 step pay for it), and only the ASN.1 part. */
function decoder(): Asn1Module {
  // require() is untyped: the shape used is declared above (node-forge 1.x lib/asn1.js)
  asn1 ??= createRequire(import.meta.url)('node-forge/lib/asn1.js') as Asn1Module;
  return asn1;
}

const UNIVERSAL = 0x00;
const CONTEXT = 0x80;
const T = { BOOLEAN: 1, INTEGER: 2, BITSTRING: 3, OCTETSTRING: 4, OID: 6, UTF8: 12, SEQUENCE: 16, SET: 17, PRINTABLE: 19, IA5: 22, UTCTIME: 23, GENERALIZEDTIME: 24 } as const;

/** OpenSSL's short names (XN_FLAG_FN_SN) of the attributes kubeadm and the usual CAs write */
const SHORT_NAMES = new Map([
  ['2.5.4.3', 'CN'],
  ['2.5.4.6', 'C'],
  ['2.5.4.7', 'L'],
  ['2.5.4.8', 'ST'],
  ['2.5.4.10', 'O'],
  ['2.5.4.11', 'OU'],
]);
const EXT = { basicConstraints: '2.5.29.19', keyUsage: '2.5.29.15', subjectAltName: '2.5.29.17' } as const;
/** the extensions read here, and those whose presence cannot change what is read (subject and authority key id, extended key usage) */
const KNOWN_EXTENSIONS = new Set([...Object.values(EXT), '2.5.29.14', '2.5.29.35', '2.5.29.37']);

/** Thrown inside the walk for anything outside the forms above; never leaves readCertDer. */
class Unsupported extends Error {}
const unsupported = (): never => {
  throw new Unsupported();
};

function children(n: Asn1 | undefined, type: number = T.SEQUENCE): Asn1[] {
  if (!n || n.tagClass !== UNIVERSAL || n.type !== type || !Array.isArray(n.value)) return unsupported();
  return n.value;
}

function bytes(n: Asn1 | undefined, tagClass: number, type: number): string {
  if (!n || n.tagClass !== tagClass || n.type !== type || typeof n.value !== 'string') return unsupported();
  return n.value;
}

/**
 * Printable ASCII that OpenSSL's RFC 2253 escaping (ASN1_STRFLGS_ESC_2253, X509Certificate's
 * flags) prints as is: none of `,+"\<>;`, no leading `#` or space, no trailing space.
 */
const PLAIN_VALUE = /^(?![# ])[\x20-\x7e]*$/;
const ESCAPED_CHARS = /[,+"\\<>;]/;

function nameLines(n: Asn1 | undefined): string {
  const rdns = children(n);
  if (rdns.length === 0) return unsupported();
  return rdns
    .map((rdn) => {
      const attrs = children(rdn, T.SET);
      if (attrs.length !== 1) return unsupported(); // multi-valued: OpenSSL's ordering and separators, left to it
      const [oid, value] = children(attrs[0]);
      const sn = SHORT_NAMES.get(decoder().derToOid(bytes(oid, UNIVERSAL, T.OID)));
      if (!sn || !value || value.tagClass !== UNIVERSAL || ![T.UTF8, T.PRINTABLE, T.IA5].includes(value.type as 12) || typeof value.value !== 'string') return unsupported();
      const v = value.value;
      if (v === '' || !PLAIN_VALUE.test(v) || ESCAPED_CHARS.test(v) || v.endsWith(' ')) return unsupported();
      return `${sn}=${v}`;
    })
    .join('\n');
}

const DER_UTC_TIME = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;
const DER_GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

/** RFC 5280's time forms (seconds, Z); a two-digit year below 50 is 20YY, as OpenSSL reads it */
function timeOf(n: Asn1 | undefined): Date {
  const utc = n?.type === T.UTCTIME;
  const m = (utc ? DER_UTC_TIME : DER_GENERALIZED_TIME).exec(bytes(n, UNIVERSAL, utc ? T.UTCTIME : T.GENERALIZEDTIME));
  if (!m) return unsupported();
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const year = utc ? (y < 50 ? 2000 + y : 1900 + y) : y;
  const date = new Date(Date.UTC(year, mo - 1, d, h, mi, s));
  // Date.UTC rolls Feb 30 over into March; OpenSSL refuses it
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return unsupported();
  return date;
}

const hex = (s: string) => Buffer.from(s, 'binary').toString('hex').toUpperCase();

function serialOf(n: Asn1 | undefined): string {
  const raw = bytes(n, UNIVERSAL, T.INTEGER);
  if (raw.length === 0 || raw.charCodeAt(0) & 0x80) return unsupported(); // negative: OpenSSL prints a sign
  const digits = raw.replace(/^\0+/, '');
  return digits === '' ? unsupported() : hex(digits);
}

function ipOf(raw: string): string {
  if (raw.length === 4) return [...raw].map((c) => c.charCodeAt(0)).join('.');
  // as node prints an IPv6 SAN: eight groups, upper-case hex, no compression
  if (raw.length === 16) return Array.from({ length: 8 }, (_, i) => ((raw.charCodeAt(2 * i) << 8) | raw.charCodeAt(2 * i + 1)).toString(16).toUpperCase()).join(':');
  return unsupported();
}

/** DNS names node prints unquoted and unescaped */
const PLAIN_DNS_NAME = /^[A-Za-z0-9*._-]+$/;

function sansOf(extValue: string): string[] {
  return children(decoder().fromDer(extValue, { strict: true, parseAllBytes: true, decodeBitStrings: false })).map((g) => {
    if (g.tagClass !== CONTEXT || g.constructed || typeof g.value !== 'string') return unsupported();
    if (g.type === 2 && PLAIN_DNS_NAME.test(g.value)) return g.value; // dNSName
    if (g.type === 7) return ipOf(g.value); // iPAddress
    return unsupported();
  });
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL } */
function basicConstraintsCa(extValue: string): boolean {
  const fields = children(decoder().fromDer(extValue, { strict: true, parseAllBytes: true, decodeBitStrings: false }));
  let i = 0;
  let ca = false;
  if (fields[i]?.type === T.BOOLEAN) ca = bytes(fields[i++], UNIVERSAL, T.BOOLEAN) !== '\0';
  if (fields[i]) {
    // a path length is valid on a CA only, and never negative; OpenSSL marks anything else invalid
    const len = bytes(fields[i++], UNIVERSAL, T.INTEGER);
    if (!ca || len.length === 0 || len.charCodeAt(0) & 0x80) return unsupported();
  }
  return i === fields.length ? ca : unsupported();
}

/** keyUsage's keyCertSign bit (bit 5: 0x04 of the first content byte) */
function allowsCertSign(extValue: string): boolean {
  const bits = bytes(decoder().fromDer(extValue, { strict: true, parseAllBytes: true, decodeBitStrings: false }), UNIVERSAL, T.BITSTRING);
  if (bits.length < 2) return unsupported();
  return (bits.charCodeAt(1) & 0x04) !== 0;
}

/** The fields of a DER certificate, or undefined when it is outside the forms above (ask OpenSSL). */
export function readCertDer(der: Buffer): CertFields | undefined {
  try {
    const cert = children(decoder().fromDer(der.toString('binary'), { strict: true, parseAllBytes: true, decodeBitStrings: false }));
    if (cert.length !== 3) return undefined;
    children(cert[1]); // signature algorithm
    bytes(cert[2], UNIVERSAL, T.BITSTRING);
    const tbs = children(cert[0]);
    let i = 0;
    const explicitVersion = tbs[0]?.tagClass === CONTEXT && tbs[0].type === 0;
    if (explicitVersion) i++;
    const serialNumber = serialOf(tbs[i++]);
    children(tbs[i++]); // signature algorithm
    const issuer = nameLines(tbs[i++]);
    const [from, to, ...rest] = children(tbs[i++]);
    if (rest.length) return undefined;
    const subject = nameLines(tbs[i++]);
    children(tbs[i++]); // the subject's public key, not decoded: the reason this module exists
    const exts = new Map<string, string>();
    for (const field of tbs.slice(i)) {
      if (field.tagClass !== CONTEXT || field.type !== 3) return undefined; // issuer/subject unique ids: rare, left to OpenSSL
      if (!explicitVersion || !Array.isArray(field.value) || field.value.length !== 1) return undefined;
      for (const ext of children(field.value[0])) {
        const parts = children(ext);
        const oid = decoder().derToOid(bytes(parts[0], UNIVERSAL, T.OID));
        const value = bytes(parts[parts.length - 1], UNIVERSAL, T.OCTETSTRING);
        if (exts.has(oid) || parts.length > 3 || (parts.length === 3 && parts[1]?.type !== T.BOOLEAN)) return undefined;
        if (!KNOWN_EXTENSIONS.has(oid)) return undefined;
        exts.set(oid, value);
      }
    }
    const san = exts.get(EXT.subjectAltName);
    const bc = exts.get(EXT.basicConstraints);
    const ku = exts.get(EXT.keyUsage);
    // X509_check_ca == 1: basicConstraints says CA, and a keyUsage, if any, allows signing certificates
    const ca = bc !== undefined && basicConstraintsCa(bc) && (ku === undefined || allowsCertSign(ku));
    const fingerprint = createHash('sha256').update(der).digest('hex').toUpperCase();
    return {
      subject,
      issuer,
      sans: san === undefined ? [] : sansOf(san),
      validFrom: timeOf(from),
      validTo: timeOf(to),
      ca,
      fingerprint256: fingerprint.replace(/(..)(?!$)/g, '$1:'),
      serialNumber,
    };
  } catch {
    // outside the forms read here (Unsupported), or not DER at all: OpenSSL decides, and words the error
    return undefined;
  }
}

/** The same fields through OpenSSL; throws what X509Certificate throws for something that is no certificate. */
export function opensslFields(der: Buffer): CertFields {
  const x = new X509Certificate(der);
  return {
    subject: x.subject,
    issuer: x.issuer,
    sans: plainSans(x.subjectAltName),
    validFrom: new Date(x.validFrom),
    validTo: new Date(x.validTo),
    ca: x.ca,
    fingerprint256: x.fingerprint256,
    serialNumber: x.serialNumber,
  };
}

/** node's `DNS:a, IP Address:10.0.0.1, ...` as plain values (quoted ones unquoted) */
function plainSans(s: string | undefined): string[] {
  if (!s) return [];
  const out: string[] = [];
  for (const part of s.split(/, (?=[A-Za-z ]+:)/)) {
    const m = /^([A-Za-z ]+):(.*)$/.exec(part);
    let v = m ? m[2]! : part;
    if (v.startsWith('"')) {
      try {
        v = JSON.parse(v) as string;
      } catch {
        /* keep as is */
      }
    }
    out.push(v);
  }
  return out;
}

/** A certificate's fields: the DER walk when it can, OpenSSL otherwise. */
export function certFields(der: Buffer): CertFields {
  return readCertDer(der) ?? opensslFields(der);
}
