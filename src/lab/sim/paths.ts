// Rooting: every absolute node path the simulator touches goes through rooted().
// SIM_ROOT (default "/") is the directory that plays the node's "/". Over SSH on a lab host it is "/"
// (the host's mount namespace already maps /etc/kubernetes etc. onto its directory); in the sandbox it
// is the sandbox directory, and the emulated commands run with SIM_ROOT=<sandbox>.
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export function simRoot(env: NodeJS.ProcessEnv = process.env): string {
  const r = env.SIM_ROOT;
  return r && r.length > 0 ? resolve(r) : '/';
}

/**
 * The operator-side path of node path `p` under `root`. A path that already lies under root is kept
 * as it is (in the sandbox a runbook may pass `<sandbox>/etc/kubernetes/pki` as well as `/etc/kubernetes/pki`).
 * Relative paths are resolved against the current directory first, like the real tools do.
 */
export function rooted(root: string, p: string): string {
  const abs = isAbsolute(p) ? p : resolve(p);
  if (root === '/' || root === '') return abs;
  const r = root.endsWith('/') ? root.slice(0, -1) : root;
  if (abs === r || abs.startsWith(r + '/')) return abs;
  return join(r, abs);
}

/** The node-side (un-rooted) view of an operator path, for messages. */
export function unrooted(root: string, p: string): string {
  if (root === '/' || root === '') return p;
  const r = root.endsWith('/') ? root.slice(0, -1) : root;
  if (p === r) return '/';
  if (p.startsWith(r + '/')) return p.slice(r.length);
  return p;
}

/** Well-known node paths (un-rooted). */
export const NODE = {
  kubeDir: '/etc/kubernetes',
  pkiDir: '/etc/kubernetes/pki',
  manifests: '/etc/kubernetes/manifests',
  /** the kubelet's kubeconfig (kubeadm writes it; the kubelet's client certificate is in it or named by it) */
  kubeletConf: '/etc/kubernetes/kubelet.conf',
  kubeletDir: '/var/lib/kubelet',
  kubeletPki: '/var/lib/kubelet/pki',
  kubeletConfig: '/var/lib/kubelet/config.yaml',
  kubeadmFlags: '/var/lib/kubelet/kubeadm-flags.env',
  /** the container runtime's network configuration (the network plugin's, once it runs) */
  cniConfDir: '/etc/cni/net.d',
  simState: '/var/lib/sim',
  nodeJson: '/var/lib/sim/node.json',
  rootKube: '/root/.kube/config',
  runSim: '/run/sim',
  logDir: '/var/log/sim',
  sbin: '/usr/local/sbin',
} as const;

/** The compiled simulator directory (dist/src/lab/sim), for launchers and the agent. */
export const simDistDir = dirname(fileURLToPath(import.meta.url));
// the package root, found once for the whole program (src/paths.ts)
export { packageRoot } from '../../paths.js';

/** The kubelet's store file for a pair written (or valid from) `at`: kubelet-client-<Go "2006-01-02-15-04-05", UTC>.pem. */
export function kubeletClientFile(at: Date): string {
  return `kubelet-client-${at.toISOString().slice(0, 19).replace(/[T:]/g, '-')}.pem`;
}
