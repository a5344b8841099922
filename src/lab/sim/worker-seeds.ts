// Workers known to the cluster before the simulation started (they joined long ago): worker.ts leaves
// each one's Node (and its node Lease, when its kubelet renewed one) in <cp root>/var/lib/sim/nodes.d/
// <name>.json; the API server puts them into etcd as if registered then, unless already there.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { EtcdClient } from './etcd.js';
import { putNodeIfAbsent, type StoredNode } from './nodes-api.js';
import { putLeaseIfAbsent, seedLease } from './leases-api.js';

export const NODES_SEED_DIR = '/var/lib/sim/nodes.d';

/** A worker seeded into the control plane: its Node, and its node Lease when its kubelet renewed one. */
export interface NodeSeed extends StoredNode {
  lease?: { renewTime: string; leaseDurationSeconds: number };
}

/**
 * The seeding of one API server (made when it starts): each call puts the seeds not yet put by this
 * server into etcd. The directory is read again at every call because a worker may be installed
 * while the control plane runs; a seed is put once per API server, not once per request.
 */
export function workerSeeder(etcd: EtcdClient, seedDir: string): () => Promise<void> {
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
