/**
 * What the x509 action reports of a certificate, read from its DER with node-forge's ASN.1 decoder
 * instead of node's X509Certificate. Why: OpenSSL 3 decodes the public key through its provider
 * framework on every parse, ~120 µs a certificate and most of a fleet cert-check's client CPU
 * (BENCHMARKS.md), and the check never uses the key; the DER walk costs a fraction of that.
 *
 * It reads only DER in the forms kubeadm, openssl and cfssl write:
 * single-valued RDNs of well-known attributes in plain ASCII that needs no escaping, DNS and IP
 * names, DER times, a positive serial, known extensions once each and each decoding strictly.
 * Anything else returns undefined and the caller asks OpenSSL (x509.ts), so the two never
 * disagree: x509-der.test.ts compares both on openssl-made certificates and on a corpus of
 * malformed ones (test/fixtures/x509-odd).
 */
import { hash, X509Certificate } from 'node:crypto';
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
  oidToDer(oid: string): { getBytes(): string };
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
const T = { BOOLEAN: 1, INTEGER: 2, BITSTRING: 3, OCTETSTRING: 4, OID: 6, UTF8: 12, SEQUENCE: 16, SET: 17, PRINTABLE: 19, IA5: 22, UTCTIME: 23, GENERALIZEDTIME: 24, BMPSTRING: 30 } as const;

/**
 * OIDs are matched by their DER bytes, so a non-minimal or truncated encoding (which OpenSSL
 * refuses, and a lenient OID decoder would read as the same number) matches nothing.
 */
let oids: { shortNames: Map<string, string>; extensions: Map<string, string> } | undefined;
function knownOids(): NonNullable<typeof oids> {
  if (oids) return oids; // asked for every RDN and extension: built once
  const der = (oid: string) => decoder().oidToDer(oid).getBytes();
  // OpenSSL's short names (XN_FLAG_FN_SN) of the attributes kubeadm and the usual CAs write
  const names: [string, string][] = [['2.5.4.3', 'CN'], ['2.5.4.6', 'C'], ['2.5.4.7', 'L'], ['2.5.4.8', 'ST'], ['2.5.4.10', 'O'], ['2.5.4.11', 'OU']];
  // the extensions read here: each is decoded strictly, as OpenSSL's X509_check_ca counts a
  // certificate with any of them undecodable as no CA (ossl_x509v3_cache_extensions: EXFLAG_INVALID)
  const exts: [string, string][] = [['2.5.29.19', 'basicConstraints'], ['2.5.29.17', 'subjectAltName'], ['2.5.29.15', 'keyUsage'], ['2.5.29.37', 'extKeyUsage'], ['2.5.29.14', 'subjectKeyId'], ['2.5.29.35', 'authorityKeyId']];
  oids = { shortNames: new Map(names.map(([o, n]) => [der(o), n])), extensions: new Map(exts.map(([o, n]) => [der(o), n])) };
  return oids;
}

/** Thrown inside the walk for anything outside the forms above; never leaves readCertDer. */
class Unsupported extends Error {}
const unsupported = (): never => {
  throw new Unsupported();
};

function children(n: Asn1 | undefined, type: number = T.SEQUENCE, tagClass = UNIVERSAL): Asn1[] {
  if (!n || n.tagClass !== tagClass || n.type !== type || !n.constructed || !Array.isArray(n.value)) return unsupported();
  return n.value;
}

function bytes(n: Asn1 | undefined, tagClass: number, type: number): string {
  if (!n || n.tagClass !== tagClass || n.type !== type || n.constructed || typeof n.value !== 'string') return unsupported();
  return n.value;
}

/** An INTEGER's content with a padding byte (a leading 0x00 or 0xff the sign does not need): not DER, refused by OpenSSL. */
const padded = (v: string): boolean => v.length > 1 && ((v.charCodeAt(0) === 0 && v.charCodeAt(1) < 0x80) || (v.charCodeAt(0) === 0xff && v.charCodeAt(1) >= 0x80));

/** An INTEGER's content in its one DER form (no padding byte OpenSSL would refuse). */
function integer(n: Asn1 | undefined): string {
  const v = bytes(n, UNIVERSAL, T.INTEGER);
  if (v.length === 0 || padded(v)) return unsupported();
  return v;
}

/** AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL } */
function algorithm(n: Asn1 | undefined): void {
  const parts = children(n);
  if (parts.length < 1 || parts.length > 2) return unsupported();
  bytes(parts[0], UNIVERSAL, T.OID);
}

/** A BIT STRING's content: the count of unused bits (0–7, and those bits zero), then the bits. */
function bitString(n: Asn1 | undefined): string {
  const v = bytes(n, UNIVERSAL, T.BITSTRING);
  const unused = v.charCodeAt(0);
  if (v.length === 0 || unused > 7 || (unused > 0 && (v.length === 1 || (v.charCodeAt(v.length - 1) & ((1 << unused) - 1)) !== 0))) return unsupported();
  return v;
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
      const atv = children(attrs[0]);
      if (atv.length !== 2) return unsupported();
      const [oid, value] = atv as [Asn1, Asn1];
      const sn = knownOids().shortNames.get(bytes(oid, UNIVERSAL, T.OID));
      if (!sn || ![T.UTF8, T.PRINTABLE, T.IA5].includes(value.type as 12)) return unsupported();
      const v = bytes(value, UNIVERSAL, value.type);
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
  const raw = integer(n);
  if (raw.charCodeAt(0) & 0x80) return unsupported(); // negative: OpenSSL prints a sign
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

/** An extension's value decoded, in DER only (a BER-only form is left to OpenSSL). */
function extensionValue(raw: string): Asn1 {
  return fromDerOnly(raw) ?? unsupported();
}

function sansOf(extValue: string): string[] {
  return children(extensionValue(extValue)).map((g) => {
    if (g.tagClass !== CONTEXT || g.constructed || typeof g.value !== 'string') return unsupported();
    if (g.type === 2 && PLAIN_DNS_NAME.test(g.value)) return g.value; // dNSName
    if (g.type === 7) return ipOf(g.value); // iPAddress
    return unsupported();
  });
}

/**
 * BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }:
 * whether it says CA. A path length on a non-CA, or a negative one, is left to OpenSSL.
 */
function basicConstraintsCa(extValue: string): boolean {
  const fields = children(extensionValue(extValue));
  let i = 0;
  let ca = false;
  if (fields[i]?.type === T.BOOLEAN) {
    const b = bytes(fields[i++], UNIVERSAL, T.BOOLEAN);
    if (b.length !== 1) return unsupported();
    ca = b !== '\0';
  }
  if (i < fields.length) {
    const len = integer(fields[i++]);
    if (!ca || len.charCodeAt(0) & 0x80) return unsupported();
  }
  return i === fields.length ? ca : unsupported();
}

/** KeyUsage BIT STRING: its first two bytes as OpenSSL's ex_kusage; an empty usage is invalid there, left to it. */
function keyUsageBits(extValue: string): number {
  const v = bitString(extensionValue(extValue));
  const usage = (v.length > 1 ? v.charCodeAt(1) : 0) | (v.length > 2 ? v.charCodeAt(2) << 8 : 0);
  return usage === 0 ? unsupported() : usage;
}
/** keyCertSign, bit 5 of KeyUsage (OpenSSL's KU_KEY_CERT_SIGN) */
const KU_KEY_CERT_SIGN = 0x0004;

/** OID bytes already judged by canonicalOid: a fleet's certificates name the same few usages */
const judgedOids = new Map<string, boolean>();

/** An OID whose bytes are the one DER encoding of its number (OpenSSL refuses padded or truncated ones). */
function canonicalOid(n: Asn1 | undefined): void {
  const raw = bytes(n, UNIVERSAL, T.OID);
  let ok = judgedOids.get(raw);
  if (ok === undefined) {
    const a = decoder();
    ok = raw.length > 0 && a.oidToDer(a.derToOid(raw)).getBytes() === raw;
    if (judgedOids.size < 1024) judgedOids.set(raw, ok);
  }
  if (!ok) return unsupported();
}

/**
 * The extensions read only for their validity (OpenSSL counts a CA whose extension does not
 * decode as no CA), in the forms certificate tools write: ExtKeyUsage a SEQUENCE OF OID, the
 * subject key id an OCTET STRING, the authority key id a SEQUENCE of just its [0] key id.
 */
function assertDecodes(name: string, extValue: string): void {
  const v = extensionValue(extValue);
  if (name === 'extKeyUsage') for (const oid of children(v)) canonicalOid(oid);
  else if (name === 'subjectKeyId') bytes(v, UNIVERSAL, T.OCTETSTRING);
  else if (name === 'authorityKeyId') {
    const parts = children(v);
    if (parts.length !== 1) return unsupported();
    bytes(parts[0], CONTEXT, 0);
  }
}

/** Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } */
function extensionsOf(wrapper: Asn1): Map<string, string> {
  const list = children(wrapper, 3, CONTEXT);
  if (list.length !== 1) return unsupported();
  const exts = new Map<string, string>();
  for (const ext of children(list[0])) {
    const parts = children(ext);
    if (parts.length === 3 && bytes(parts[1], UNIVERSAL, T.BOOLEAN).length !== 1) return unsupported();
    if (parts.length !== 2 && parts.length !== 3) return unsupported();
    const name = knownOids().extensions.get(bytes(parts[0], UNIVERSAL, T.OID));
    if (!name || exts.has(name)) return unsupported(); // unknown, or twice (OpenSSL marks that invalid)
    exts.set(name, bytes(parts[parts.length - 1], UNIVERSAL, T.OCTETSTRING));
  }
  return exts;
}

/**
 * Where toDer(n) would end if it wrote exactly `raw`'s bytes from `at` on, else -1: each header
 * in its one DER form (the tag byte as forge writes it, a definite length in the fewest bytes),
 * no INTEGER padding byte (toDer drops it). forge took each content byte from `raw` as it was, so
 * checking the headers in place is the re-encoding compared, without building it (building it
 * was a tenth of a 500-host cert-check's allocations: 63 of 630 MB).
 */
function derEnd(n: Asn1, raw: string, at: number): number {
  if (raw.charCodeAt(at) !== (n.tagClass | n.type | (n.constructed ? 0x20 : 0))) return -1;
  let length = raw.charCodeAt(at + 1);
  let start = at + 2;
  if (length >= 0x80) {
    const count = length & 0x7f;
    // 0x80 is BER's indefinite length; a leading zero byte or a long form for < 128 is not minimal
    if (count === 0 || count > 4 || raw.charCodeAt(start) === 0) return -1;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + raw.charCodeAt(start++);
    if (length < 0x80) return -1;
  }
  const end = start + length;
  if (Array.isArray(n.value)) {
    let next = start;
    for (const c of n.value) if ((next = next < 0 ? -1 : derEnd(c, raw, next)) < 0) return -1;
    return next === end ? end : -1;
  }
  const v = n.value;
  // as forge does, by tag number in any class: it reads a BMPString two bytes a character (one
  // past its end when its length is odd), and toDer drops an INTEGER's padding byte
  if (n.type === T.BMPSTRING) return 2 * v.length === length ? end : -1;
  if (n.type === T.INTEGER && padded(v)) return -1;
  return v.length === length ? end : -1;
}

/** `raw` decoded when it is DER (not merely BER), else undefined. */
function fromDerOnly(raw: string): Asn1 | undefined {
  const node = decoder().fromDer(raw, { strict: true, parseAllBytes: true, decodeBitStrings: false });
  return derEnd(node, raw, 0) === raw.length ? node : undefined;
}

/** Whether node-forge reads `der` and its toDer gives back the same bytes (x509-der.test.ts pins derEnd to that). */
export function isDer(der: Buffer): boolean {
  try {
    return fromDerOnly(der.toString('binary')) !== undefined;
  } catch {
    return false;
  }
}

/** The fields of a DER certificate, or undefined when it is outside the forms above (ask OpenSSL). */
export function readCertDer(der: Buffer): CertFields | undefined {
  try {
    // DER only: OpenSSL reads BER too but fingerprints its own re-encoding, and refuses some of what a BER reader takes
    const root = fromDerOnly(der.toString('binary'));
    if (!root) return undefined;
    const cert = children(root);
    if (cert.length !== 3) return undefined;
    algorithm(cert[1]);
    bitString(cert[2]); // the signature
    const tbs = children(cert[0]);
    let i = 0;
    if (tbs[0]?.tagClass === CONTEXT && tbs[0].type === 0) {
      const version = children(tbs[i++], 0, CONTEXT);
      if (version.length !== 1) return undefined;
      integer(version[0]);
    }
    const serialNumber = serialOf(tbs[i++]);
    algorithm(tbs[i++]);
    const issuer = nameLines(tbs[i++]);
    const validity = children(tbs[i++]);
    if (validity.length !== 2) return undefined;
    const subject = nameLines(tbs[i++]);
    // the subject's public key: its structure only, the key itself not decoded (the reason this module exists)
    const spki = children(tbs[i++]);
    if (spki.length !== 2) return undefined;
    algorithm(spki[0]);
    bitString(spki[1]);
    const rest = tbs.slice(i);
    if (rest.length > 1) return undefined; // issuer/subject unique ids: rare, left to OpenSSL
    const exts = rest.length ? extensionsOf(rest[0]!) : new Map<string, string>();
    for (const name of ['extKeyUsage', 'subjectKeyId', 'authorityKeyId']) {
      const v = exts.get(name);
      if (v !== undefined) assertDecodes(name, v);
    }
    const bc = exts.get('basicConstraints');
    const ku = exts.get('keyUsage');
    const usage = ku === undefined ? undefined : keyUsageBits(ku);
    // X509_check_ca == 1: basicConstraints says CA, and a keyUsage, if any, allows signing certificates
    const ca = bc !== undefined && basicConstraintsCa(bc) && (usage === undefined || (usage & KU_KEY_CERT_SIGN) !== 0);
    const san = exts.get('subjectAltName');
    const fingerprint = hash('sha256', der, 'hex').toUpperCase();
    return {
      subject,
      issuer,
      sans: san === undefined ? [] : sansOf(san),
      validFrom: timeOf(validity[0]),
      validTo: timeOf(validity[1]),
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
