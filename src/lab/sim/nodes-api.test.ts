// The nodes API and the worker seeds against an in-memory stand-in for etcd's JSON gateway (no etcd,
// no agent): a single node's request (the kubelet's heartbeat path) reads that node's Lease only,
// whatever the cluster's size, the list every Lease once; seeds are put once, never over a stored node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EtcdClient } from './etcd.js';
import { b64, unb64 } from './api-store.js';
import { microTime, rfc3339 } from './format.js';
import { nodesApi, type StoredNode } from './nodes-api.js';
import { seedLease } from './leases-api.js';
import { nodeSeeder, type NodeSeed } from './worker-seeds.js';

/** etcd's kv/range, kv/put and kv/txn (one compare, one put) over a Map, every read recorded (keys decoded). */
function fakeEtcd(): { etcd: EtcdClient; reads: string[]; data: Map<string, string> } {
  const data = new Map<string, string>();
  const revs = new Map<string, string>();
  const reads: string[] = [];
  let rev = 1;
  const put = (key: string, value: string) => {
    data.set(key, value);
    revs.set(key, String(++rev));
    return { header: { revision: String(rev) } };
  };
  type Body = { key: string; range_end?: string; value?: string; compare?: { key: string; target: string; mod_revision?: string }[]; success?: { request_put: { key: string; value: string } }[] };
  const call = (path: string, body: Body): Promise<Record<string, unknown>> => {
    if (path === 'kv/put') return Promise.resolve(put(unb64(body.key), unb64(body.value!)));
    if (path === 'kv/txn') {
      const c = body.compare![0]!;
      const k = unb64(c.key);
      const ok = c.target === 'CREATE' ? !data.has(k) : revs.get(k) === c.mod_revision;
      const p = body.success![0]!.request_put;
      return Promise.resolve(ok ? { succeeded: true, ...put(unb64(p.key), unb64(p.value)) } : { succeeded: false });
    }
    const key = unb64(body.key);
    const end = body.range_end === undefined ? undefined : unb64(body.range_end);
    reads.push(end === undefined ? key : `${key} to ${end}`);
    const keys = [...data.keys()].sort().filter((k) => (end === undefined ? k === key : k >= key && k < end));
    return Promise.resolve({ kvs: keys.map((k) => ({ key: b64(k), value: b64(data.get(k)!), mod_revision: revs.get(k) ?? '1' })) });
  };
  const etcd = {
    call,
    get: (key: string) => call('kv/range', { key: b64(key) }),
    put: (key: string, value: string) => call('kv/put', { key: b64(key), value: b64(value) }),
  } as unknown as EtcdClient;
  return { etcd, reads, data };
}

function node(name: string, beat: number): StoredNode {
  return {
    metadata: { name, uid: `${name}-uid`, creationTimestamp: rfc3339(beat - 3_600_000), labels: {} },
    status: { addresses: [], nodeInfo: { kubeletVersion: 'v1.28.15' }, conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: rfc3339(beat - 300_000), lastTransitionTime: rfc3339(beat - 3_600_000), reason: 'KubeletReady', message: '' }] },
  };
}

const req = { socket: {} } as unknown as IncomingMessage;

test('a single node GET reads its own Lease, not every Lease; the list reads them all once', async () => {
  const { etcd, reads, data } = fakeEtcd();
  const now = Date.now();
  for (const n of ['w1', 'w2', 'w3']) {
    data.set(`/registry/minions/${n}`, JSON.stringify(node(n, now)));
    const lease = seedLease(n, `${n}-uid`, new Date(now - 1000), 40, rfc3339(now - 3_600_000));
    data.set(`/registry/leases/kube-node-lease/${n}`, JSON.stringify(lease));
  }
  const ctx = { req, method: 'GET', wantTable: false, etcd, graceMs: 40_000 };

  const one = await nodesApi({ ...ctx, path: '/api/v1/nodes/w2' });
  assert.equal(one?.code, 200);
  // Ready however old its status post: its Lease was renewed a second ago
  assert.equal((JSON.parse(one.body) as { status: { conditions: { status: string }[] } }).status.conditions[0]!.status, 'True');
  assert.deepEqual(reads, ['/registry/minions/w2', '/registry/leases/kube-node-lease/w2']);

  reads.length = 0;
  const list = await nodesApi({ ...ctx, path: '/api/v1/nodes' });
  assert.equal(list?.code, 200);
  assert.deepEqual((JSON.parse(list.body) as { items: { metadata: { name: string } }[] }).items.map((i) => i.metadata.name), ['w1', 'w2', 'w3']);
  assert.deepEqual(reads, ['/registry/leases/kube-node-lease/ to /registry/leases/kube-node-lease0', '/registry/minions/ to /registry/minions0']);
});

test('the seeder of an API server puts each seed once, unless present, and finds seeds written after it started', async () => {
  const { etcd, data } = fakeEtcd();
  const dir = mkdtempSync(join(tmpdir(), 'sim-seeds-'));
  try {
    const now = Date.now();
    const seed = (n: string): NodeSeed => ({ ...node(n, now), lease: { renewTime: microTime(now - 1000), leaseDurationSeconds: 40 } });
    writeFileSync(join(dir, 'w1.json'), JSON.stringify(seed('w1')));
    // w0's kubelet posted before the API server seeded it: its seed is never put over what is stored
    writeFileSync(join(dir, 'w0.json'), JSON.stringify(node('w0', now)));
    data.set('/registry/minions/w0', JSON.stringify(node('w0', now + 1)));
    const posted = data.get('/registry/minions/w0');
    const seedWorkers = nodeSeeder(etcd, dir);
    // two requests at once seed once
    await Promise.all([seedWorkers(), seedWorkers()]);
    assert.equal(data.get('/registry/minions/w0'), posted);
    assert.deepEqual([...data.keys()].sort(), ['/registry/leases/kube-node-lease/w1', '/registry/minions/w0', '/registry/minions/w1']);
    const w1 = data.get('/registry/minions/w1');
    writeFileSync(join(dir, 'w2.json'), JSON.stringify(node('w2', now)));
    await seedWorkers();
    assert.equal(data.get('/registry/minions/w1'), w1);
    assert.deepEqual([...data.keys()].sort(), ['/registry/leases/kube-node-lease/w1', '/registry/minions/w0', '/registry/minions/w1', '/registry/minions/w2']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
