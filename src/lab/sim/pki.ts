// Real certificates made with openssl (3.0: no -not_before, so `openssl ca -startdate/-enddate`),
// with the subjects, SANs, usages and lifetimes kubeadm gives them.
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const DAY = 24 * 3600 * 1000;
export const YEAR = 365 * DAY;

export type Usage = 'ca' | 'server' | 'client' | 'server+client';

export interface CertSpec {
  cn: string;
  orgs?: string[];
  dns?: string[];
  ips?: string[];
  usage: Usage;
  notBefore: Date;
  notAfter: Date;
}

export interface Pem {
  cert: string;
  key: string;
}

async function openssl(args: string[], cwd?: string): Promise<string> {
  try {
    const { stdout } = await run('openssl', args, { cwd, maxBuffer: 4 << 20 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${err.stderr ?? err.message}`);
  }
}

/** A 2048-bit RSA key in PKCS#1 PEM ("RSA PRIVATE KEY"), as kubeadm writes them. */
export async function genKey(): Promise<string> {
  return openssl(['genrsa', '-traditional', '2048']);
}

function asn1Time(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
}

function subjectOf(spec: CertSpec): string {
  const esc = (s: string) => s.replace(/([/\\=+])/g, '\\$1');
  return (spec.orgs ?? []).map((o) => `/O=${esc(o)}`).join('') + `/CN=${esc(spec.cn)}`;
}

function extSection(spec: CertSpec): string {
  if (spec.usage === 'ca') {
    return [
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,digitalSignature,keyEncipherment,keyCertSign',
      'subjectKeyIdentifier = hash',
      ...(spec.dns?.length ? [`subjectAltName = ${spec.dns.map((d) => `DNS:${d}`).join(',')}`] : []),
    ].join('\n');
  }
  const eku = spec.usage === 'server' ? 'serverAuth' : spec.usage === 'client' ? 'clientAuth' : 'serverAuth,clientAuth';
  const sans = [...(spec.dns ?? []).map((d) => `DNS:${d}`), ...(spec.ips ?? []).map((i) => `IP:${i}`)];
  return [
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage = ${eku}`,
    'authorityKeyIdentifier = keyid',
    ...(sans.length ? [`subjectAltName = ${sans.join(',')}`] : []),
  ].join('\n');
}

/** A random positive 63-bit serial, like kubeadm's. */
function serialHex(): string {
  const b = randomBytes(8);
  b[0] = (b[0]! & 0x7f) | 0x10;
  return b.toString('hex').toUpperCase();
}

/**
 * Issues a certificate for `key` (a new key when omitted), signed by `ca` (self-signed when omitted),
 * valid exactly from spec.notBefore to spec.notAfter.
 */
export async function issue(spec: CertSpec, ca?: Pem, key?: string): Promise<Pem> {
  const k = key ?? (await genKey());
  const dir = await mkdtemp(join(tmpdir(), 'simpki-'));
  try {
    await writeFile(join(dir, 'index.txt'), '');
    await writeFile(join(dir, 'serial'), serialHex() + '\n');
    await writeFile(join(dir, 'k.pem'), k, { mode: 0o600 });
    await writeFile(
      join(dir, 'c.cnf'),
      [
        '[ ca ]',
        'default_ca = sim',
        '[ sim ]',
        `database = ${join(dir, 'index.txt')}`,
        `new_certs_dir = ${dir}`,
        `serial = ${join(dir, 'serial')}`,
        'default_md = sha256',
        'policy = pol',
        'unique_subject = no',
        'email_in_dn = no',
        '[ pol ]',
        'organizationName = optional',
        'commonName = supplied',
        '[ ext ]',
        extSection(spec),
        '',
      ].join('\n'),
    );
    await openssl(['req', '-new', '-key', join(dir, 'k.pem'), '-subj', subjectOf(spec), '-out', join(dir, 'r.csr')]);
    const args = [
      'ca', '-batch', '-config', join(dir, 'c.cnf'), '-extensions', 'ext', '-notext', '-preserveDN',
      '-startdate', asn1Time(spec.notBefore), '-enddate', asn1Time(spec.notAfter),
      '-in', join(dir, 'r.csr'), '-out', join(dir, 'c.pem'),
    ];
    if (ca) {
      await writeFile(join(dir, 'ca.pem'), ca.cert);
      await writeFile(join(dir, 'cak.pem'), ca.key, { mode: 0o600 });
      args.push('-cert', join(dir, 'ca.pem'), '-keyfile', join(dir, 'cak.pem'));
    } else {
      args.push('-selfsign', '-keyfile', join(dir, 'k.pem'));
    }
    await openssl(args);
    const cert = await readFile(join(dir, 'c.pem'), 'utf8');
    return { cert, key: k };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- reading

export interface CertInfo {
  cn: string;
  orgs: string[];
  dns: string[];
  ips: string[];
  usage: Usage;
  notBefore: Date;
  notAfter: Date;
  serial: string;
  isCA: boolean;
  fingerprint256: string;
  x509: X509Certificate;
}

export function parseCert(pem: string | Buffer): CertInfo {
  const x = new X509Certificate(pem);
  const subj = x.subject.split('\n');
  const cn = subj.filter((l) => l.startsWith('CN=')).map((l) => l.slice(3))[0] ?? '';
  const orgs = subj.filter((l) => l.startsWith('O=')).map((l) => l.slice(2));
  const dns: string[] = [];
  const ips: string[] = [];
  for (const part of (x.subjectAltName ?? '').split(', ')) {
    if (part.startsWith('DNS:')) dns.push(part.slice(4));
    else if (part.startsWith('IP Address:')) ips.push(normalizeIp(part.slice(11)));
  }
  const eku = x.keyUsage ?? [];
  const server = eku.includes('1.3.6.1.5.5.7.3.1');
  const client = eku.includes('1.3.6.1.5.5.7.3.2');
  const usage: Usage = x.ca ? 'ca' : server && client ? 'server+client' : server ? 'server' : 'client';
  return {
    cn, orgs, dns, ips, usage,
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    serial: x.serialNumber.toUpperCase(),
    isCA: x.ca,
    fingerprint256: x.fingerprint256,
    x509: x,
  };
}

function normalizeIp(ip: string): string {
  // Node prints IPv6 SANs in full form (0:0:0:0:0:0:0:1); kubeadm shows ::1.
  if (ip.includes(':')) {
    const parts = ip.split(':').map((h) => h.replace(/^0+(?=.)/, '').toLowerCase());
    const s = parts.join(':');
    return s === '0:0:0:0:0:0:0:1' ? '::1' : s;
  }
  return ip;
}

export function readCertFile(path: string): CertInfo {
  return parseCert(readFileSync(path));
}

/** True when `cert` carries a valid signature by `ca` (expiry is not considered). */
export function signedBy(cert: CertInfo, ca: CertInfo): boolean {
  try {
    return cert.x509.checkIssued(ca.x509) && cert.x509.verify(ca.x509.publicKey);
  } catch {
    return false;
  }
}

/** True when the key PEM matches the certificate's public key. */
export function keyMatches(cert: CertInfo, keyPem: string | Buffer): boolean {
  try {
    const pub = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    const cpub = cert.x509.publicKey.export({ type: 'spki', format: 'der' });
    return Buffer.compare(pub, cpub) === 0;
  } catch {
    return false;
  }
}

export function expiredAt(cert: CertInfo, now = Date.now()): boolean {
  return now > cert.notAfter.getTime() || now < cert.notBefore.getTime();
}

/** Go's time.Time String() for UTC: `2020-07-27 06:24:58 +0000 UTC`, `2020-07-27 06:24:58.12 +0000 UTC` (the fraction only when there is one). */
export function goTime(d: Date): string {
  const frac = String(d.getUTCMilliseconds()).padStart(3, '0').replace(/0+$/, '');
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, `${frac ? '.' + frac : ''} +0000 UTC`);
}

// ---------------------------------------------------------------- writing

export async function writePem(dir: string, base: string, pem: Pem): Promise<void> {
  const crt = join(dir, base + '.crt');
  await mkdir(dirname(crt), { recursive: true });
  await writeFile(crt, pem.cert, { mode: 0o644 });
  await writeFile(join(dir, base + '.key'), pem.key, { mode: 0o600 });
  await chmod(join(dir, base + '.key'), 0o600);
}

export function readPem(dir: string, base: string): Pem {
  return { cert: readFileSync(join(dir, base + '.crt'), 'utf8'), key: readFileSync(join(dir, base + '.key'), 'utf8') };
}

/** sa.key / sa.pub: a key pair, not a certificate. */
export async function writeServiceAccountKeys(dir: string, key?: string): Promise<void> {
  key ??= await genKey();
  const pub = createPublicKey(createPrivateKey(key)).export({ type: 'spki', format: 'pem' }).toString();
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'sa.key'), key, { mode: 0o600 });
  await writeFile(join(dir, 'sa.pub'), pub, { mode: 0o644 });
}

// ---------------------------------------------------------------- kubeconfigs

export interface KubeconfigSpec {
  server: string;
  caCert: string;
  user: string;
  clusterName?: string;
  /** embedded client cert and key */
  client?: Pem;
  /** or: a file holding both (kubelet-client-current.pem) */
  clientFile?: string;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A kubeconfig laid out like kubeadm's (clientcmd's YAML, keys sorted). */
export function kubeconfigYaml(s: KubeconfigSpec): string {
  const cluster = s.clusterName ?? 'kubernetes';
  const ctx = `${s.user}@${cluster}`;
  const userLines = s.client
    ? [`    client-certificate-data: ${b64(s.client.cert)}`, `    client-key-data: ${b64(s.client.key)}`]
    : [`    client-certificate: ${s.clientFile}`, `    client-key: ${s.clientFile}`];
  return [
    'apiVersion: v1',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${b64(s.caCert)}`,
    `    server: ${s.server}`,
    `  name: ${cluster}`,
    'contexts:',
    '- context:',
    `    cluster: ${cluster}`,
    `    user: ${s.user}`,
    `  name: ${ctx}`,
    `current-context: ${ctx}`,
    'kind: Config',
    'preferences: {}',
    'users:',
    `- name: ${s.user}`,
    '  user:',
    ...userLines,
    '',
  ].join('\n');
}

export interface ParsedKubeconfig {
  server: string;
  caCert?: string;
  user: string;
  clusterName: string;
  clientCert?: string;
  clientKey?: string;
  clientCertFile?: string;
  clientKeyFile?: string;
}

/** Reads the fields kubeadm and the kubelet care about, from the current context (tolerant line parser). */
export function parseKubeconfig(text: string): ParsedKubeconfig {
  const get = (re: RegExp) => re.exec(text)?.[1]?.trim();
  const unb64 = (s?: string) => (s ? Buffer.from(s, 'base64').toString('utf8') : undefined);
  return {
    server: get(/^\s*server:\s*(\S+)/m) ?? '',
    caCert: unb64(get(/^\s*certificate-authority-data:\s*(\S+)/m)),
    user: get(/^- name:\s*(\S+)\s*\n\s*user:/m) ?? '',
    clusterName: get(/^\s+cluster:\s*(\S+)/m) ?? 'kubernetes',
    clientCert: unb64(get(/^\s*client-certificate-data:\s*(\S+)/m)),
    clientKey: unb64(get(/^\s*client-key-data:\s*(\S+)/m)),
    clientCertFile: get(/^\s*client-certificate:\s*(\S+)/m),
    clientKeyFile: get(/^\s*client-key:\s*(\S+)/m),
  };
}
