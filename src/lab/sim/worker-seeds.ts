// Nodes known to the cluster before the simulation started (they joined long ago): each control-plane
// node (scenarios.ts) and each worker (worker.ts) leaves its Node (and its node Lease, when its kubelet
// renewed one) in <cp root>/var/lib/sim/nodes.d/<name>.json; the API server puts them into etcd as if
// registered then, unless already there.
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EtcdClient } from './etcd.js';
import { putNodeIfAbsent, type StoredNode } from './nodes-api.js';
import { putLeaseIfAbsent, seedLease } from './leases-api.js';
import { rooted } from './paths.js';
import type { NodeConfig } from './node.js';
import { microTime, rfc3339 } from './format.js';
import { leaseDurationSeconds, usesNodeLease } from './node-heartbeat.js';
import { nodeBody } from './kubelet-report.js';

export const NODES_SEED_DIR = '/var/lib/sim/nodes.d';

/** A node seeded into the control plane: its Node, and its node Lease when its kubelet renewed one. */
export interface NodeSeed extends StoredNode {
  lease?: { renewTime: string; leaseDurationSeconds: number };
}

/**
 * The seeding of one API server (made when it starts): each call puts the seeds not yet put by this
 * server into etcd. The directory is read again at every call because a worker may be installed
 * while the control plane runs; a seed is put once per API server, not once per request.
 */
export function nodeSeeder(etcd: EtcdClient, seedDir: string): () => Promise<void> {
  const done = new Set<string>();
  const seedNew = async () => {
    let files: string[] = [];
    try {
      files = readdirSync(seedDir).filter((f) => f.endsWith('.json') && !done.has(f));
    } catch { /* no workers */ }
    for (const f of files) {
      const { lease, ...n } = JSON.parse(readFileSync(join(seedDir, f), 'utf8')) as NodeSeed;
      await putNodeIfAbsent(etcd, n);
      if (lease) await putLeaseIfAbsent(etcd, seedLease(n.metadata.name, n.metadata.uid, new Date(lease.renewTime), lease.leaseDurationSeconds, n.metadata.creationTimestamp));
      done.add(f);
    }
  };
  // one seeding at a time: two requests at once would both find a seed not done yet
  let last: Promise<void> = Promise.resolve();
  return () => (last = last.catch(() => undefined).then(seedNew));
}

/**
 * Leaves node `node`'s seed in `cpRoot`'s seed directory: the Node as its kubelet registered it when
 * the node joined, its kubelet last heard from at `lastHeard` (its client certificate's expiry, or now
 * for a healthy one). With a node Lease that was a Lease renewal, and its status was posted last a while
 * before (on a change or every nodeStatusReportFrequency only).
 */
export async function writeNodeSeed(cpRoot: string, node: NodeConfig, lastHeard: number, now: number): Promise<void> {
  const lease = usesNodeLease(node);
  const created = rfc3339(node.createdAt);
  const body = nodeBody(node, [{ type: 'Ready', status: 'True', lastHeartbeatTime: rfc3339(lease ? lastHeard - 100_000 : lastHeard), lastTransitionTime: created, reason: 'KubeletReady', message: 'kubelet is posting ready status' }]);
  const seed: NodeSeed = {
    metadata: { name: node.nodeName, uid: `${node.nodeName}-${Math.floor(now / 1000)}`, creationTimestamp: created, labels: body.metadata.labels },
    ...(body.spec ? { spec: body.spec } : {}),
    status: body.status,
    ...(lease ? { lease: { renewTime: microTime(lastHeard), leaseDurationSeconds: leaseDurationSeconds(node) } } : {}),
  };
  const seedDir = rooted(cpRoot, NODES_SEED_DIR);
  await mkdir(seedDir, { recursive: true });
  await writeFile(join(seedDir, `${node.nodeName}.json`), JSON.stringify(seed, null, 2) + '\n');
}
