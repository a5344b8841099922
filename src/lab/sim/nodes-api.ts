// The emulated API server's Node objects for worker nodes: stored in the control plane's real etcd
// (under /registry/minions/, the real key), written by the workers' kubelets, read by kubectl.
// What the real API server and controller-manager do, reduced to what node recovery needs:
//   - authentication is the TLS client certificate (done by the caller: an expired or foreign
//     certificate never gets here, it gets 401 Unauthorized);
//   - the Node authorizer + NodeRestriction: only a user `system:node:<name>` in group `system:nodes`
//     may register or update node <name>, and no other node (403 Forbidden otherwise);
//   - the node lifecycle controller: a node whose kubelet has not posted its status for the grace
//     period (--node-monitor-grace-period, 40 s) is Ready=Unknown, "Kubelet stopped posting node status."
// Workers known to the cluster before the simulation started (they joined long ago) are seeded from
// <cp root>/var/lib/sim/nodes.d/<name>.json into etcd, as if registered then.
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { EtcdClient } from './etcd.js';
import { humanDuration } from './format.js';

export const NODES_SEED_DIR = '/var/lib/sim/nodes.d';
const KEY_PREFIX = '/registry/minions/';

/** What a worker's kubelet stores: the Node object the kubelet registered and last patched. */
export interface StoredNode {
  metadata: { name: string; uid: string; creationTimestamp: string; labels: Record<string, string> };
  status: {
    addresses: { type: string; address: string }[];
    nodeInfo: Record<string, string>;
    /** the kubelet's last status post */
    lastHeartbeatTime: string;
  };
}

export interface NodesApiContext {
  req: IncomingMessage;
  method: string;
  path: string;
  wantTable: boolean;
  etcd: EtcdClient;
  /** the control-plane node's own Node object (built by the agent from its kubelet's state) */
  controlPlaneNode: { metadata: { name: string; creationTimestamp: string; labels: Record<string, string> }; status: { conditions: { type: string; status: string }[]; nodeInfo: { kubeletVersion: string }; addresses: { address: string }[] } };
  /** --node-monitor-grace-period, ms */
  graceMs: number;
  /** <root>/var/lib/sim/nodes.d on the operator side */
  seedDir: string;
}

export interface ApiReply {
  code: number;
  body: string;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
const stamp = (d: Date | number) => new Date(d).toISOString().replace(/\.\d+Z$/, 'Z');

function status(code: number, reason: string, message: string, details?: Record<string, unknown>): ApiReply {
  return { code, body: JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code }) };
}

/** The user and groups of the request's verified client certificate (CN, O). */
export function identity(req: IncomingMessage): { user: string; groups: string[] } {
  const sock = req.socket as TLSSocket;
  const peer = sock.getPeerCertificate?.();
  if (!peer || !sock.authorized || Object.keys(peer).length === 0) return { user: 'system:anonymous', groups: ['system:unauthenticated'] };
  const o = peer.subject?.O as string | string[] | undefined;
  return { user: String(peer.subject?.CN ?? ''), groups: [...(Array.isArray(o) ? o : o ? [o] : []), 'system:authenticated'] };
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text;
}

async function getStored(etcd: EtcdClient, name: string): Promise<StoredNode | undefined> {
  const r = await etcd.get(KEY_PREFIX + name);
  const kvs = (r.kvs as { value?: string }[] | undefined) ?? [];
  return kvs[0]?.value ? (JSON.parse(unb64(kvs[0].value)) as StoredNode) : undefined;
}

async function listStored(etcd: EtcdClient): Promise<StoredNode[]> {
  // range [prefix, prefix+1): every key under the prefix
  const end = KEY_PREFIX.slice(0, -1) + String.fromCharCode(KEY_PREFIX.charCodeAt(KEY_PREFIX.length - 1) + 1);
  const r = await etcd.call('kv/range', { key: b64(KEY_PREFIX), range_end: b64(end) });
  const kvs = (r.kvs as { value?: string }[] | undefined) ?? [];
  return kvs.filter((kv) => kv.value).map((kv) => JSON.parse(unb64(kv.value!)) as StoredNode).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

const seeded = new WeakMap<EtcdClient, Set<string>>();

/** Workers that joined before the simulation began: put into etcd once per API server (etcd client), unless present. */
async function seed(ctx: NodesApiContext): Promise<void> {
  const done = seeded.get(ctx.etcd) ?? new Set<string>();
  seeded.set(ctx.etcd, done);
  let files: string[] = [];
  try {
    files = readdirSync(ctx.seedDir).filter((f) => f.endsWith('.json') && !done.has(f));
  } catch { /* no workers */ }
  for (const f of files) {
    const n = JSON.parse(readFileSync(join(ctx.seedDir, f), 'utf8')) as StoredNode;
    if (!(await getStored(ctx.etcd, n.metadata.name))) await ctx.etcd.put(KEY_PREFIX + n.metadata.name, JSON.stringify(n));
    done.add(f);
  }
}

/** The Node object as the API serves it: Ready from the last heartbeat (the node lifecycle controller's rule). */
function nodeObject(n: StoredNode, graceMs: number) {
  const beat = new Date(n.status.lastHeartbeatTime).getTime();
  const fresh = Date.now() - beat <= graceMs;
  const ready = fresh
    ? { type: 'Ready', status: 'True', lastHeartbeatTime: stamp(beat), lastTransitionTime: stamp(beat), reason: 'KubeletReady', message: 'kubelet is posting ready status' }
    : { type: 'Ready', status: 'Unknown', lastHeartbeatTime: stamp(beat), lastTransitionTime: stamp(beat + graceMs), reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' };
  return {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: { ...n.metadata, resourceVersion: String(Math.floor(beat / 1000)) },
    spec: fresh ? {} : { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule', timeAdded: stamp(beat + graceMs) }] },
    status: { conditions: [ready], addresses: n.status.addresses, nodeInfo: n.status.nodeInfo },
  };
}

type NodeObj = ReturnType<typeof nodeObject> | NodesApiContext['controlPlaneNode'];

function table(nodes: NodeObj[]) {
  const col = (name: string, type: string, priority = 0, format = '') => ({ name, type, format, description: name, priority });
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: String(Math.floor(Date.now() / 1000)) },
    columnDefinitions: [col('Name', 'string', 0, 'name'), col('Status', 'string'), col('Roles', 'string'), col('Age', 'string'), col('Version', 'string'), col('Internal-IP', 'string', 1)],
    rows: nodes.map((n) => {
      const ready = n.status.conditions.find((c) => c.type === 'Ready')?.status === 'True';
      const roles = Object.keys(n.metadata.labels).filter((l) => l.startsWith('node-role.kubernetes.io/')).map((l) => l.slice('node-role.kubernetes.io/'.length));
      return {
        cells: [n.metadata.name, ready ? 'Ready' : 'NotReady', roles.length ? roles.join(',') : '<none>', humanDuration(Date.now() - new Date(n.metadata.creationTimestamp).getTime()), n.status.nodeInfo.kubeletVersion, n.status.addresses[0]?.address ?? '<none>'],
        object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: n.metadata },
      };
    }),
  };
}

/** Node authorizer + NodeRestriction: may this identity write node `name`? undefined when it may, else the 403. */
function nodeWriteDenied(id: { user: string; groups: string[] }, name: string, verb: string, resource: string): ApiReply | undefined {
  if (id.groups.includes('system:nodes') && id.user === `system:node:${name}`) return undefined;
  if (id.groups.includes('system:masters')) return undefined;
  return status(403, 'Forbidden', `nodes "${name}" is forbidden: User "${id.user}" cannot ${verb} resource "${resource}" in API group "" at the cluster scope`, { name, kind: 'nodes' });
}

/**
 * Handles /api/v1/nodes and /api/v1/nodes/<name>[/status] when they concern the workers (and the list,
 * which has the control-plane node too). undefined: not a nodes request this module answers.
 */
export async function nodesApi(ctx: NodesApiContext): Promise<ApiReply | undefined> {
  const m = /^\/api\/v1\/nodes(?:\/([^/]+)(\/status)?)?$/.exec(ctx.path);
  if (!m) return undefined;
  const [, name, sub] = m;
  const cpName = ctx.controlPlaneNode.metadata.name;
  if (name === cpName) return undefined; // the control-plane node: the agent's own object
  await seed(ctx);
  const id = identity(ctx.req);
  const method = ctx.method.toUpperCase();
  if (!name) {
    if (method === 'POST') {
      // the kubelet registers its node
      const body = JSON.parse(await readBody(ctx.req)) as { metadata?: { name?: string; labels?: Record<string, string> }; status?: StoredNode['status'] };
      const n = body.metadata?.name ?? '';
      const denied = nodeWriteDenied(id, n, 'create', 'nodes');
      if (denied) return denied;
      if (await getStored(ctx.etcd, n)) return status(409, 'AlreadyExists', `nodes "${n}" already exists`, { name: n, kind: 'nodes' });
      const stored: StoredNode = {
        metadata: { name: n, uid: randomUUID(), creationTimestamp: stamp(Date.now()), labels: body.metadata?.labels ?? {} },
        status: { addresses: body.status?.addresses ?? [], nodeInfo: body.status?.nodeInfo ?? {}, lastHeartbeatTime: stamp(Date.now()) },
      };
      await ctx.etcd.put(KEY_PREFIX + n, JSON.stringify(stored));
      return { code: 201, body: JSON.stringify(nodeObject(stored, ctx.graceMs)) };
    }
    if (method !== 'GET') return status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    const all: NodeObj[] = [ctx.controlPlaneNode, ...(await listStored(ctx.etcd)).map((n) => nodeObject(n, ctx.graceMs))];
    all.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    return { code: 200, body: JSON.stringify(ctx.wantTable ? table(all) : { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: String(Math.floor(Date.now() / 1000)) }, items: all }) };
  }
  const stored = await getStored(ctx.etcd, name);
  if (method === 'GET') {
    if (!stored) return status(404, 'NotFound', `nodes "${name}" not found`, { name, kind: 'nodes' });
    const obj = nodeObject(stored, ctx.graceMs);
    return { code: 200, body: JSON.stringify(ctx.wantTable ? table([obj]) : obj) };
  }
  if (sub && (method === 'PATCH' || method === 'PUT')) {
    // the kubelet's status update: its heartbeat
    const denied = nodeWriteDenied(id, name, method === 'PATCH' ? 'patch' : 'update', 'nodes/status');
    if (denied) return denied;
    if (!stored) return status(404, 'NotFound', `nodes "${name}" not found`, { name, kind: 'nodes' });
    const body = JSON.parse((await readBody(ctx.req)) || '{}') as { status?: Partial<StoredNode['status']> };
    const next: StoredNode = { ...stored, status: { ...stored.status, ...(body.status?.nodeInfo ? { nodeInfo: body.status.nodeInfo } : {}), ...(body.status?.addresses ? { addresses: body.status.addresses } : {}), lastHeartbeatTime: stamp(Date.now()) } };
    await ctx.etcd.put(KEY_PREFIX + name, JSON.stringify(next));
    return { code: 200, body: JSON.stringify(nodeObject(next, ctx.graceMs)) };
  }
  return status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
}
