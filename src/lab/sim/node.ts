// The per-node state file (<root>/var/lib/sim/node.json) and kubeadm's certificate catalogue by version.
import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
// the functions, not semver's index: it loads all ~45 of its modules at every start
import coerce from 'semver/functions/coerce.js';
import gte from 'semver/functions/gte.js';
import minorOf from 'semver/functions/minor.js';
import { NODE, rooted } from './paths.js';
import type { Usage } from './pki.js';

export type Runtime = 'containerd' | 'docker';

export interface NodeConfig {
  /** kubeadm / kubelet / control-plane version, e.g. "v1.28.15" */
  version: string;
  runtime: Runtime;
  nodeName: string;
  advertiseAddress: string;
  apiPort: number;
  /** etcd client port (2379 on a lab host; a free port in the sandbox) */
  etcdPort: number;
  /** etcd peer port (2380) */
  etcdPeerPort: number;
  /** etcd's --initial-cluster: every member, name=https://address:peerPort */
  etcdInitialCluster: string;
  etcdTimings?: { heartbeatMs: number; electionMs: number };
  /** HA: the first control-plane node (where `kubeadm init` ran, holds super-admin.conf) */
  initNode: boolean;
  /** extra apiserver SANs recorded in the cluster's kubeadm config (certSANs) */
  certSANs: string[];
  serviceSubnet: string;
  dnsDomain: string;
  clusterName: string;
  /** systemd RestartSec of kubelet.service, ms (10 s like kubeadm's drop-in) */
  kubeletRestartMs: number;
  /** first crash-loop back-off of a container, ms (kubelet: 10 s, doubling, max 5 min) */
  crashBackoffMs: number;
  /** how long the kubelet takes to restart a container that was stopped from outside, ms */
  containerRestartMs: number;
  /** override of the version rule for expired certificates found by `init phase certs`: reuse (>= 1.20) or error (< 1.20) */
  expiredInitCerts?: 'reuse' | 'error';
  /** sandbox: port the emulated etcdctl maps "<advertise>:2379" to */
  createdAt: string;
  /** a worker node (kubelet only, src/lab/sim/worker.ts); default: a control-plane node */
  role?: 'control-plane' | 'worker';
  /** the API server's --node-monitor-grace-period, ms (40 s); a worker whose kubelet is silent longer is NotReady */
  nodeMonitorGraceMs?: number;
  /** a worker kubelet's nodeStatusUpdateFrequency, ms (10 s) */
  nodeStatusUpdateMs?: number;
  /** a worker kubelet's nodeStatusReportFrequency with a node Lease, ms (1 min to 1.16, 5 min from 1.17): ./node-heartbeat.ts */
  nodeStatusReportMs?: number;
  /** a worker kubelet's nodeLeaseDurationSeconds (40; the Lease is renewed every quarter of it from 1.16) */
  nodeLeaseDurationSeconds?: number;
  /** a worker kubelet's NodeLease feature gate, when set explicitly (1.12 - 1.16); default: on from 1.14 */
  nodeLease?: boolean;
  /**
   * external etcd (kubeadm's etcd.external): no etcd static pod and no pki/etcd/; the API server
   * reaches `endpoint` with apiserver-etcd-client, signed by the external etcd's CA (`caFile`, node paths).
   * The etcd itself runs outside the node's kubelet (src/lab/sim/external-etcd.ts).
   */
  externalEtcd?: { endpoint: string; caFile: string; certFile: string; keyFile: string; peerPort: number };
}

export function nodeJsonPath(root: string): string {
  return rooted(root, NODE.nodeJson);
}

export function loadNode(root: string): NodeConfig {
  return JSON.parse(readFileSync(nodeJsonPath(root), 'utf8')) as NodeConfig;
}

export function saveNode(root: string, n: NodeConfig): void {
  const p = nodeJsonPath(root);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p + '.tmp', JSON.stringify(n, null, 2) + '\n');
  renameSync(p + '.tmp', p);
}

export function minor(version: string): number {
  return minorOf(coerce(version) ?? '0.0.0');
}

export function atLeast(version: string, v: string): boolean {
  return gte(coerce(version) ?? '0.0.0', v);
}

// ---------------------------------------------------------------- certificate catalogue

export interface LeafDef {
  /** kubeadm's name for it (renew / check-expiration) */
  name: string;
  /** base path under pki/, no extension */
  base: string;
  ca: 'ca' | 'etcd/ca' | 'front-proxy-ca';
  caName: 'ca' | 'etcd-ca' | 'front-proxy-ca';
  longName: string;
  usage: Usage;
}

export const CAS = [
  { name: 'ca', base: 'ca', cn: 'kubernetes', longName: 'self-signed Kubernetes CA to provision identities for other Kubernetes components' },
  { name: 'front-proxy-ca', base: 'front-proxy-ca', cn: 'front-proxy-ca', longName: 'self-signed CA to provision identities for front proxy' },
  { name: 'etcd-ca', base: 'etcd/ca', cn: 'etcd-ca', longName: 'self-signed CA to provision identities for etcd' },
] as const;

export const LEAVES: LeafDef[] = [
  { name: 'apiserver', base: 'apiserver', ca: 'ca', caName: 'ca', longName: 'certificate for serving the Kubernetes API', usage: 'server' },
  { name: 'apiserver-kubelet-client', base: 'apiserver-kubelet-client', ca: 'ca', caName: 'ca', longName: 'certificate for the API server to connect to kubelet', usage: 'client' },
  { name: 'front-proxy-client', base: 'front-proxy-client', ca: 'front-proxy-ca', caName: 'front-proxy-ca', longName: 'certificate for the front proxy client', usage: 'client' },
  { name: 'etcd-server', base: 'etcd/server', ca: 'etcd/ca', caName: 'etcd-ca', longName: 'certificate for serving etcd', usage: 'server+client' },
  { name: 'etcd-peer', base: 'etcd/peer', ca: 'etcd/ca', caName: 'etcd-ca', longName: 'certificate for etcd nodes to communicate with each other', usage: 'server+client' },
  { name: 'etcd-healthcheck-client', base: 'etcd/healthcheck-client', ca: 'etcd/ca', caName: 'etcd-ca', longName: 'certificate for liveness probes to healthcheck etcd', usage: 'client' },
  { name: 'apiserver-etcd-client', base: 'apiserver-etcd-client', ca: 'etcd/ca', caName: 'etcd-ca', longName: 'certificate the apiserver uses to access etcd', usage: 'client' },
];

export interface ConfDef {
  file: string;
  longName: string;
  user: (n: NodeConfig) => string;
  orgs: (n: NodeConfig) => string[];
}

export const CONFS: ConfDef[] = [
  {
    file: 'admin.conf',
    longName: 'certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself',
    user: () => 'kubernetes-admin',
    orgs: (n) => [atLeast(n.version, '1.29.0') ? 'kubeadm:cluster-admins' : 'system:masters'],
  },
  {
    file: 'super-admin.conf',
    longName: 'certificate embedded in the kubeconfig file for the super-admin',
    user: () => 'kubernetes-super-admin',
    orgs: () => ['system:masters'],
  },
  { file: 'kubelet.conf', longName: 'kubelet', user: (n) => `system:node:${n.nodeName}`, orgs: () => ['system:nodes'] },
  {
    file: 'controller-manager.conf',
    longName: 'certificate embedded in the kubeconfig file for the controller manager to use',
    user: () => 'system:kube-controller-manager',
    orgs: () => [],
  },
  {
    file: 'scheduler.conf',
    longName: 'certificate embedded in the kubeconfig file for the scheduler manager to use',
    user: () => 'system:kube-scheduler',
    orgs: () => [],
  },
];

export function confDef(file: string): ConfDef {
  const c = CONFS.find((x) => x.file === file);
  if (!c) throw new Error(`unknown kubeconfig ${file}`);
  return c;
}

/** The organisation kubeadm puts in each leaf certificate for this version. */
export function leafOrgs(name: string, version: string): string[] {
  switch (name) {
    case 'apiserver-kubelet-client':
      return [atLeast(version, '1.29.0') ? 'kubeadm:cluster-admins' : 'system:masters'];
    case 'apiserver-etcd-client':
    case 'etcd-healthcheck-client':
      return ['system:masters'];
    default:
      return [];
  }
}

export function leafCN(name: string, n: NodeConfig): string {
  switch (name) {
    case 'apiserver': return 'kube-apiserver';
    case 'apiserver-kubelet-client': return 'kube-apiserver-kubelet-client';
    case 'front-proxy-client': return 'front-proxy-client';
    case 'etcd-server': return n.nodeName;
    case 'etcd-peer': return n.nodeName;
    case 'etcd-healthcheck-client': return 'kube-etcd-healthcheck-client';
    case 'apiserver-etcd-client': return 'kube-apiserver-etcd-client';
    default: throw new Error(`unknown certificate ${name}`);
  }
}

/** The first IP of the service subnet (10.96.0.0/12 → 10.96.0.1). */
export function firstServiceIP(subnet: string): string {
  const [ip] = subnet.split('/');
  const p = (ip ?? '10.96.0.0').split('.').map(Number);
  p[3] = (p[3] ?? 0) + 1;
  return p.join('.');
}

export interface SanSet {
  dns: string[];
  ips: string[];
}

/** kubeadm's SANs for a leaf, plus extra SANs (apiserver only). */
export function leafSANs(name: string, n: NodeConfig, extra: string[] = []): SanSet {
  const isIp = (s: string) => /^[0-9.]+$/.test(s) || s.includes(':');
  const uniq = (a: string[]) => [...new Set(a)];
  switch (name) {
    case 'apiserver': {
      const dns = [n.nodeName, 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', `kubernetes.default.svc.${n.dnsDomain}`];
      const ips = [firstServiceIP(n.serviceSubnet), n.advertiseAddress];
      for (const e of extra) (isIp(e) ? ips : dns).push(e);
      return { dns: uniq(dns), ips: uniq(ips) };
    }
    case 'etcd-server':
    case 'etcd-peer':
      return { dns: [n.nodeName, 'localhost'], ips: uniq([n.advertiseAddress, '127.0.0.1', '::1']) };
    default:
      return { dns: [], ips: [] };
  }
}
