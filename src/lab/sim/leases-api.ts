// The emulated API server's coordination.k8s.io group: the node Leases (namespace kube-node-lease,
// one Lease per node, named after it) that kubelets renew as their heartbeat when NodeLease is on.
// Stored in the control plane's real etcd under the real key (/registry/leases/<namespace>/<name>),
// with etcd's revisions as resourceVersion (an update naming an older one is a 409 Conflict).
// What the real API server does, reduced to what node heartbeats need:
//   - the group exists from 1.12 (v1beta1); v1 from 1.14 (preferred); v1beta1 is gone in 1.22;
//     before 1.12 `kubectl get leases` says `the server doesn't have a resource type "leases"`;
//   - the Node authorizer + NodeRestriction: a user system:node:<name> in group system:nodes may get,
//     create, update and delete the Lease <name> in kube-node-lease only (403 otherwise);
//   - validation: a Lease named as in the path, spec.renewTime a MicroTime (RFC 3339, microseconds).
// The kubelet sets spec.renewTime from its own clock; nothing here stamps it.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { atLeast } from './node.js';
import type { EtcdClient } from './etcd.js';
import { humanDuration, microTime, rfc3339 } from './format.js';
import { readBody, status, type ApiReply } from './api-reply.js';
import { b64, putIfAt, readKey, readPrefix, type Stored } from './api-store.js';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

const GROUP = 'coordination.k8s.io';
const KEY_PREFIX = '/registry/leases/';

export interface Lease {
  kind?: string;
  apiVersion?: string;
  metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string; creationTimestamp?: string; ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string }[] };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string; acquireTime?: string; leaseTransitions?: number };
}

/** The coordination.k8s.io versions an API server of `version` serves, preferred first. */
export function coordinationVersions(version: string): string[] {
  if (!atLeast(version, '1.12.0')) return [];
  if (!atLeast(version, '1.14.0')) return ['v1beta1'];
  return atLeast(version, '1.22.0') ? ['v1'] : ['v1', 'v1beta1'];
}

/** /apis: the API groups (coordination.k8s.io when this version has it). */
export function apiGroupList(version: string) {
  const vs = coordinationVersions(version);
  const gv = (v: string) => ({ groupVersion: `${GROUP}/${v}`, version: v });
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: vs.length ? [{ name: GROUP, versions: vs.map(gv), preferredVersion: gv(vs[0]!) }] : [] };
}

/** metav1.MicroTime as the API serializes it: RFC 3339, UTC, six fractional digits */
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

type StoredLease = Stored<Lease>;

const getKv = (etcd: EtcdClient, ns: string, name: string) => readKey<Lease>(etcd, `${KEY_PREFIX}${ns}/${name}`);
const listKvs = (etcd: EtcdClient, ns?: string) => readPrefix<Lease>(etcd, ns ? `${KEY_PREFIX}${ns}/` : KEY_PREFIX);

/** A Lease's spec.renewTime, ms since the epoch (undefined when it has none). */
function renewedAt(lease: Lease): number | undefined {
  const t = lease.spec.renewTime ? Date.parse(lease.spec.renewTime) : NaN;
  return Number.isNaN(t) ? undefined : t;
}

/** Each node Lease's spec.renewTime (ms since the epoch), by node name: the node lifecycle controller's second heartbeat. */
export async function nodeLeaseRenewals(etcd: EtcdClient): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const { value: lease } of await listKvs(etcd, NODE_LEASE_NAMESPACE)) {
    const t = renewedAt(lease);
    if (t !== undefined) out.set(lease.metadata.name, t);
  }
  return out;
}

/** Node `node`'s Lease renewal (as nodeLeaseRenewals), reading that one Lease only: a single node's request needs no more. */
export async function nodeLeaseRenewal(etcd: EtcdClient, node: string): Promise<number | undefined> {
  const kv = await getKv(etcd, NODE_LEASE_NAMESPACE, node);
  return kv && renewedAt(kv.value);
}

/**
 * Writes the Lease when the key is as expected: absent (`modRevision` '0', a create) or at
 * `modRevision` (an update), one etcd transaction as the real storage does. The new revision, or
 * undefined when the key had moved on.
 */
function putIf(etcd: EtcdClient, lease: Lease, modRevision: string): Promise<string | undefined> {
  const stored = { ...lease, metadata: { ...lease.metadata, resourceVersion: undefined } };
  return putIfAt(etcd, `${KEY_PREFIX}${lease.metadata.namespace}/${lease.metadata.name}`, stored, modRevision);
}

/** A stored Lease as the API serves it in group version `v`. */
function served(kv: StoredLease, v: string): Lease {
  const l = kv.value;
  const { resourceVersion: _ignored, ...meta } = l.metadata;
  return { kind: 'Lease', apiVersion: `${GROUP}/${v}`, metadata: { ...meta, resourceVersion: kv.rev }, spec: l.spec };
}

function table(items: Lease[]) {
  const col = (name: string, type: string, description: string, priority = 0, format = '') => ({ name, type, format, description, priority });
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: '' },
    columnDefinitions: [
      col('Name', 'string', 'Name must be unique within a namespace.', 0, 'name'),
      col('Holder', 'string', 'holderIdentity contains the identity of the holder of a current lease.'),
      col('Age', 'string', 'CreationTimestamp is a timestamp representing the server time when this object was created.'),
    ],
    rows: items.map((l) => ({
      cells: [l.metadata.name, l.spec.holderIdentity ?? '', l.metadata.creationTimestamp ? humanDuration(Date.now() - Date.parse(l.metadata.creationTimestamp)) : '<unknown>'],
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: l.metadata },
    })),
  };
}

/** Node authorizer + NodeRestriction for leases: undefined when `id` may `verb` Lease `name` in `ns`, else the 403. */
function denied(id: { user: string; groups: string[] }, verb: string, ns: string | undefined, name: string | undefined): ApiReply | undefined {
  if (id.groups.includes('system:masters')) return undefined;
  const node = id.groups.includes('system:nodes') && id.user.startsWith('system:node:') ? id.user.slice('system:node:'.length) : undefined;
  if (!node) {
    // any other authenticated user may read (the simulated cluster has no RBAC beyond this)
    if (verb === 'get' || verb === 'list') return undefined;
  } else if (ns === NODE_LEASE_NAMESPACE && name === node && ['get', 'create', 'update', 'patch', 'delete'].includes(verb)) {
    return undefined;
  }
  const where = ns ? `in the namespace "${ns}"` : 'at the cluster scope';
  return status(403, 'Forbidden', `leases.${GROUP}${name ? ` "${name}"` : ''} is forbidden: User "${id.user}" cannot ${verb} resource "leases" in API group "${GROUP}" ${where}${node ? ': can only access node lease with the same name as the requesting node' : ''}`, { ...(name ? { name } : {}), group: GROUP, kind: 'leases' });
}

/** The Lease in a create or update body, checked as the API's validation does; a string is the 4xx message. */
function parseLease(text: string, ns: string, name: string | undefined): Lease | string {
  let l: Lease;
  try {
    l = JSON.parse(text) as Lease;
  } catch (e) {
    return `the body of the request was in an unknown format: ${(e as Error).message}`;
  }
  if (!l || typeof l !== 'object' || !l.metadata || typeof l.metadata.name !== 'string' || !l.metadata.name) return 'Lease.coordination.k8s.io is invalid: metadata.name: Required value: name or generateName is required';
  if (l.metadata.namespace && l.metadata.namespace !== ns) return 'the namespace of the provided object does not match the namespace sent on the request';
  if (name !== undefined && l.metadata.name !== name) return `the name of the object (${l.metadata.name}) does not match the name on the URL (${name})`;
  const spec = l.spec ?? {};
  if (spec.renewTime !== undefined && !MICRO_TIME.test(spec.renewTime)) return `Lease in version "v1" cannot be handled as a Lease: parsing time "${spec.renewTime}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse`;
  if (spec.leaseDurationSeconds !== undefined && !(Number.isInteger(spec.leaseDurationSeconds) && spec.leaseDurationSeconds > 0)) return `Lease.coordination.k8s.io "${l.metadata.name}" is invalid: spec.leaseDurationSeconds: Invalid value: ${String(spec.leaseDurationSeconds)}: must be greater than 0`;
  return { metadata: { ...l.metadata, namespace: ns }, spec };
}

export interface LeasesApiContext {
  req: IncomingMessage;
  method: string;
  path: string;
  wantTable: boolean;
  etcd: EtcdClient;
  /** the control plane's Kubernetes version: which group versions exist */
  version: string;
  identity: { user: string; groups: string[] };
}

/** Answers /apis/coordination.k8s.io[...]; undefined for any other path. */
export async function leasesApi(ctx: LeasesApiContext): Promise<ApiReply | undefined> {
  if (ctx.path !== `/apis/${GROUP}` && !ctx.path.startsWith(`/apis/${GROUP}/`)) return undefined;
  const versions = coordinationVersions(ctx.version);
  const notFound = status(404, 'NotFound', 'the server could not find the requested resource');
  if (ctx.path === `/apis/${GROUP}`) {
    const group = apiGroupList(ctx.version).groups[0];
    return group ? { code: 200, body: JSON.stringify({ kind: 'APIGroup', apiVersion: 'v1', ...group }) } : notFound;
  }
  const m = /^\/apis\/coordination\.k8s\.io\/([^/]+)(?:\/namespaces\/([^/]+))?(?:\/(leases)(?:\/([^/]+))?)?$/.exec(ctx.path);
  if (!m || !versions.includes(m[1]!)) return notFound;
  const [, v, ns, resource, name] = m as unknown as [string, string, string | undefined, string | undefined, string | undefined];
  if (!resource) {
    if (ns) return notFound;
    return {
      code: 200,
      body: JSON.stringify({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion: `${GROUP}/${v}`, resources: [{ name: 'leases', singularName: 'lease', namespaced: true, kind: 'Lease', verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] }] }),
    };
  }
  const method = ctx.method.toUpperCase();
  if (!name) {
    if (method === 'GET') {
      const no = denied(ctx.identity, 'list', ns, undefined);
      if (no) return no;
      const items = (await listKvs(ctx.etcd, ns)).map((kv) => served(kv, v)).sort((a, b) => (a.metadata.namespace + '/' + a.metadata.name).localeCompare(b.metadata.namespace + '/' + b.metadata.name));
      return { code: 200, body: JSON.stringify(ctx.wantTable ? table(items) : { kind: 'LeaseList', apiVersion: `${GROUP}/${v}`, metadata: { resourceVersion: '' }, items }) };
    }
    if (method !== 'POST' || !ns) return status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    const lease = parseLease(await readBody(ctx.req), ns, undefined);
    if (typeof lease === 'string') return status(400, 'BadRequest', lease);
    const no = denied(ctx.identity, 'create', ns, lease.metadata.name);
    if (no) return no;
    lease.metadata = { ...lease.metadata, uid: randomUUID(), creationTimestamp: rfc3339(Date.now()) };
    const rev = await putIf(ctx.etcd, lease, '0');
    if (!rev) return status(409, 'AlreadyExists', `leases.${GROUP} "${lease.metadata.name}" already exists`, { name: lease.metadata.name, group: GROUP, kind: 'leases' });
    return { code: 201, body: JSON.stringify(served({ value: lease, rev }, v)) };
  }
  if (!ns) return notFound;
  const verb = method === 'GET' ? 'get' : method === 'PUT' ? 'update' : method === 'DELETE' ? 'delete' : method === 'PATCH' ? 'patch' : '';
  if (!verb) return status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  const no = denied(ctx.identity, verb, ns, name);
  if (no) return no;
  const missing = status(404, 'NotFound', `leases.${GROUP} "${name}" not found`, { name, group: GROUP, kind: 'leases' });
  const cur = await getKv(ctx.etcd, ns, name);
  if (method === 'GET') return cur ? { code: 200, body: JSON.stringify(ctx.wantTable ? table([served(cur, v)]) : served(cur, v)) } : missing;
  if (method === 'DELETE') {
    if (!cur) return missing;
    await ctx.etcd.call('kv/deleterange', { key: b64(`${KEY_PREFIX}${ns}/${name}`) });
    return { code: 200, body: JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: GROUP, kind: 'leases', uid: cur.value.metadata.uid } }) };
  }
  if (method === 'PATCH') return status(415, 'UnsupportedMediaType', 'the simulated API server updates leases with PUT only');
  // PUT: an update of the whole object; a resourceVersion that is not the stored one is a conflict
  const lease = parseLease(await readBody(ctx.req), ns, name);
  if (typeof lease === 'string') return status(400, 'BadRequest', lease);
  if (!cur) return missing;
  const rv = lease.metadata.resourceVersion;
  const conflict = status(409, 'Conflict', `Operation cannot be fulfilled on leases.${GROUP} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, group: GROUP, kind: 'leases' });
  if (rv !== undefined && rv !== '' && rv !== cur.rev) return conflict;
  const next: Lease = { metadata: { ...lease.metadata, uid: cur.value.metadata.uid, creationTimestamp: cur.value.metadata.creationTimestamp }, spec: lease.spec };
  const rev = await putIf(ctx.etcd, next, cur.rev);
  if (!rev) return conflict;
  return { code: 200, body: JSON.stringify(served({ value: next, rev }, v)) };
}

/** The Lease a node's kubelet has renewed (for seeding a worker that joined long ago), as stored. */
export function seedLease(node: string, nodeUid: string, renewTime: Date, leaseDurationSeconds: number, created: string): Lease {
  return {
    metadata: { name: node, namespace: NODE_LEASE_NAMESPACE, uid: randomUUID(), creationTimestamp: created, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node, uid: nodeUid }] },
    spec: { holderIdentity: node, leaseDurationSeconds, renewTime: microTime(renewTime.getTime()) },
  };
}


/** Stores `lease` unless a Lease of that name is there already (seeding). */
export async function putLeaseIfAbsent(etcd: EtcdClient, lease: Lease): Promise<void> {
  await putIf(etcd, lease, '0');
}
