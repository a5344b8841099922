// kube-apiserver: a real HTTPS server with client-certificate authentication that reads from etcd
// (through its apiserver-etcd-client certificate) before answering.
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { NODE } from '../paths.js';
import { atLeast } from '../node.js';
import { expiredAt } from '../pki.js';
import { EtcdClient } from '../etcd.js';
import { humanDuration, rfc3339 } from '../format.js';
import { clog, type AgentState, type ContainerStatus, type Pod } from './state.js';
import { crash, loadCertFlag, loadKeyFlag, readNodeFile, x509Reason } from './runtime.js';
import { writeStatus } from './status.js';
import { identity, nodesApi } from '../nodes-api.js';
import { apiGroupList, leasesApi } from '../leases-api.js';
import { nodeSeeder, NODES_SEED_DIR } from '../worker-seeds.js';

function etcdEndpoint(st: AgentState, pod: Pod): URL {
  return new URL((pod.flags['etcd-servers'] ?? `https://127.0.0.1:${st.node.etcdPort}`).split(',')[0]!);
}

/** The API server's etcd client, built from its --etcd-* flags when the container starts. */
function etcdClientFor(st: AgentState, pod: Pod): EtcdClient {
  return new EtcdClient(etcdEndpoint(st, pod), {
    ca: readNodeFile(st, pod.flags['etcd-cafile']!),
    cert: readNodeFile(st, pod.flags['etcd-certfile']!),
    key: readNodeFile(st, pod.flags['etcd-keyfile']!),
  });
}

/** The key the API server writes when it starts and reads (linearizably: needs a quorum) on every request. */
const leaseKey = (st: AgentState) => `/registry/masterleases/${st.node.advertiseAddress}`;

export function startApiserver(st: AgentState, pod: Pod, c: ContainerStatus): void {
  const serving = loadCertFlag(st, pod, 'tls-cert-file', c.loaded);
  const key = loadKeyFlag(st, pod, 'tls-private-key-file');
  const clientCA = loadCertFlag(st, pod, 'client-ca-file', c.loaded);
  const etcdClient = loadCertFlag(st, pod, 'etcd-certfile', c.loaded);
  loadKeyFlag(st, pod, 'etcd-keyfile');
  loadCertFlag(st, pod, 'etcd-cafile', c.loaded);
  const kubeletClient = loadCertFlag(st, pod, 'kubelet-client-certificate', c.loaded);
  loadCertFlag(st, pod, 'proxy-client-cert-file', c.loaded);
  loadCertFlag(st, pod, 'requestheader-client-ca-file', c.loaded);
  const certPem = readNodeFile(st, pod.flags['tls-cert-file']!);
  const caPem = readNodeFile(st, pod.flags['client-ca-file']!);
  const port = Number(pod.flags['secure-port'] ?? st.node.apiPort);
  const bind = pod.flags['advertise-address'] ?? st.node.advertiseAddress;
  clog(st, c, 'I', 'server.go:565', 'external host was not specified, using ' + bind);
  let tries = 0;
  let client: EtcdClient;
  try {
    client = etcdClientFor(st, pod);
  } catch (e) {
    throw new Error(`open etcd client files: ${(e as Error).message}`);
  }
  pod.etcd = client;
  const seedNodes = nodeSeeder(client, st.r(NODES_SEED_DIR));
  const attempt = () => {
    if (pod.container !== c || c.state === 'exited') return;
    // storage: the API server writes its master lease into etcd before it serves anything
    client.put(leaseKey(st), JSON.stringify({ address: bind, port, container: c.id }), 2000).then(
      () => serve(),
      (e: Error) => {
        if (pod.container !== c || c.state === 'exited') return;
        const u = etcdEndpoint(st, pod);
        clog(st, c, 'W', 'logging.go:59', `[core] [Channel #1 SubChannel #2] grpc: addrConn.createTransport failed to connect to {Addr: "${u.host}", ServerName: "${u.hostname}", }. Err: ${e.message}`);
        // the real one gives etcd about a minute; a short back-off keeps tests fast and still crash-loops
        if (++tries < 10) {
          setTimeout(attempt, 300);
          return;
        }
        crash(st, pod, c, `Error creating leases: error creating storage factory: context deadline exceeded`);
      },
    );
  };
  const serve = () => {
    if (pod.container !== c || c.state === 'exited') return;
    {
      const srv = createHttpsServer({ cert: certPem, key, ca: caPem, requestCert: true, rejectUnauthorized: false }, (req, res) =>
        void handleApi(st, pod, c, seedNodes, req, res).catch((e: Error) => send(res, 500, statusBody(500, 'InternalError', e.message))),
      );
      pod.servers.push(srv);
      pod.api = { clientCA, etcdClient, kubeletClient, serving };
      srv.once('error', (e: NodeJS.ErrnoException) =>
        crash(st, pod, c, `failed to create listener: failed to listen on ${bind}:${port}: listen tcp ${bind}:${port}: bind: ${e.code === 'EADDRINUSE' ? 'address already in use' : e.message}`),
      );
      srv.listen(port, bind, () => {
        c.state = 'running';
        c.startedAt = new Date().toISOString();
        clog(st, c, 'I', 'secure_serving.go:213', `Serving securely on ${bind}:${port}`);
        writeStatus(st);
        if (expiredAt(kubeletClient)) clog(st, c, 'W', 'authentication.go:70', `kubelet client certificate /etc/kubernetes/pki/apiserver-kubelet-client.crt: ${x509Reason(kubeletClient)}`);
      });
    }
  };
  c.state = 'starting';
  c.startedAt = new Date().toISOString();
  attempt();
}

function statusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(code === 403 || code === 404 ? { details: {} } : {}), code });
}

function send(res: ServerResponse, code: number, body: string, type = 'application/json'): void {
  res.writeHead(code, { 'Content-Type': type, 'Cache-Control': 'no-cache, private', 'Audit-Id': randomUUID(), 'X-Kubernetes-Pf-Flowschema-Uid': randomUUID() });
  res.end(body);
}

/** Reads the API server's lease key from etcd (a quorum read): undefined when etcd answered, else why not. */
async function etcdError(st: AgentState, pod: Pod, c: ContainerStatus): Promise<string | undefined> {
  if (!pod.etcd) return 'no etcd client';
  try {
    await pod.etcd.get(leaseKey(st));
    return undefined;
  } catch (e) {
    clog(st, c, 'W', 'logging.go:59', `[core] etcd request failed: ${(e as Error).message}`);
    return (e as Error).message;
  }
}

function podList(st: AgentState, wantTable: boolean) {
  const items = [...st.pods.values()].map((p) => {
    // the kubelet reports a container whose process is up as running (docker and crictl list it so too),
    // ready only once it serves: a container starting or being stopped is running, not ready
    const state = p.container?.state;
    const running = state === 'running' || state === 'starting' || state === 'stopping';
    const ready = state === 'running';
    return {
      kind: 'Pod', apiVersion: 'v1',
      metadata: { name: p.name, namespace: 'kube-system', uid: p.uid, creationTimestamp: rfc3339(p.sandboxCreatedAt), labels: { component: p.component, tier: 'control-plane' } },
      spec: { nodeName: st.node.nodeName, containers: [{ name: p.component, image: p.image }] },
      status: {
        phase: 'Running', hostIP: st.node.advertiseAddress, podIP: st.node.advertiseAddress, startTime: rfc3339(p.sandboxCreatedAt),
        containerStatuses: [{ name: p.component, ready, restartCount: p.restartCount, image: p.image, containerID: `containerd://${p.container?.id ?? ''}`, state: running ? { running: { startedAt: p.container?.startedAt } } : { waiting: { reason: 'CrashLoopBackOff' } } }],
      },
    };
  });
  if (!wantTable) return { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items };
  const col = (name: string, type: string, priority = 0, format = '') => ({ name, type, format, description: name, priority });
  return {
    kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: '1' },
    columnDefinitions: [col('Name', 'string', 0, 'name'), col('Ready', 'string'), col('Status', 'string'), col('Restarts', 'string'), col('Age', 'string'), col('IP', 'string', 1), col('Node', 'string', 1)],
    rows: items.map((it) => ({
      cells: [it.metadata.name, it.status.containerStatuses[0]!.ready ? '1/1' : '0/1', 'running' in it.status.containerStatuses[0]!.state ? 'Running' : 'CrashLoopBackOff', String(it.status.containerStatuses[0]!.restartCount), humanDuration(Date.now() - new Date(it.metadata.creationTimestamp).getTime()), st.node.advertiseAddress, st.node.nodeName],
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: it.metadata },
    })),
  };
}

function versionInfo(st: AgentState) {
  const m = /^v(\d+)\.(\d+)/.exec(st.node.version);
  const goVersion = atLeast(st.node.version, '1.30.0') ? 'go1.22.8' : atLeast(st.node.version, '1.28.0') ? 'go1.22.8' : atLeast(st.node.version, '1.18.0') ? 'go1.13.15' : 'go1.10.8';
  return {
    major: m?.[1] ?? '1',
    minor: m?.[2] ?? '0',
    gitVersion: st.node.version,
    gitCommit: createHash('sha1').update(st.node.version).digest('hex'),
    gitTreeState: 'clean',
    buildDate: '2024-10-22T20:26:08Z',
    goVersion,
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

/** The paths of Nodes and node Leases: what the nodes that joined before the simulation must be in etcd for. */
const NODE_PATHS = /^\/api\/v1\/nodes(?:\/|$)|^\/apis\/coordination\.k8s\.io\//;

async function handleApi(st: AgentState, pod: Pod, c: ContainerStatus, seedNodes: () => Promise<void>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const sock = req.socket as TLSSocket;
  const url = new URL(req.url ?? '/', 'https://x');
  const path = url.pathname.replace(/\/$/, '') || '/';
  const peer = sock.getPeerCertificate?.();
  const hasCert = !!peer && Object.keys(peer).length > 0;
  let user = 'system:anonymous';
  if (hasCert) {
    if (!sock.authorized) {
      const reason = String(sock.authorizationError) === 'CERT_HAS_EXPIRED' ? 'x509: certificate has expired or is not yet valid' : 'x509: certificate signed by unknown authority';
      clog(st, c, 'E', 'authentication.go:73', `"Unable to authenticate the request" err="[${reason}, verifying certificate SN=${BigInt('0x' + peer.serialNumber).toString()}, SKID=, AKID= failed: ${reason}]"`);
      return send(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
    }
    user = peer.subject?.CN as string;
  }
  const publicPaths = ['/version', '/healthz', '/livez', '/readyz'];
  if (user === 'system:anonymous' && !publicPaths.includes(path)) {
    return send(res, 403, statusBody(403, 'Forbidden', `forbidden: User "system:anonymous" cannot get path "${url.pathname}"`));
  }
  const accept = String(req.headers.accept ?? '');
  // every request but /livez reads from etcd (through apiserver-etcd-client, a quorum read): without
  // a quorum or with a certificate etcd refuses, the API server answers nothing useful, /version included
  const etcdErr = path === '/livez' ? undefined : await etcdError(st, pod, c);
  switch (path) {
    case '/version':
      if (etcdErr) return send(res, 500, statusBody(500, 'InternalError', `etcdserver: request timed out (${etcdErr})`));
      return send(res, 200, JSON.stringify(versionInfo(st), null, 2));
    case '/healthz/etcd':
      // the apiserver's own etcd check (authenticated users only, like the real RBAC default):
      // what an operator can ask when etcdctl is not installed on the node
      if (etcdErr) return send(res, 500, 'internal server error: etcd client connection failed\n', 'text/plain; charset=utf-8');
      return send(res, 200, 'ok', 'text/plain; charset=utf-8');
    case '/healthz':
    case '/livez':
    case '/readyz': {
      if (etcdErr) {
        return send(res, 500, `[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\n${path.slice(1)} check failed\n`, 'text/plain; charset=utf-8');
      }
      return send(res, 200, 'ok', 'text/plain; charset=utf-8');
    }
    case '/api':
      return send(res, 200, JSON.stringify({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `${st.node.advertiseAddress}:${st.node.apiPort}` }] }));
    case '/apis':
      // coordination.k8s.io (node Leases) from 1.12: ../leases-api.ts
      return send(res, 200, JSON.stringify(apiGroupList(st.node.version)));
    case '/api/v1':
      return send(res, 200, JSON.stringify({
        kind: 'APIResourceList', groupVersion: 'v1',
        resources: [
          { name: 'nodes', singularName: 'node', namespaced: false, kind: 'Node', verbs: ['get', 'list'], shortNames: ['no'] },
          { name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: ['get', 'list'], shortNames: ['ns'] },
          { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po'], categories: ['all'] },
          { name: 'configmaps', singularName: 'configmap', namespaced: true, kind: 'ConfigMap', verbs: ['get', 'list'], shortNames: ['cm'] },
        ],
      }));
  }
  if (etcdErr) {
    return send(res, 500, statusBody(500, 'InternalError', 'etcdserver: request timed out'));
  }
  // Nodes (this control-plane node's too) and node Leases: stored in etcd by their kubelets
  // (../nodes-api.ts, ../leases-api.ts), the nodes that joined before the simulation put there first
  if (pod.etcd && NODE_PATHS.test(path)) await seedNodes();
  const nodes = pod.etcd && (await nodesApi({ req, method: req.method ?? 'GET', path, wantTable: accept.includes('as=Table'), etcd: pod.etcd, graceMs: st.node.nodeMonitorGraceMs ?? 40_000 }));
  if (nodes) return send(res, nodes.code, nodes.body);
  const leases = pod.etcd && (await leasesApi({ req, method: req.method ?? 'GET', path, wantTable: accept.includes('as=Table'), etcd: pod.etcd, version: st.node.version, identity: identity(req) }));
  if (leases) return send(res, leases.code, leases.body);
  if (path === '/api/v1/pods' || path === '/api/v1/namespaces/kube-system/pods') {
    return send(res, 200, JSON.stringify(podList(st, accept.includes('as=Table'))));
  }
  if (path.startsWith('/api/v1/namespaces/') && path.endsWith('/pods')) {
    return send(res, 200, JSON.stringify(accept.includes('as=Table') ? { ...podList(st, true), rows: [] } : { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [] }));
  }
  const ns = /^\/api\/v1\/namespaces(?:\/([^/]+))?$/.exec(path);
  if (ns) {
    // the namespaces the API server makes itself (kube-node-lease with the coordination group, 1.12+)
    const names = ['default', 'kube-node-lease', 'kube-public', 'kube-system'].filter((n) => n !== 'kube-node-lease' || apiGroupList(st.node.version).groups.length > 0);
    const obj = (name: string) => ({ kind: 'Namespace', apiVersion: 'v1', metadata: { name, creationTimestamp: rfc3339(st.node.createdAt), labels: { 'kubernetes.io/metadata.name': name } }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
    if (!ns[1]) return send(res, 200, JSON.stringify({ kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: names.map(obj) }));
    if (names.includes(ns[1])) return send(res, 200, JSON.stringify(obj(ns[1])));
    return send(res, 404, JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `namespaces "${ns[1]}" not found`, reason: 'NotFound', details: { name: ns[1], kind: 'namespaces' }, code: 404 }));
  }
  if (path === '/api/v1/namespaces/kube-system/configmaps/kubeadm-config') {
    let cfg = '';
    try {
      cfg = readFileSync(st.r(NODE.simState + '/kubeadm-config.yaml'), 'utf8');
    } catch { /* empty */ }
    return send(res, 200, JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'kubeadm-config', namespace: 'kube-system' }, data: { ClusterConfiguration: cfg } }));
  }
  send(res, 404, statusBody(404, 'NotFound', 'the server could not find the requested resource'));
}
