// The kubelet's own files, as the kubelet reads them: its config (how often it scans the static pod
// path), its client certificate (kubelet.conf), and its certificate manager's store
// (/var/lib/kubelet/pki: which pair the manager holds when the kubelet starts, and how it writes one).
import { existsSync, lstatSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { load as yamlLoad } from 'js-yaml';
import { NODE } from '../paths.js';
import { atLeast } from '../node.js';
import { parseCert, parseKubeconfig, type CertInfo } from '../pki.js';
import { kubeletLog, type AgentState, type NodeAgentState } from './state.js';

function durationMs(s: string | undefined, dflt: number): number {
  if (!s) return dflt;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s.trim());
  if (!m) return dflt;
  const v = Number(m[1]);
  return m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : m[2] === 'm' ? v * 60000 : v * 3600000;
}

export function readKubeletConfig(st: AgentState): void {
  try {
    const cfg = yamlLoad(readFileSync(st.r(NODE.kubeletConfig), 'utf8')) as Record<string, string>;
    st.kubelet.fileCheckMs = durationMs(cfg.fileCheckFrequency, 20_000);
  } catch {
    st.kubelet.fileCheckMs = 20_000;
  }
}

/** The kubelet's client certificate, as the kubelet would load it from kubelet.conf. */
export function kubeletClientCert(st: NodeAgentState): { cert?: CertInfo; error?: string } {
  const confPath = st.r(NODE.kubeDir + '/kubelet.conf');
  if (!existsSync(confPath)) return { error: 'missing' };
  try {
    const kc = parseKubeconfig(readFileSync(confPath, 'utf8'));
    if (kc.clientCert) return { cert: parseCert(kc.clientCert) };
    if (kc.clientCertFile) {
      const f = st.r(kc.clientCertFile);
      if (!existsSync(f)) return { error: `open ${kc.clientCertFile}: no such file or directory` };
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
 * when it exists (an unreadable one is an error: the manager is not made); else the files kubelet.conf
 * names, when both exist; else none.
 */
function storeCurrent(st: NodeAgentState, kc: ReturnType<typeof parseKubeconfig>): Omit<ManagerCert, 'bootstrapped'> | undefined {
  const pair = (certFile: string, keyFile: string) => {
    const cert = readFileSync(st.r(certFile), 'utf8');
    return { cert, key: certFile === keyFile ? cert : readFileSync(st.r(keyFile), 'utf8'), info: parseCert(cert) };
  };
  if (existsSync(st.r(STORE_CURRENT))) return pair(STORE_CURRENT, STORE_CURRENT);
  const certFile = kc.clientCertFile;
  const keyFile = kc.clientKeyFile ?? certFile;
  if (certFile && keyFile && existsSync(st.r(certFile)) && existsSync(st.r(keyFile))) return pair(certFile, keyFile);
  return undefined;
}

/**
 * The client certificate the kubelet's certificate manager starts with (client-go
 * util/certificate/certificate_manager.go, getCurrentCertificateOrBootstrap): the store's pair while
 * it is valid; else kubelet.conf's embedded pair, the bootstrap one, which the manager writes into its
 * store and rotates at once; else none (an expired store pair and nothing embedded: its API client
 * presents no certificate). Throws when the store's pair cannot be read.
 */
export function managerCert(st: NodeAgentState, now = Date.now()): ManagerCert | undefined {
  const kc = parseKubeconfig(readFileSync(st.r(NODE.kubeDir + '/kubelet.conf'), 'utf8'));
  const current = storeCurrent(st, kc);
  if (current && now < current.info.notAfter.getTime()) return { ...current, bootstrapped: false };
  if (!kc.clientCert || !kc.clientKey) return undefined;
  return { cert: kc.clientCert, key: kc.clientKey, info: parseCert(kc.clientCert), bootstrapped: true };
}

/** The store's name for a pair written at `t`: kubelet-client-<time.Now().Format("2006-01-02-15-04-05")>.pem. */
function storeFile(t: number): string {
  const d = new Date(t).toISOString(); // the simulated nodes run in UTC
  return `kubelet-client-${d.slice(0, 10)}-${d.slice(11, 19).replace(/:/g, '-')}.pem`;
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
  const current = st.r(STORE_CURRENT);
  let isLink = true;
  try {
    isLink = lstatSync(current).isSymbolicLink();
  } catch { /* no current yet */ }
  if (!isLink) throw new Error(`expected "${STORE_CURRENT}" to be a symlink but it is a file`);
  const name = storeFile(now);
  writeFileSync(st.r(posix.join(NODE.kubeletPki, name)), cert.endsWith('\n') ? cert + key : `${cert}\n${key}`, { mode: 0o600 });
  const updated = st.r(posix.join(NODE.kubeletPki, 'kubelet-client-updated.pem'));
  rmSync(updated, { force: true });
  symlinkSync(name, updated);
  renameSync(updated, current);
  return posix.join(NODE.kubeletPki, name);
}

/** kubelets from 1.17 have the simulator's certificate manager: it writes its store and rotates (kubelet-rotation.ts) */
export const managesStore = (st: NodeAgentState): boolean => atLeast(st.node.version, '1.17.0');

/**
 * The certificate manager made when the kubelet starts: managerCert, and a bootstrap pair written into
 * the store (a failure to write is logged, and the manager keeps the pair, as the real one does).
 */
export function startCertificateManager(st: NodeAgentState, now = Date.now()): ManagerCert | undefined {
  const m = managerCert(st, now);
  if (m?.bootstrapped && managesStore(st)) {
    try {
      storeUpdate(st, m.cert, m.key, now);
    } catch (e) {
      kubeletLog(st, 'E', 'runtime.go:79', `unable to set the cert/key pair to the bootstrap certificate: ${(e as Error).message}`);
    }
  }
  return m;
}
