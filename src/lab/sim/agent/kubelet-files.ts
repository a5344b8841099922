// The kubelet's own files, as the kubelet reads them: its config (how often it scans the static pod
// path, whether it rotates), its client certificate (kubelet.conf), and its certificate manager's store
// (/var/lib/kubelet/pki: which pair the manager holds when the kubelet starts, and how it writes one).
import { createPrivateKey } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { load as yamlLoad } from 'js-yaml';
import { NODE, kubeletClientFile } from '../paths.js';
import { parseCert, parseKubeconfig, type CertInfo, type ParsedKubeconfig } from '../pki.js';
import { kubeletLog, type NodeAgentState } from './state.js';

/** kubelet.conf, read now; throws when it cannot be read */
const readKubeconfig = (st: NodeAgentState): ParsedKubeconfig => parseKubeconfig(readFileSync(st.r(NODE.kubeletConf), 'utf8'));

function durationMs(s: string | undefined, dflt: number): number {
  if (!s) return dflt;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s.trim());
  if (!m) return dflt;
  const v = Number(m[1]);
  return m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : m[2] === 'm' ? v * 60000 : v * 3600000;
}

/**
 * What the kubelet reads once as it starts: kubelet.conf (or why it could not: 'missing', or the read
 * error) and, from its config, how often it scans the static pod path and whether its certificate
 * manager keeps a store and rotates (rotateCertificates, as kubeadm writes it: true in every version the
 * simulator has).
 */
export interface KubeletFiles {
  kc?: ParsedKubeconfig;
  kcError?: string;
  fileCheckMs: number;
  rotates: boolean;
}

export function readKubeletFiles(st: NodeAgentState): KubeletFiles {
  let kc: ParsedKubeconfig | undefined;
  let kcError: string | undefined;
  try {
    kc = readKubeconfig(st);
  } catch (e) {
    kcError = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as Error).message;
  }
  let cfg: { fileCheckFrequency?: string; rotateCertificates?: unknown } = {};
  try {
    cfg = (yamlLoad(readFileSync(st.r(NODE.kubeletConfig), 'utf8')) as typeof cfg | null) ?? {};
  } catch { /* unreadable: the defaults */ }
  return { ...(kc ? { kc } : { kcError }), fileCheckMs: durationMs(cfg.fileCheckFrequency, 20_000), rotates: cfg.rotateCertificates === true };
}

/**
 * The client certificate kubelet.conf gives the kubelet's API client: the one it embeds, or the file it
 * names (read when used). Throws when the embedded one is no certificate.
 */
export function kubeconfigClient(kc: ParsedKubeconfig): { cert?: CertInfo; file?: string } {
  return kc.clientCert ? { cert: parseCert(kc.clientCert) } : kc.clientCertFile ? { file: kc.clientCertFile } : {};
}

/** The kubelet's client certificate, as bootstrap.go loads it from kubelet.conf (error 'missing': there is none). */
export function kubeletClientCert(st: NodeAgentState, { kc, kcError }: KubeletFiles): { cert?: CertInfo; error?: string } {
  if (!kc) return { error: kcError ?? 'missing' };
  try {
    const { cert, file } = kubeconfigClient(kc);
    if (cert) return { cert };
    if (file) {
      const f = st.r(file);
      if (!existsSync(f)) return { error: `open ${file}: no such file or directory` };
      return { cert: parseCert(readFileSync(f)) };
    }
    return { error: 'no client certificate' };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

// ---------------------------------------------------------------- the certificate manager's store

const STORE_CURRENT = posix.join(NODE.kubeletPki, 'kubelet-client-current.pem');

/** A certificate and key, as the certificate manager holds them. */
export interface ManagerCert {
  cert: string;
  key: string;
  info: CertInfo;
  /** kubelet.conf's embedded pair (the bootstrap one): the store had no valid pair */
  bootstrapped: boolean;
}

/**
 * The pair the store holds (client-go certificate_store.go, fileStore.Current): kubelet-client-current.pem
 * when it exists; else the files kubelet.conf names, when both exist; else kubelet-client.crt and
 * kubelet-client.key in the store's directory; else none. A pair that cannot be read, or whose key is not
 * the certificate's, is an error (the manager is not made), as tls.X509KeyPair makes it.
 */
function storeCurrent(st: NodeAgentState, kc: ParsedKubeconfig): Omit<ManagerCert, 'bootstrapped'> | undefined {
  const pair = (certFile: string, keyFile: string) => {
    const cert = readFileSync(st.r(certFile), 'utf8');
    const key = certFile === keyFile ? cert : readFileSync(st.r(keyFile), 'utf8');
    const info = parseCert(cert);
    let matches = false;
    try {
      matches = info.x509.checkPrivateKey(createPrivateKey(key));
    } catch { /* no key in it */ }
    if (!matches) throw new Error(`could not convert data from "${certFile}" into cert/key pair: tls: private key does not match public key`);
    return { cert, key, info };
  };
  const both = (c: string | undefined, k: string | undefined): [string, string] | undefined => (c && k && existsSync(st.r(c)) && existsSync(st.r(k)) ? [c, k] : undefined);
  if (existsSync(st.r(STORE_CURRENT))) return pair(STORE_CURRENT, STORE_CURRENT);
  const files = both(kc.clientCertFile, kc.clientKeyFile ?? kc.clientCertFile) ?? both(posix.join(NODE.kubeletPki, 'kubelet-client.crt'), posix.join(NODE.kubeletPki, 'kubelet-client.key'));
  return files && pair(...files);
}

/**
 * The client certificate the kubelet's certificate manager starts with (client-go
 * util/certificate/certificate_manager.go, getCurrentCertificateOrBootstrap): the store's pair while
 * it is valid; else kubelet.conf's embedded pair, the bootstrap one, which the manager writes into its
 * store and rotates at once; else none (an expired store pair and nothing embedded: its API client
 * presents no certificate). Throws when the store's pair cannot be read.
 */
export function managerCert(st: NodeAgentState, kc: ParsedKubeconfig = readKubeconfig(st), now = Date.now()): ManagerCert | undefined {
  const current = storeCurrent(st, kc);
  if (current && now < current.info.notAfter.getTime()) return { ...current, bootstrapped: false };
  if (!kc.clientCert || !kc.clientKey) return undefined;
  return { cert: kc.clientCert, key: kc.clientKey, info: parseCert(kc.clientCert), bootstrapped: true };
}

/**
 * fileStore.Update: the pair written to a new kubelet-client-<time>.pem (0600), then
 * kubelet-client-current.pem pointed at it through a symlink renamed over it (kubelet-client-updated.pem),
 * so a reader sees the old pair or the new one. A current that is a plain file is an error, as it is to
 * the kubelet. The link is relative: the simulator's agent reads a node's files from outside its mount
 * namespace, where the kubelet's absolute link would point at the machine's own /var/lib/kubelet.
 * Returns the new file's path on the node.
 */
export function storeUpdate(st: NodeAgentState, cert: string, key: string, now = Date.now()): string {
  // updateSymlink's rule for current and updated alike: absent, or a symlink
  const linkOrAbsent = (path: string) => {
    let isLink = true;
    try {
      isLink = lstatSync(st.r(path)).isSymbolicLink();
    } catch { /* absent */ }
    if (!isLink) throw new Error(`expected "${path}" to be a symlink but it is a file`);
  };
  mkdirSync(st.r(NODE.kubeletPki), { recursive: true, mode: 0o755 });
  const name = kubeletClientFile(new Date(now)); // the simulated nodes run in UTC
  writeFileSync(st.r(posix.join(NODE.kubeletPki, name)), cert.endsWith('\n') ? cert + key : `${cert}\n${key}`, { mode: 0o600 });
  linkOrAbsent(STORE_CURRENT);
  const updated = posix.join(NODE.kubeletPki, 'kubelet-client-updated.pem');
  linkOrAbsent(updated);
  rmSync(st.r(updated), { force: true });
  symlinkSync(name, st.r(updated));
  renameSync(st.r(updated), st.r(STORE_CURRENT));
  return posix.join(NODE.kubeletPki, name);
}

/** Without rotation the kubelet has no certificate manager: kubelet.conf's own pair, embedded or the files it names. */
function kubeconfigPair(st: NodeAgentState, kc: ParsedKubeconfig): ManagerCert | undefined {
  if (kc.clientCert && kc.clientKey) return { cert: kc.clientCert, key: kc.clientKey, info: parseCert(kc.clientCert), bootstrapped: false };
  if (!kc.clientCertFile) return undefined;
  const cert = readFileSync(st.r(kc.clientCertFile), 'utf8');
  return { cert, key: readFileSync(st.r(kc.clientKeyFile ?? kc.clientCertFile), 'utf8'), info: parseCert(cert), bootstrapped: false };
}

/**
 * The certificate manager made when the kubelet starts: managerCert, and a bootstrap pair written into
 * the store (a failure to write is logged, and the manager keeps the pair, as the real one does).
 */
export function startCertificateManager(st: NodeAgentState, files: KubeletFiles = readKubeletFiles(st), now = Date.now()): ManagerCert | undefined {
  const kc = files.kc ?? readKubeconfig(st); // unreadable: the kubelet stopped before this (bootstrap.go); here it throws
  if (!files.rotates) return kubeconfigPair(st, kc);
  const m = managerCert(st, kc, now);
  if (m?.bootstrapped) {
    try {
      storeUpdate(st, m.cert, m.key, now);
    } catch (e) {
      kubeletLog(st, 'E', 'runtime.go:79', `unable to set the cert/key pair to the bootstrap certificate: ${(e as Error).message}`);
    }
  }
  return m;
}
