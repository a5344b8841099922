// How a running kubelet tells its API server it is alive, for every simulated node (the worker's
// agent, ../sim/worker-agent.ts, and the control plane's, ./agent/kubelet.ts): as its version does
// (./node-heartbeat.ts), its node status at once, then every nodeStatusUpdateFrequency without a node
// Lease; with one, the Lease renewed at once and every renew interval, the status only on a change or
// every nodeStatusReportFrequency. Every timestamp is the kubelet's clock at the post; a stopped
// kubelet posts nothing more (a request it had begun is dropped). All over real TLS to the server named
// in kubelet.conf (a load balancer stays one): the server certificate checked against kubelet.conf's CA,
// its client certificate presented, so the API server's authentication (an expired certificate, a
// foreign CA: 401) and the Node authorizer (a user that is not system:node:<name> in system:nodes: 403)
// decide as they would for a real kubelet. An API server that does not answer (a control plane whose
// static pods are restarting) is tried again at the next sync, as the real kubelet does, forever.
// Which client certificate: the one the kubelet's certificate manager holds (agent/kubelet-files.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { createHash } from 'node:crypto';
import { NODE } from './paths.js';
import { atLeast } from './node.js';
import { parseCert, parseKubeconfig, type ParsedKubeconfig } from './pki.js';
import { microTime, rfc3339 } from './format.js';
import { kubeletLog, type ClientCreds, type KubeletReport, type KubeletUnitBase, type NodeAgentState } from './agent/state.js';
import { leaseClientVersion, leaseDurationSeconds, leaseRenewMs, statusReportMs, statusUpdateMs, usesNodeLease } from './node-heartbeat.js';
import { NODE_LEASE_NAMESPACE, type Lease } from './leases-api.js';
import type { NodeCondition } from './nodes-api.js';

/** an agent whose kubelet reports (every node agent) */
export type ReportingState = NodeAgentState<KubeletUnitBase & KubeletReport>;

/** The reporting part of an agent's status file. */
export function reportStatus({ kubelet: k }: ReportingState) {
  return { lastHeartbeat: k.lastHeartbeat, lastHeartbeatError: k.lastHeartbeatError, lastLeaseRenew: k.lastLeaseRenew, lastLeaseError: k.lastLeaseError };
}

/** The kubelet's API client: kubelet.conf's server and CA, with the pair its certificate manager holds (agent/kubelet-files.ts). */
export function clientCreds({ r }: NodeAgentState, held: { cert: string; key: string }, kc: ParsedKubeconfig = parseKubeconfig(readFileSync(r(NODE.kubeletConf), 'utf8'))): ClientCreds {
  return { server: kc.server, ca: kc.caCert, cert: held.cert, key: held.key, info: parseCert(held.cert) };
}

/** A new kubelet process with client `creds`: it posts its status and renews its Lease at once. */
export function startReporting(st: ReportingState, creds: ClientCreds): void {
  const k = st.kubelet;
  k.creds = creds;
  k.nextBeat = 0;
  k.nextLease = 0;
  k.lastReport = 0;
  k.lease = undefined;
}

// ---------------------------------------------------------------- the API client

/**
 * One keep-alive connection pool per kubelet start (its credentials), as the real client keeps its
 * connection open: a TLS handshake for every report cost the ~30 agents of the cert-renew e2e a good
 * part of a core. A restart or rotation reads new credentials, so it connects anew with them.
 */
const agents = new WeakMap<ClientCreds, Agent>();
function agentOf(c: ClientCreds): Agent {
  let a = agents.get(c);
  if (!a) agents.set(c, (a = new Agent({ keepAlive: true, maxSockets: 2 })));
  return a;
}

function api(c: ClientCreds, method: string, path: string, body?: unknown): Promise<{ code: number; text: string }> {
  const u = new URL(c.server);
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolveP, reject) => {
    const req = httpsRequest(
      {
        host: u.hostname, port: Number(u.port || 443), path, method, ca: c.ca, cert: c.cert, key: c.key, agent: agentOf(c), timeout: 5000,
        headers: { Accept: 'application/json', ...(data ? { 'Content-Type': method === 'PATCH' ? 'application/strategic-merge-patch+json' : 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolveP({ code: res.statusCode ?? 0, text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('context deadline exceeded')));
    req.on('error', reject);
    req.end(data);
  });
}

function statusMessage(text: string, code: number): string {
  try {
    return String((JSON.parse(text) as { message?: string }).message ?? code);
  } catch {
    return text.trim() || String(code);
  }
}

/** The Node as this kubelet registers and reports it: a control-plane node with the role label and taint kubeadm gives it. */
export function nodeBody(n: ReportingState['node'], conditions: NodeCondition[]) {
  const worker = n.role === 'worker';
  const role = atLeast(n.version, '1.20.0') ? 'node-role.kubernetes.io/control-plane' : 'node-role.kubernetes.io/master';
  const runtimeVersion = worker ? 'containerd://1.7.22' : n.runtime === 'docker' ? 'docker://18.6.3' : atLeast(n.version, '1.25.0') ? 'containerd://1.7.22' : 'containerd://1.3.3';
  return {
    kind: 'Node', apiVersion: 'v1',
    metadata: { name: n.nodeName, labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/hostname': n.nodeName, 'kubernetes.io/os': 'linux', ...(worker ? {} : { [role]: '' }) } },
    ...(worker ? {} : { spec: { taints: [{ key: role, effect: 'NoSchedule' }] } }),
    status: {
      conditions,
      addresses: [{ type: 'InternalIP', address: n.advertiseAddress }, { type: 'Hostname', address: n.nodeName }],
      nodeInfo: {
        ...(worker ? {} : { machineID: createHash('md5').update('m' + n.nodeName).digest('hex'), kernelVersion: '5.15.0-119-generic', osImage: 'Ubuntu 22.04.4 LTS', kubeProxyVersion: n.version }),
        kubeletVersion: n.version, containerRuntimeVersion: runtimeVersion, operatingSystem: 'linux', architecture: 'amd64',
      },
    },
  };
}

/**
 * Whether the runtime has a network (go-cni loadFromConfDir, as containerd's CRI plugin and dockershim
 * load it): the first of /etc/cni/net.d's *.conf, *.conflist and *.json in name order must be a
 * network configuration: a list with plugins, or a single network with a type. Anything else (none,
 * unreadable, not JSON, no plugins) leaves it uninitialized.
 */
function cniLoads(st: NodeAgentState): boolean {
  let names: string[] = [];
  try {
    names = readdirSync(st.r(NODE.cniConfDir)).filter((n) => /\.(conf|conflist|json)$/.test(n)).sort();
  } catch { /* no directory: no configuration */ }
  if (names.length === 0) return false;
  try {
    const c = JSON.parse(readFileSync(st.r(`${NODE.cniConfDir}/${names[0]!}`), 'utf8')) as { type?: unknown; plugins?: unknown };
    return names[0]!.endsWith('.conflist') ? Array.isArray(c.plugins) && c.plugins.length > 0 : typeof c.type === 'string' && c.type !== '';
  } catch {
    return false;
  }
}

/**
 * Why this kubelet would say its node is not ready, or undefined (runtime_state.go: the Ready
 * condition's message). Modelled: the network, NetworkReady=false while the runtime has loaded no CNI
 * network (cniLoads), as on a node whose network plugin (Calico, flannel...) has not installed its
 * configuration yet. The kubelet's wording gained "container" with its structured logs (1.21).
 */
export function notReadyMessage(st: NodeAgentState): string | undefined {
  if (cniLoads(st)) return undefined;
  const why = st.node.runtime === 'docker' ? 'docker: network plugin is not ready: cni config uninitialized' : 'Network plugin returns error: cni plugin not initialized';
  return `${atLeast(st.node.version, '1.21.0') ? 'container runtime network not ready' : 'runtime network not ready'}: NetworkReady=false reason:NetworkPluginNotReady message:${why}`;
}

/**
 * The Ready condition this kubelet sets (nodestatus.ReadyCondition): True, or False with the reason it
 * is not ready; its clock as lastHeartbeatTime, the transition time kept while the status stays the same.
 */
function readyCondition(now: number, current: NodeCondition | undefined, notReady: string | undefined): NodeCondition {
  const status = notReady ? 'False' : 'True';
  return {
    type: 'Ready', status, lastHeartbeatTime: rfc3339(now), lastTransitionTime: current?.status === status ? current.lastTransitionTime : rfc3339(now),
    reason: notReady ? 'KubeletNotReady' : 'KubeletReady', message: notReady ?? 'kubelet is posting ready status',
  };
}

class Stopped extends Error {}

/** The API client of the kubelet process running now: a request not yet sent when that process stops is dropped (Stopped). */
function processClient(st: ReportingState, c: ClientCreds) {
  const pid = st.kubelet.mainPid;
  return async (method: string, path: string, body?: () => unknown) => {
    if (st.kubelet.state !== 'active' || st.kubelet.mainPid !== pid) throw new Stopped();
    return api(c, method, path, body?.());
  };
}

/**
 * A failed sync as the kubelet logs it, kept in `field`: logged once per distinct error (a retry failing
 * alike adds nothing); a refused connection in Go's words for `request` (`Get "<url>"`). A request
 * dropped by the stopped process is no failure.
 */
function syncFailed(st: ReportingState, c: ClientCreds, e: unknown, f: { field: 'lastHeartbeatError' | 'lastLeaseError'; request: string; where: string; what: string }): void {
  if (e instanceof Stopped) return;
  const msg = (e as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? `${f.request}: dial tcp ${new URL(c.server).host}: connect: connection refused` : (e as Error).message;
  if (msg !== st.kubelet[f.field]) kubeletLog(st, 'E', f.where, `"${f.what}" err="${msg.replace(/"/g, '\\"')}"`);
  st.kubelet[f.field] = msg;
}

/**
 * One status sync (syncNodeStatus): GET the node (register it when the API does not know it); then
 * PATCH its status, unless a node Lease is the heartbeat, this process has posted before, nothing
 * changed and nodeStatusReportFrequency has not passed (tryUpdateNodeStatus).
 */
async function heartbeat(st: ReportingState, c: ClientCreds): Promise<void> {
  const name = st.node.nodeName;
  const call = processClient(st, c);
  const notReady = notReadyMessage(st);
  if (notReady !== st.kubelet.notReady && notReady) {
    const network = notReady.slice(notReady.indexOf('NetworkReady='));
    if (atLeast(st.node.version, '1.21.0')) kubeletLog(st, 'E', 'kubelet.go:2855', `"Container runtime network not ready" networkReady="${network}"`);
    else kubeletLog(st, 'E', 'kubelet.go:2187', `Container runtime network not ready: ${network}`);
  }
  st.kubelet.notReady = notReady;
  try {
    let got = await call('GET', `/api/v1/nodes/${name}`);
    if (got.code === 404) {
      const reg = await call('POST', '/api/v1/nodes', () => nodeBody(st.node, [readyCondition(Date.now(), undefined, notReady)]));
      if (reg.code !== 201 && reg.code !== 409) throw new Error(`Unable to register node with API server: ${statusMessage(reg.text, reg.code)}`);
      kubeletLog(st, 'I', 'kubelet_node_status.go:76', `"Successfully registered node" node="${name}"`);
      got = await call('GET', `/api/v1/nodes/${name}`);
    }
    if (got.code !== 200) throw new Error(`error getting node "${name}": ${statusMessage(got.text, got.code)}`);
    const current = (JSON.parse(got.text) as { status?: { conditions?: NodeCondition[] } }).status?.conditions?.find((x) => x.type === 'Ready');
    const want = readyCondition(0, current, notReady);
    const changed = !current || current.status !== want.status || current.reason !== want.reason || current.message !== want.message;
    const since = Date.now() - st.kubelet.lastReport;
    if (usesNodeLease(st.node) && st.kubelet.lastReport > 0 && since < statusReportMs(st.node) && !changed) return;
    let posted = 0;
    const patch = await call('PATCH', `/api/v1/nodes/${name}/status`, () => {
      posted = Date.now();
      return { status: nodeBody(st.node, [readyCondition(posted, current, notReady)]).status };
    });
    if (patch.code !== 200) throw new Error(`error patching node "${name}" status: ${statusMessage(patch.text, patch.code)}`);
    if (st.kubelet.lastHeartbeatError) kubeletLog(st, 'I', 'kubelet_node_status.go:493', '"Fast updating node status as it just became ready"');
    st.kubelet.lastReport = posted;
    st.kubelet.lastHeartbeat = new Date(posted).toISOString();
    st.kubelet.lastHeartbeatError = undefined;
  } catch (e) {
    syncFailed(st, c, e, { field: 'lastHeartbeatError', request: `Get "${c.server}/api/v1/nodes/${name}"`, where: 'kubelet_node_status.go:540', what: 'Error updating node status, will retry' });
  }
}

/**
 * One Lease sync (the node lease controller): update the Lease this process last wrote, else GET it
 * (create it, owned by the node, when there is none), then update it; spec.renewTime is the kubelet's
 * clock when the update is sent. A conflict makes the next sync read it again.
 */
async function renewLease(st: ReportingState, c: ClientCreds): Promise<void> {
  const name = st.node.nodeName;
  const base = `/apis/coordination.k8s.io/${leaseClientVersion(st.node)}/namespaces/${NODE_LEASE_NAMESPACE}/leases`;
  const call = processClient(st, c);
  const renewed = (l: Lease) => {
    st.kubelet.lease = l;
    st.kubelet.lastLeaseRenew = l.spec.renewTime;
    st.kubelet.lastLeaseError = undefined;
  };
  try {
    let lease = st.kubelet.lease;
    if (!lease) {
      const got = await call('GET', `${base}/${name}`);
      if (got.code === 404) {
        // created with an owner reference to the node, or not yet (retried at the next sync)
        const node = await call('GET', `/api/v1/nodes/${name}`);
        if (node.code !== 200) throw new Error(`failed to get node "${name}" when trying to set owner ref to the node lease: ${statusMessage(node.text, node.code)}`);
        const uid = (JSON.parse(node.text) as { metadata: { uid: string } }).metadata.uid;
        const made = await call('POST', base, () => ({
          apiVersion: `coordination.k8s.io/${leaseClientVersion(st.node)}`, kind: 'Lease',
          metadata: { name, namespace: NODE_LEASE_NAMESPACE, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid }] },
          spec: { holderIdentity: name, leaseDurationSeconds: leaseDurationSeconds(st.node), renewTime: microTime(Date.now()) },
        }));
        if (made.code !== 201) throw new Error(`failed to ensure node lease exists: ${statusMessage(made.text, made.code)}`);
        renewed(JSON.parse(made.text) as Lease);
        return;
      }
      if (got.code !== 200) throw new Error(`failed to ensure node lease exists: ${statusMessage(got.text, got.code)}`);
      lease = JSON.parse(got.text) as Lease;
    }
    const from = lease;
    const put = await call('PUT', `${base}/${name}`, () => ({ ...from, spec: { ...from.spec, renewTime: microTime(Date.now()) } }));
    if (put.code !== 200) {
      st.kubelet.lease = undefined;
      throw new Error(`failed to update lease: ${statusMessage(put.text, put.code)}`);
    }
    renewed(JSON.parse(put.text) as Lease);
  } catch (e) {
    syncFailed(st, c, e, { field: 'lastLeaseError', request: `Put "${c.server}${base}/${name}"`, where: 'controller.go:145', what: 'Failed to update lease' });
  }
}

/** One of the running kubelet's periodic syncs: started when due (every `periodMs`), one at a time; `done` after each. */
function loop(st: ReportingState, now: number, busy: 'beating' | 'renewing', next: 'nextBeat' | 'nextLease', periodMs: number, sync: (st: ReportingState, c: ClientCreds) => Promise<void>, done: () => void): void {
  const k = st.kubelet;
  if (k.state !== 'active' || !k.creds || k[busy] || now < k[next]) return;
  k[busy] = true;
  k[next] = now + periodMs;
  void sync(st, k.creds).finally(() => {
    k[busy] = false;
    done();
  });
}

/** At each tick of the agent: the running kubelet's status sync and Lease renewal, when due. `done` after each (the status file). */
export function reportTick(st: ReportingState, now: number, done: () => void): void {
  loop(st, now, 'beating', 'nextBeat', statusUpdateMs(st.node), heartbeat, done);
  if (usesNodeLease(st.node)) loop(st, now, 'renewing', 'nextLease', leaseRenewMs(st.node), renewLease, done);
}
