// The emulated API server's Node objects, the control-plane nodes' and the workers': stored in the
// control plane's real etcd (under /registry/minions/, the real key), written by their kubelets
// (./kubelet-report.ts), read by kubectl.
// What the real API server and controller-manager do, reduced to what node recovery needs:
//   - authentication is the TLS client certificate (done by the caller: an expired or foreign
//     certificate never gets here, it gets 401 Unauthorized);
//   - the Node authorizer + NodeRestriction: only a user `system:node:<name>` in group `system:nodes`
//     may register or update node <name>, and no other node (403 Forbidden otherwise);
//   - the kubelet's status is stored as it posts it: its conditions carry ITS timestamps (Ready's
//     lastHeartbeatTime is the kubelet's clock at the post, to the second, as metav1.Time serializes);
//   - the node lifecycle controller: a node whose kubelet has neither posted its status nor renewed its
//     node Lease (./leases-api.ts) for the grace period (--node-monitor-grace-period, 40 s) is
//     Ready=Unknown, "Kubelet stopped posting node status.", its last heartbeat kept; until then the
//     node keeps the Ready condition its kubelet last posted, however old (with a Lease, a kubelet
//     posts its status only on a change or every nodeStatusReportFrequency: the heartbeat is the Lease).
// Nodes that joined before the simulation started (every control-plane node, the workers) are put
// into etcd by ./worker-seeds.ts, as they were when their kubelet was last heard from.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { EtcdClient } from './etcd.js';
import { humanDuration, rfc3339 } from './format.js';
import { readBody, status, type ApiReply } from './api-reply.js';
import { putIfAt, readKey, readPrefix, revisionOf, type Stored } from './api-store.js';
import { nodeLeaseRenewal, nodeLeaseRenewals } from './leases-api.js';

const KEY_PREFIX = '/registry/minions/';

/** A node condition as the kubelet posts it (its clock, RFC 3339 to the second). */
export interface NodeCondition {
  type: string;
  status: string;
  lastHeartbeatTime: string;
  lastTransitionTime: string;
  reason?: string;
  message?: string;
}

/** What a kubelet stores: the Node object the kubelet registered and last patched. */
export interface StoredNode {
  metadata: { name: string; uid: string; creationTimestamp: string; labels: Record<string, string> };
  /** a control-plane node's taint (kubeadm's mark-control-plane) */
  spec?: { taints?: { key: string; effect: string }[] };
  status: {
    addresses: { type: string; address: string }[];
    nodeInfo: Record<string, string>;
    /** as the kubelet last posted them (Ready among them) */
    conditions: NodeCondition[];
  };
}

export interface NodesApiContext {
  req: IncomingMessage;
  method: string;
  path: string;
  wantTable: boolean;
  etcd: EtcdClient;
  /** --node-monitor-grace-period, ms */
  graceMs: number;
}

/** The user and groups of the request's verified client certificate (CN, O). */
export function identity(req: IncomingMessage): { user: string; groups: string[] } {
  const sock = req.socket as TLSSocket;
  const peer = sock.getPeerCertificate?.();
  if (!peer || !sock.authorized || Object.keys(peer).length === 0) return { user: 'system:anonymous', groups: ['system:unauthenticated'] };
  const o = peer.subject?.O as string | string[] | undefined;
  return { user: String(peer.subject?.CN ?? ''), groups: [...(Array.isArray(o) ? o : o ? [o] : []), 'system:authenticated'] };
}

/** A stored node and its etcd revision (the resourceVersion the API serves). */
type Kv = Stored<StoredNode>;

const getStored = (etcd: EtcdClient, name: string) => readKey<StoredNode>(etcd, KEY_PREFIX + name);

async function listStored(etcd: EtcdClient): Promise<Kv[]> {
  return (await readPrefix<StoredNode>(etcd, KEY_PREFIX)).sort((a, b) => a.value.metadata.name.localeCompare(b.value.metadata.name));
}

/** Stores node `n` unless a node of that name is there already (seeding a worker that joined long ago). */
export async function putNodeIfAbsent(etcd: EtcdClient, n: StoredNode): Promise<void> {
  // one transaction: a kubelet's post between a read and a put would be overwritten by the seed
  await putIfAt(etcd, KEY_PREFIX + n.metadata.name, n, '0');
}

/**
 * The Node object as the API serves it. The node lifecycle controller's rule: the kubelet is heard from
 * when it posts its status (Ready's lastHeartbeatTime) or renews its Lease (`leaseRenewed`, ms); silent
 * for longer than the grace period, the node is Ready=Unknown (its last heartbeat kept); otherwise
 * its conditions are the ones its kubelet last posted, however long ago.
 */
function nodeObject({ value: n, rev }: Kv, graceMs: number, leaseRenewed: number | undefined) {
  const posted = n.status.conditions ?? [];
  const ready = posted.find((c) => c.type === 'Ready');
  const beat = ready ? Date.parse(ready.lastHeartbeatTime) : NaN;
  const heard = Math.max(Number.isNaN(beat) ? -Infinity : beat, leaseRenewed ?? -Infinity);
  const created = Date.parse(n.metadata.creationTimestamp);
  let conditions: NodeCondition[];
  let silentSince: number | undefined;
  if (!ready) {
    silentSince = created;
    conditions = [...posted, { type: 'Ready', status: 'Unknown', lastHeartbeatTime: n.metadata.creationTimestamp, lastTransitionTime: n.metadata.creationTimestamp, reason: 'NodeStatusNeverUpdated', message: 'Kubelet never posted node status.' }];
  } else if (Date.now() - heard > graceMs) {
    silentSince = heard;
    conditions = posted.map((c) => ({ ...c, status: 'Unknown', lastTransitionTime: rfc3339(heard + graceMs), reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' }));
  } else {
    conditions = posted;
  }
  return {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: { ...n.metadata, resourceVersion: rev },
    spec: { ...n.spec, ...(silentSince === undefined ? {} : { taints: [...(n.spec?.taints ?? []), { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule', timeAdded: rfc3339(silentSince + graceMs) }] }) },
    status: { conditions, addresses: n.status.addresses, nodeInfo: n.status.nodeInfo },
  };
}

/** Merges a status patch's conditions into the stored ones by type (strategic merge on conditions). */
function mergeConditions(stored: NodeCondition[], patch: NodeCondition[] | undefined): NodeCondition[] {
  if (!patch) return stored;
  const out = stored.filter((c) => !patch.some((p) => p.type === c.type));
  return [...out, ...patch];
}

/** The posted conditions if they are what the API accepts (type and status; times RFC 3339), else the 400 message. */
function badConditions(cs: unknown): string | undefined {
  if (cs === undefined) return undefined;
  if (!Array.isArray(cs)) return 'status.conditions: Invalid value: not a list';
  for (const c of cs as Partial<NodeCondition>[]) {
    if (!c || typeof c.type !== 'string' || !['True', 'False', 'Unknown'].includes(String(c.status))) return `status.conditions: Invalid value: ${JSON.stringify(c)}`;
    for (const t of [c.lastHeartbeatTime, c.lastTransitionTime]) if (t !== undefined && Number.isNaN(Date.parse(String(t)))) return `parsing time "${String(t)}" as "2006-01-02T15:04:05Z07:00": cannot parse`;
  }
  return undefined;
}

type NodeObj = ReturnType<typeof nodeObject>;

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

/** Handles /api/v1/nodes and /api/v1/nodes/<name>[/status]. undefined: not a nodes request. */
export async function nodesApi(ctx: NodesApiContext): Promise<ApiReply | undefined> {
  const m = /^\/api\/v1\/nodes(?:\/([^/]+)(\/status)?)?$/.exec(ctx.path);
  if (!m) return undefined;
  const [, name, sub] = m;
  const id = identity(ctx.req);
  const method = ctx.method.toUpperCase();
  // a single node's request (the kubelet's heartbeat path) reads that node's Lease only
  const served = async (kv: Kv) => nodeObject(kv, ctx.graceMs, await nodeLeaseRenewal(ctx.etcd, kv.value.metadata.name));
  const put = async (n: StoredNode): Promise<Kv> => ({ value: n, rev: revisionOf(await ctx.etcd.put(KEY_PREFIX + n.metadata.name, JSON.stringify(n))) });
  if (!name) {
    if (method === 'POST') {
      // the kubelet registers its node, with its first status
      const body = JSON.parse(await readBody(ctx.req)) as { metadata?: { name?: string; labels?: Record<string, string> }; spec?: StoredNode['spec']; status?: Partial<StoredNode['status']> };
      const n = body.metadata?.name ?? '';
      const denied = nodeWriteDenied(id, n, 'create', 'nodes');
      if (denied) return denied;
      const bad = badConditions(body.status?.conditions);
      if (bad) return status(400, 'BadRequest', bad);
      if (await getStored(ctx.etcd, n)) return status(409, 'AlreadyExists', `nodes "${n}" already exists`, { name: n, kind: 'nodes' });
      const stored = await put({
        metadata: { name: n, uid: randomUUID(), creationTimestamp: rfc3339(Date.now()), labels: body.metadata?.labels ?? {} },
        ...(body.spec?.taints ? { spec: { taints: body.spec.taints } } : {}),
        status: { addresses: body.status?.addresses ?? [], nodeInfo: body.status?.nodeInfo ?? {}, conditions: body.status?.conditions ?? [] },
      });
      return { code: 201, body: JSON.stringify(await served(stored)) };
    }
    if (method !== 'GET') return status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    const renewed = await nodeLeaseRenewals(ctx.etcd);
    const all: NodeObj[] = (await listStored(ctx.etcd)).map((kv) => nodeObject(kv, ctx.graceMs, renewed.get(kv.value.metadata.name)));
    return { code: 200, body: JSON.stringify(ctx.wantTable ? table(all) : { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: String(Math.floor(Date.now() / 1000)) }, items: all }) };
  }
  const stored = await getStored(ctx.etcd, name);
  if (method === 'GET') {
    if (!stored) return status(404, 'NotFound', `nodes "${name}" not found`, { name, kind: 'nodes' });
    const obj = await served(stored);
    return { code: 200, body: JSON.stringify(ctx.wantTable ? table([obj]) : obj) };
  }
  if (sub && (method === 'PATCH' || method === 'PUT')) {
    // the kubelet's status update: its conditions, stamped by the kubelet, are stored as they come
    const denied = nodeWriteDenied(id, name, method === 'PATCH' ? 'patch' : 'update', 'nodes/status');
    if (denied) return denied;
    if (!stored) return status(404, 'NotFound', `nodes "${name}" not found`, { name, kind: 'nodes' });
    const body = JSON.parse((await readBody(ctx.req)) || '{}') as { status?: Partial<StoredNode['status']> };
    const bad = badConditions(body.status?.conditions);
    if (bad) return status(400, 'BadRequest', bad);
    const s0 = stored.value.status;
    const next = await put({
      ...stored.value,
      status: {
        addresses: body.status?.addresses ?? s0.addresses,
        nodeInfo: body.status?.nodeInfo ?? s0.nodeInfo,
        conditions: mergeConditions(s0.conditions ?? [], body.status?.conditions),
      },
    });
    return { code: 200, body: JSON.stringify(await served(next)) };
  }
  return status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
}
