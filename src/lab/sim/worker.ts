// Worker nodes: a kubeadm-joined node that runs only the kubelet, registered with a simulated control
// plane's API server (nodes-api.ts) with its kubelet client certificate (CN=system:node:<name>,
// O=system:nodes, signed by the cluster CA). The node agent for a worker is worker-agent.ts.
//
// Scenarios (the kubelet's client certificate rotation stopped working a year ago):
//   worker-expired-1.18   kubelet.conf EMBEDS the client certificate (it was recovered by hand with
//                         `kubeadm alpha kubeconfig user` once), expired 3 days ago; the kubelet's
//                         certificate store still holds the rotated certificate of before, expired too.
//   worker-expired-1.28   kubelet.conf points at /var/lib/kubelet/pki/kubelet-client-current.pem (as
//                         TLS bootstrap leaves it), expired 5 days ago.
//   worker-healthy-1.28   like the above, valid for 335 more days: nothing to do.
// On each, the kubelet refuses to start while kubelet.conf's certificate is expired ("part of the existing
// bootstrap client certificate ... is expired"), so the node has posted no status since and is NotReady.
import { mkdir, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NODE, kubeletClientFile, rooted } from './paths.js';
import { saveNode, type NodeConfig, type Runtime } from './node.js';
import { DAY, issue, kubeconfigYaml, readPem } from './pki.js';
import { kubeletConfigYaml, kubeadmFlagsEnv } from './manifests.js';
import { installCniConfig, installCommands, installStorePair } from './scenarios.js';
import { writeNodeSeed } from './worker-seeds.js';

import { WORKER_SCENARIOS, type WorkerScenario } from './scenario-names.js';
export { WORKER_SCENARIOS, type WorkerScenario };

interface WorkerDef {
  version: string;
  runtime: Runtime;
  /** kubelet.conf embeds the client certificate, or points at kubelet-client-current.pem */
  embedded: boolean;
  /** validity of the client certificate kubelet.conf uses */
  client: (now: number) => { nb: Date; na: Date };
  /** an older rotated certificate left in the kubelet's store (embedded case) */
  staleStore?: (now: number) => { nb: Date; na: Date };
}

const d = (ms: number) => new Date(ms);
const DEFS: Record<WorkerScenario, WorkerDef> = {
  'worker-expired-1.18': {
    version: 'v1.18.20', runtime: 'containerd', embedded: true,
    client: (now) => ({ nb: d(now - 368 * DAY), na: d(now - 3 * DAY) }),
    staleStore: (now) => ({ nb: d(now - 500 * DAY), na: d(now - 135 * DAY) }),
  },
  'worker-expired-1.28': {
    version: 'v1.28.15', runtime: 'containerd', embedded: false,
    client: (now) => ({ nb: d(now - 370 * DAY), na: d(now - 5 * DAY) }),
  },
  'worker-healthy-1.28': {
    version: 'v1.28.15', runtime: 'containerd', embedded: false,
    client: (now) => ({ nb: d(now - 30 * DAY), na: d(now + 335 * DAY) }),
  },
};

export function workerScenarioVersion(s: WorkerScenario): string {
  return DEFS[s].version;
}

export interface WorkerInstallOptions {
  nodeName: string;
  /** the worker's own address (its InternalIP) */
  address: string;
  /** the control-plane node's root: its CA signs the kubelet's certificate, its API server keeps the Node */
  controlPlaneRoot: string;
  /** the API server URL kubelet.conf names, e.g. https://10.0.0.1:6443 */
  server: string;
  now?: Date;
  kubeletRestartMs?: number;
  /** the kubelet's nodeStatusUpdateFrequency, ms (default 10 s) */
  nodeStatusUpdateMs?: number;
  /** the kubelet's nodeLeaseDurationSeconds (default 40: the Lease renewed every 10 s) */
  nodeLeaseDurationSeconds?: number;
  /** the kubelet's NodeLease feature gate, set explicitly (default: its version's, on from 1.14) */
  nodeLease?: boolean;
  /** another kubelet version than the scenario's (e.g. v1.13.12: no node Lease) */
  version?: string;
}

/** Writes worker `opts.nodeName` in `scenario` under `root` and records it as a node the control plane knows. */
export async function installWorker(root: string, scenario: WorkerScenario, opts: WorkerInstallOptions): Promise<NodeConfig> {
  const def = DEFS[scenario];
  if (!def) throw new Error(`unknown worker scenario ${scenario}; known: ${WORKER_SCENARIOS.join(', ')}`);
  const now = (opts.now ?? new Date()).getTime();
  const r = (p: string) => rooted(root, p);
  for (const dir of [NODE.pkiDir, NODE.kubeletPki, NODE.simState, NODE.runSim, NODE.logDir, '/root', '/tmp']) await mkdir(r(dir), { recursive: true });
  const cpPki = rooted(opts.controlPlaneRoot, NODE.pkiDir);
  const ca = readPem(cpPki, 'ca');
  // a joined worker has the cluster CA certificate (never its key)
  await copyFile(join(cpPki, 'ca.crt'), r(NODE.pkiDir + '/ca.crt'));

  const user = `system:node:${opts.nodeName}`;
  const w = def.client(now);
  const pem = await issue({ cn: user, orgs: ['system:nodes'], usage: 'client', notBefore: w.nb, notAfter: w.na }, ca);
  let conf: string;
  if (def.embedded) {
    // made with kubeadm's kubeconfig user command: kubeadm's layout, cluster "kubernetes"
    conf = kubeconfigYaml({ server: opts.server, caCert: ca.cert, user, client: pem });
    if (def.staleStore) {
      const s = def.staleStore(now);
      const old = await issue({ cn: user, orgs: ['system:nodes'], usage: 'client', notBefore: s.nb, notAfter: s.na }, ca);
      await installStorePair(root, kubeletClientFile(s.nb), old.cert + old.key);
    }
  } else {
    // as TLS bootstrap leaves it: default-cluster / default-auth, the certificate in the kubelet's store
    await installStorePair(root, kubeletClientFile(w.nb), pem.cert + pem.key);
    conf = kubeconfigYaml({ server: opts.server, caCert: ca.cert, user: 'default-auth', clusterName: 'default-cluster', clientFile: NODE.kubeletPki + '/kubelet-client-current.pem' })
      .replace(/default-auth@default-cluster/g, 'default-context');
  }
  await writeFile(r(NODE.kubeletConf), conf, { mode: 0o600 });

  const u = new URL(opts.server);
  const node: NodeConfig = {
    version: opts.version ?? def.version,
    runtime: def.runtime,
    nodeName: opts.nodeName,
    advertiseAddress: opts.address,
    apiPort: Number(u.port || 443),
    etcdPort: 2379,
    etcdPeerPort: 2380,
    etcdInitialCluster: '',
    initNode: false,
    certSANs: [],
    serviceSubnet: '10.96.0.0/12',
    dnsDomain: 'cluster.local',
    clusterName: 'kubernetes',
    kubeletRestartMs: opts.kubeletRestartMs ?? 10_000,
    crashBackoffMs: 10_000,
    containerRestartMs: 1_000,
    createdAt: new Date(now - 400 * DAY).toISOString(),
    role: 'worker',
    nodeStatusUpdateMs: opts.nodeStatusUpdateMs ?? 10_000,
    ...(opts.nodeLeaseDurationSeconds ? { nodeLeaseDurationSeconds: opts.nodeLeaseDurationSeconds } : {}),
    ...(opts.nodeLease !== undefined ? { nodeLease: opts.nodeLease } : {}),
  };
  await writeFile(r(NODE.kubeletConfig), kubeletConfigYaml(node, '20s'));
  await installCniConfig(root);
  await writeFile(r(NODE.kubeadmFlags), kubeadmFlagsEnv(node));
  saveNode(root, node);
  await installCommands(root, node.runtime);

  // the control plane has known this node since it joined; its kubelet was last heard from when its
  // certificate still worked (now, for a healthy one)
  await writeNodeSeed(opts.controlPlaneRoot, node, Math.min(now, w.na.getTime()), now);
  return node;
}
