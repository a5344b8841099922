// The node agent: one long-running process per simulated node. It plays systemd's kubelet unit, the
// kubelet (static pods from manifests/, container restarts, client-certificate checks) and the
// container runtime with the control-plane containers: kube-apiserver (a real HTTPS server with
// client-certificate authentication) and etcd (a real TLS server requiring a client certificate).
// Usage: node agent.js <root>. Emulated systemctl/crictl/docker talk to it over <root>/run/sim/agent.sock.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, join, resolve } from 'node:path';
import { load as yamlLoad } from 'js-yaml';
import { NODE, rooted } from './paths.js';
import { atLeast, loadNode, type NodeConfig } from './node.js';
import { expiredAt, goTime, parseCert, parseKubeconfig, signedBy, type CertInfo } from './pki.js';
import { images, type Component } from './manifests.js';
import type { ChildProcess } from 'node:child_process';
import { EtcdClient, etcdArgv, spawnEtcd, stopEtcd } from './etcd.js';
import { nodesApi, NODES_SEED_DIR } from './nodes-api.js';
import { humanDuration, journalPrefix, klog, systemdAgo, systemdTime, tabwrite, unitsHumanDuration } from './format.js';

// ---------------------------------------------------------------- types (also used by nodeStatus)

export type UnitState = 'active' | 'activating' | 'inactive' | 'failed';

export interface ContainerStatus {
  id: string;
  name: string;
  attempt: number;
  state: 'running' | 'exited' | 'starting';
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  /** cert file (node path) → serial loaded when this container started */
  loaded: Record<string, string>;
  error?: string;
}

export interface PodStatus {
  name: string;
  component: Component;
  manifest: string;
  uid: string;
  sandboxId: string;
  sandboxAttempt: number;
  sandboxState: 'ready' | 'notready';
  sandboxCreatedAt: string;
  container?: ContainerStatus;
  /** previous containers of this sandbox (newest last) */
  history: ContainerStatus[];
  restartCount: number;
}

export interface AgentStatus {
  pid: number;
  updatedAt: string;
  kubelet: { state: UnitState; since: string; everActive: boolean; mainPid: number; restarts: number; lastError?: string };
  pods: PodStatus[];
  apiserver: { listening: boolean; address: string; port: number; servingSerial?: string };
  etcd: { listening: boolean; port: number; servingSerial?: string };
}

// ---------------------------------------------------------------- state

const root = resolve(process.argv[2] ?? '/');
const r = (p: string) => rooted(root, p);
let node: NodeConfig = loadNode(root);
const runDir = r(NODE.runSim);
const logDir = r(NODE.logDir);
mkdirSync(runDir, { recursive: true });
mkdirSync(join(logDir, 'containers'), { recursive: true });
const journalFile = join(logDir, 'kubelet.journal');
const statusFile = join(runDir, 'status.json');
const sockPath = join(runDir, 'agent.sock');

let fakePid = 1000 + Math.floor(Math.random() * 50000);
const nextPid = () => (fakePid += 1 + Math.floor(Math.random() * 40));

interface Pod extends PodStatus {
  hash: string;
  flags: Record<string, string>;
  image: string;
  command: string[];
  /** when the kubelet will (re)start the container */
  restartAt?: number;
  backoff: number;
  /** recreate the sandbox (it was removed or stopped) */
  needSandbox: boolean;
  servers: HttpsServer[];
  /** apiserver: what it loaded */
  api?: ApiRuntime;
  etcdRt?: EtcdRuntime;
  /** etcd: the real etcd process of the running container */
  proc?: ChildProcess;
  /** kube-apiserver: its etcd client (apiserver-etcd-client) */
  etcd?: EtcdClient;
}

interface ApiRuntime {
  clientCA: CertInfo;
  etcdClient: CertInfo;
  kubeletClient: CertInfo;
  serving: CertInfo;
}

interface EtcdRuntime {
  serving: CertInfo;
  trustedCA: CertInfo;
}

const kubelet = {
  state: 'inactive' as UnitState,
  since: Date.now(),
  everActive: false,
  mainPid: 0,
  restarts: 0,
  nextRetry: 0,
  lastError: undefined as string | undefined,
  fileCheckMs: 20_000,
  nextScan: 0,
};
const pods = new Map<string, Pod>();

// ---------------------------------------------------------------- journal and logs

function journal(ident: string, msg: string, at = new Date()): void {
  appendFileSync(journalFile, journalPrefix(at, node.nodeName, ident) + msg + '\n');
}
function kubeletLog(level: 'I' | 'W' | 'E' | 'F', where: string, msg: string): void {
  journal(`kubelet[${kubelet.mainPid}]`, klog(level, kubelet.mainPid, where, msg));
}
function containerLogPath(id: string): string {
  return join(logDir, 'containers', id + '.log');
}
function clog(c: ContainerStatus, level: 'I' | 'W' | 'E' | 'F', where: string, msg: string): void {
  appendFileSync(containerLogPath(c.id), klog(level, 1, where, msg) + '\n');
}

// ---------------------------------------------------------------- kubelet (systemd unit)

function durationMs(s: string | undefined, dflt: number): number {
  if (!s) return dflt;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s.trim());
  if (!m) return dflt;
  const v = Number(m[1]);
  return m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : m[2] === 'm' ? v * 60000 : v * 3600000;
}

function readKubeletConfig(): void {
  try {
    const cfg = yamlLoad(readFileSync(r(NODE.kubeletConfig), 'utf8')) as Record<string, string>;
    kubelet.fileCheckMs = durationMs(cfg.fileCheckFrequency, 20_000);
  } catch {
    kubelet.fileCheckMs = 20_000;
  }
}

/** The kubelet's client certificate, as the kubelet would load it from kubelet.conf. */
export function kubeletClientCert(): { cert?: CertInfo; error?: string } {
  const confPath = r(NODE.kubeDir + '/kubelet.conf');
  if (!existsSync(confPath)) return { error: 'missing' };
  try {
    const kc = parseKubeconfig(readFileSync(confPath, 'utf8'));
    if (kc.clientCert) return { cert: parseCert(kc.clientCert) };
    if (kc.clientCertFile) {
      const f = r(kc.clientCertFile);
      if (!existsSync(f)) return { error: `open ${kc.clientCertFile}: no such file or directory` };
      return { cert: parseCert(readFileSync(f)) };
    }
    return { error: 'no client certificate' };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

function kubeletStartAttempt(): void {
  node = loadNode(root);
  kubelet.mainPid = nextPid();
  journal('systemd[1]', 'Started kubelet: The Kubernetes Node Agent.');
  readKubeletConfig();
  const { cert, error } = kubeletClientCert();
  let fail: string | undefined;
  if (cert && expiredAt(cert)) {
    kubeletLog('E', 'bootstrap.go:265', `part of the existing bootstrap client certificate is expired: ${goTime(cert.notAfter)}`);
    fail = 'failed to run Kubelet: unable to load bootstrap kubeconfig: stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory';
  } else if (error === 'missing') {
    fail = 'failed to run Kubelet: unable to load bootstrap kubeconfig: stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory';
  } else if (error) {
    kubeletLog('E', 'bootstrap.go:265', `unable to read existing bootstrap client config from /etc/kubernetes/kubelet.conf: ${error}`);
    fail = 'failed to run Kubelet: unable to load bootstrap kubeconfig: stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory';
  }
  if (fail) {
    kubeletLog('F', 'server.go:274', fail);
    journal('systemd[1]', 'kubelet.service: Main process exited, code=exited, status=255/EXCEPTION');
    journal('systemd[1]', "kubelet.service: Failed with result 'exit-code'.");
    kubelet.lastError = fail;
    setUnit('activating');
    kubelet.nextRetry = Date.now() + node.kubeletRestartMs;
    return;
  }
  kubelet.lastError = undefined;
  kubeletLog('I', 'server.go:417', `Kubelet version kubeletVersion="${node.version}"`);
  kubeletLog('I', 'kubelet.go:312', `Adding static pod path path="/etc/kubernetes/manifests"`);
  setUnit('active');
  kubelet.everActive = true;
  kubelet.nextScan = 0; // the kubelet reads the static pod path as soon as it starts
}

function setUnit(s: UnitState): void {
  if (kubelet.state !== s) kubelet.since = Date.now();
  kubelet.state = s;
}

function kubeletStop(): void {
  if (kubelet.state === 'active' || kubelet.state === 'activating') {
    journal('systemd[1]', 'Stopping kubelet: The Kubernetes Node Agent...');
    journal('systemd[1]', 'kubelet.service: Deactivated successfully.');
    journal('systemd[1]', 'Stopped kubelet: The Kubernetes Node Agent.');
  }
  setUnit('inactive');
  kubelet.mainPid = 0;
}

// ---------------------------------------------------------------- static pods

function hexId(): string {
  return randomBytes(32).toString('hex');
}

interface Manifest {
  file: string;
  component: Component;
  hash: string;
  command: string[];
  image: string;
}

function readManifests(): Manifest[] {
  const dir = r(NODE.manifests);
  let names: string[] = [];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  const out: Manifest[] = [];
  for (const f of names) {
    if (f.startsWith('.')) continue; // the kubelet ignores dot files, and reads everything else
    const p = join(dir, f);
    try {
      if (!statSync(p).isFile()) continue;
      const text = readFileSync(p, 'utf8');
      const doc = yamlLoad(text) as { metadata?: { name?: string }; spec?: { containers?: Array<{ command?: string[]; image?: string }> } };
      const name = doc?.metadata?.name as Component | undefined;
      if (!name || !['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].includes(name)) {
        kubeletLog('W', 'file.go:61', `Unable to read config path path="/etc/kubernetes/manifests/${f}" err="invalid pod: ${f}"`);
        continue;
      }
      if (out.some((m) => m.component === name)) {
        // a second file with the same pod (e.g. a backup left in manifests/): the kubelet sees a duplicate pod
        kubeletLog('W', 'config.go:354', `Pod appeared twice, ignoring the duplicate pod="kube-system/${name}-${node.nodeName}" source="file" file="${f}"`);
        continue;
      }
      const c = doc.spec?.containers?.[0];
      out.push({ file: f, component: name, hash: createHash('sha256').update(text).digest('hex'), command: c?.command ?? [], image: c?.image ?? images(node)[name] });
    } catch (e) {
      kubeletLog('E', 'file.go:187', `Could not process manifest file path="/etc/kubernetes/manifests/${f}" err="${(e as Error).message.split('\n')[0]}"`);
    }
  }
  return out;
}

function flagsOf(command: string[]): Record<string, string> {
  const f: Record<string, string> = {};
  for (const a of command) {
    const m = /^--([^=]+)=(.*)$/.exec(a);
    if (m) f[m[1]!] = m[2]!;
  }
  return f;
}

function scanManifests(): void {
  const ms = readManifests();
  const seen = new Set<string>();
  for (const m of ms) {
    seen.add(m.component);
    const existing = pods.get(m.component);
    if (existing && existing.hash === m.hash) continue;
    if (existing) {
      kubeletLog('I', 'kubelet.go:2421', `SyncLoop UPDATE source="file" pods=["kube-system/${existing.name}"]`);
      killPod(existing, 'manifest changed');
      pods.delete(m.component);
    } else {
      kubeletLog('I', 'kubelet.go:2405', `SyncLoop ADD source="file" pods=["kube-system/${m.component}-${node.nodeName}"]`);
    }
    const pod: Pod = {
      name: `${m.component}-${node.nodeName}`,
      component: m.component,
      manifest: m.file,
      uid: createHash('md5').update(m.hash).digest('hex'),
      sandboxId: '',
      sandboxAttempt: -1,
      sandboxState: 'notready',
      sandboxCreatedAt: new Date().toISOString(),
      history: [],
      restartCount: 0,
      hash: m.hash,
      flags: flagsOf(m.command),
      image: m.image,
      command: m.command,
      backoff: 0,
      needSandbox: true,
      servers: [],
      restartAt: Date.now(),
    };
    pods.set(m.component, pod);
  }
  for (const [comp, pod] of pods) {
    if (!seen.has(comp)) {
      kubeletLog('I', 'kubelet.go:2415', `SyncLoop REMOVE source="file" pods=["kube-system/${pod.name}"]`);
      killPod(pod, 'static pod manifest removed');
      pods.delete(comp);
    }
  }
}

function killPod(pod: Pod, why: string): void {
  stopContainer(pod, 0, why);
  pod.sandboxState = 'notready';
}

function stopContainer(pod: Pod, exitCode: number, why: string): void {
  const c = pod.container;
  for (const s of pod.servers) {
    s.close();
    (s as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
  }
  pod.servers = [];
  pod.api = undefined;
  pod.etcdRt = undefined;
  pod.etcd?.close();
  pod.etcd = undefined;
  if (pod.proc) {
    const exiting: Promise<void> = stopEtcd(pod.proc).then(() => {
      if (etcdExiting === exiting) etcdExiting = undefined;
    });
    etcdExiting = exiting;
    pod.proc = undefined;
  }
  if (c && c.state !== 'exited') {
    c.state = 'exited';
    c.exitCode = exitCode;
    c.finishedAt = new Date().toISOString();
    clog(c, 'I', 'server.go:100', `Shutting down (${why})`);
  }
}

function ensureSandbox(pod: Pod): void {
  if (!pod.needSandbox && pod.sandboxState === 'ready') return;
  if (pod.container) pod.history.push(pod.container);
  pod.container = undefined;
  pod.sandboxId = hexId();
  pod.sandboxAttempt += 1;
  pod.sandboxState = 'ready';
  pod.sandboxCreatedAt = new Date().toISOString();
  pod.needSandbox = false;
  pod.backoff = 0;
}

function readNodeFile(p: string): Buffer {
  return readFileSync(r(p));
}

function loadCertFlag(pod: Pod, flag: string, loaded: Record<string, string>): CertInfo {
  const p = pod.flags[flag];
  if (!p) throw new Error(`flag --${flag} not set`);
  let buf: Buffer;
  try {
    buf = readNodeFile(p);
  } catch {
    throw new Error(`open ${p}: no such file or directory`);
  }
  const c = parseCert(buf);
  loaded[p] = c.serial;
  return c;
}

function loadKeyFlag(pod: Pod, flag: string): Buffer {
  const p = pod.flags[flag];
  if (!p) throw new Error(`flag --${flag} not set`);
  try {
    return readNodeFile(p);
  } catch {
    throw new Error(`open ${p}: no such file or directory`);
  }
}

function x509Reason(c: CertInfo): string {
  const now = new Date();
  return `x509: certificate has expired or is not yet valid: current time ${now.toISOString().replace(/\.\d+Z$/, 'Z')} is after ${c.notAfter.toISOString().replace(/\.\d+Z$/, 'Z')}`;
}

function startContainer(pod: Pod): void {
  ensureSandbox(pod);
  const prev = pod.container;
  if (prev) pod.history.push(prev);
  const c: ContainerStatus = {
    id: hexId(),
    name: pod.component,
    attempt: prev ? prev.attempt + 1 : pod.history.length ? (pod.history[pod.history.length - 1]!.attempt + 1) : 0,
    state: 'starting',
    createdAt: new Date().toISOString(),
    loaded: {},
  };
  if (pod.sandboxAttempt > 0 && !prev) c.attempt = 0;
  pod.container = c;
  if (prev) pod.restartCount += 1;
  pod.restartAt = undefined;
  runComponent(pod, c);
}

function crash(pod: Pod, c: ContainerStatus, msg: string): void {
  clog(c, 'F', 'server.go:250', msg);
  c.error = msg;
  stopContainer(pod, 1, 'error');
  c.exitCode = 1;
  pod.backoff = pod.backoff ? Math.min(pod.backoff * 2, node.crashBackoffMs * 30) : node.crashBackoffMs;
  pod.restartAt = Date.now() + pod.backoff;
  kubeletLog('E', 'pod_workers.go:1300', `Error syncing pod, skipping err="failed to \\"StartContainer\\" for \\"${pod.component}\\" with CrashLoopBackOff: \\"back-off ${pod.backoff % 1000 ? `${pod.backoff}ms` : `${pod.backoff / 1000}s`} restarting failed container=${pod.component} pod=${pod.name}_kube-system(${pod.uid})\\"" pod="kube-system/${pod.name}"`);
}

function runComponent(pod: Pod, c: ContainerStatus): void {
  const now = new Date().toISOString();
  try {
    switch (pod.component) {
      case 'etcd':
        return startEtcd(pod, c);
      case 'kube-apiserver':
        return startApiserver(pod, c);
      default: {
        // controller-manager / scheduler: read their kubeconfig at start, keep running
        const kc = pod.flags['kubeconfig'];
        if (!kc) throw new Error('no --kubeconfig');
        let text: string;
        try {
          text = readNodeFile(kc).toString('utf8');
        } catch {
          throw new Error(`invalid configuration: stat ${kc}: no such file or directory`);
        }
        const parsed = parseKubeconfig(text);
        if (parsed.clientCert) {
          const cert = parseCert(parsed.clientCert);
          c.loaded[kc] = cert.serial;
          if (expiredAt(cert)) clog(c, 'E', 'leaderelection.go:330', `error retrieving resource lock kube-system/${pod.component}: Unauthorized`);
        }
        c.state = 'running';
        c.startedAt = now;
        clog(c, 'I', 'serving.go:348', 'Generated self-signed cert in-memory');
      }
    }
  } catch (e) {
    crash(pod, c, (e as Error).message);
  }
}

/** The etcd process of the previous container, while it is still shutting down (its data dir and ports are busy). */
let etcdExiting: Promise<void> | undefined;

function startEtcd(pod: Pod, c: ContainerStatus): void {
  const serving = loadCertFlag(pod, 'cert-file', c.loaded);
  loadKeyFlag(pod, 'key-file');
  const trusted = loadCertFlag(pod, 'trusted-ca-file', c.loaded);
  loadCertFlag(pod, 'peer-cert-file', c.loaded);
  loadKeyFlag(pod, 'peer-key-file');
  const argv = etcdArgv(pod.command, r);
  c.state = 'starting';
  const launch = () => {
    if (pod.container !== c || c.state === 'exited') return;
    let proc: ChildProcess;
    try {
      proc = spawnEtcd(argv, containerLogPath(c.id));
    } catch (e) {
      return crash(pod, c, (e as Error).message);
    }
    pod.proc = proc;
    pod.etcdRt = { serving, trustedCA: trusted };
    c.state = 'running';
    c.startedAt = new Date().toISOString();
    writeFileSync(join(runDir, 'etcd.pid'), String(proc.pid ?? ''));
    proc.once('exit', (code, signal) => {
      if (pod.proc === proc) pod.proc = undefined;
      // exited on its own (bad flag, port in use, corrupt data dir): the kubelet restarts it with back-off
      if (pod.container === c && c.state !== 'exited') crash(pod, c, `etcd exited: ${signal ? `signal ${signal}` : `exit status ${code}`}`);
      writeStatus();
    });
    writeStatus();
  };
  if (etcdExiting) void etcdExiting.then(launch);
  else launch();
}

function etcdEndpoint(pod: Pod): URL {
  return new URL((pod.flags['etcd-servers'] ?? `https://127.0.0.1:${node.etcdPort}`).split(',')[0]!);
}

/** The API server's etcd client, built from its --etcd-* flags when the container starts. */
function etcdClientFor(pod: Pod): EtcdClient {
  return new EtcdClient(etcdEndpoint(pod), {
    ca: readNodeFile(pod.flags['etcd-cafile']!),
    cert: readNodeFile(pod.flags['etcd-certfile']!),
    key: readNodeFile(pod.flags['etcd-keyfile']!),
  });
}

/** The key the API server writes when it starts and reads (linearizably: needs a quorum) on every request. */
const leaseKey = () => `/registry/masterleases/${node.advertiseAddress}`;

function startApiserver(pod: Pod, c: ContainerStatus): void {
  const serving = loadCertFlag(pod, 'tls-cert-file', c.loaded);
  const key = loadKeyFlag(pod, 'tls-private-key-file');
  const clientCA = loadCertFlag(pod, 'client-ca-file', c.loaded);
  const etcdClient = loadCertFlag(pod, 'etcd-certfile', c.loaded);
  loadKeyFlag(pod, 'etcd-keyfile');
  loadCertFlag(pod, 'etcd-cafile', c.loaded);
  const kubeletClient = loadCertFlag(pod, 'kubelet-client-certificate', c.loaded);
  loadCertFlag(pod, 'proxy-client-cert-file', c.loaded);
  loadCertFlag(pod, 'requestheader-client-ca-file', c.loaded);
  const certPem = readNodeFile(pod.flags['tls-cert-file']!);
  const caPem = readNodeFile(pod.flags['client-ca-file']!);
  const port = Number(pod.flags['secure-port'] ?? node.apiPort);
  const bind = pod.flags['advertise-address'] ?? node.advertiseAddress;
  clog(c, 'I', 'server.go:565', 'external host was not specified, using ' + bind);
  let tries = 0;
  let client: EtcdClient;
  try {
    client = etcdClientFor(pod);
  } catch (e) {
    throw new Error(`open etcd client files: ${(e as Error).message}`);
  }
  pod.etcd = client;
  const attempt = () => {
    if (pod.container !== c || c.state === 'exited') return;
    // storage: the API server writes its master lease into etcd before it serves anything
    client.put(leaseKey(), JSON.stringify({ address: bind, port, container: c.id }), 2000).then(
      () => serve(),
      (e: Error) => {
        if (pod.container !== c || c.state === 'exited') return;
        const u = etcdEndpoint(pod);
        clog(c, 'W', 'logging.go:59', `[core] [Channel #1 SubChannel #2] grpc: addrConn.createTransport failed to connect to {Addr: "${u.host}", ServerName: "${u.hostname}", }. Err: ${e.message}`);
        // the real one gives etcd about a minute; a short back-off keeps tests fast and still crash-loops
        if (++tries < 10) {
          setTimeout(attempt, 300);
          return;
        }
        crash(pod, c, `Error creating leases: error creating storage factory: context deadline exceeded`);
      },
    );
  };
  const serve = () => {
    if (pod.container !== c || c.state === 'exited') return;
    {
      const srv = createHttpsServer({ cert: certPem, key, ca: caPem, requestCert: true, rejectUnauthorized: false }, (req, res) =>
        void handleApi(pod, c, req, res).catch((e: Error) => send(res, 500, statusBody(500, 'InternalError', e.message))),
      );
      pod.servers.push(srv);
      pod.api = { clientCA, etcdClient, kubeletClient, serving };
      srv.once('error', (e: NodeJS.ErrnoException) =>
        crash(pod, c, `failed to create listener: failed to listen on ${bind}:${port}: listen tcp ${bind}:${port}: bind: ${e.code === 'EADDRINUSE' ? 'address already in use' : e.message}`),
      );
      srv.listen(port, bind, () => {
        c.state = 'running';
        c.startedAt = new Date().toISOString();
        clog(c, 'I', 'secure_serving.go:213', `Serving securely on ${bind}:${port}`);
        writeStatus();
        if (expiredAt(kubeletClient)) clog(c, 'W', 'authentication.go:70', `kubelet client certificate /etc/kubernetes/pki/apiserver-kubelet-client.crt: ${x509Reason(kubeletClient)}`);
      });
    }
  };
  c.state = 'starting';
  c.startedAt = new Date().toISOString();
  attempt();
}

// ---------------------------------------------------------------- the API server

function statusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(code === 403 || code === 404 ? { details: {} } : {}), code });
}

function send(res: ServerResponse, code: number, body: string, type = 'application/json'): void {
  res.writeHead(code, { 'Content-Type': type, 'Cache-Control': 'no-cache, private', 'Audit-Id': randomUUID(), 'X-Kubernetes-Pf-Flowschema-Uid': randomUUID() });
  res.end(body);
}

/** Reads the API server's lease key from etcd (a quorum read): undefined when etcd answered, else why not. */
async function etcdError(pod: Pod, c: ContainerStatus): Promise<string | undefined> {
  if (!pod.etcd) return 'no etcd client';
  try {
    await pod.etcd.get(leaseKey());
    return undefined;
  } catch (e) {
    clog(c, 'W', 'logging.go:59', `[core] etcd request failed: ${(e as Error).message}`);
    return (e as Error).message;
  }
}

function nodeReady(pod: Pod): boolean {
  if (kubelet.state !== 'active') return false;
  const { cert } = kubeletClientCert();
  return !!cert && !expiredAt(cert) && !!pod.api && signedBy(cert, pod.api.clientCA);
}

function nodeObject(pod: Pod) {
  const created = new Date(node.createdAt);
  const ready = nodeReady(pod);
  const roleLabel = atLeast(node.version, '1.20.0') ? 'node-role.kubernetes.io/control-plane' : 'node-role.kubernetes.io/master';
  const runtimeVersion = node.runtime === 'docker' ? 'docker://18.6.3' : atLeast(node.version, '1.25.0') ? 'containerd://1.7.22' : 'containerd://1.3.3';
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: {
      name: node.nodeName,
      uid: createHash('md5').update(node.nodeName).digest('hex').replace(/(.{8})(.{4})(.{4})(.{4})(.{12})/, '$1-$2-$3-$4-$5'),
      resourceVersion: String(Math.floor(Date.now() / 1000)),
      creationTimestamp: created.toISOString().replace(/\.\d+Z$/, 'Z'),
      labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/hostname': node.nodeName, 'kubernetes.io/os': 'linux', [roleLabel]: '' },
    },
    spec: { taints: [{ key: roleLabel, effect: 'NoSchedule' }] },
    status: {
      conditions: [
        ready
          ? { type: 'Ready', status: 'True', lastHeartbeatTime: now, lastTransitionTime: now, reason: 'KubeletReady', message: 'kubelet is posting ready status' }
          : { type: 'Ready', status: 'Unknown', lastHeartbeatTime: now, lastTransitionTime: now, reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' },
      ],
      addresses: [{ type: 'InternalIP', address: node.advertiseAddress }, { type: 'Hostname', address: node.nodeName }],
      nodeInfo: {
        machineID: createHash('md5').update('m' + node.nodeName).digest('hex'),
        kernelVersion: '5.15.0-119-generic',
        osImage: 'Ubuntu 22.04.4 LTS',
        containerRuntimeVersion: runtimeVersion,
        kubeletVersion: node.version,
        kubeProxyVersion: node.version,
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    },
  };
}

function nodeTable(pod: Pod, wantTable: boolean) {
  const n = nodeObject(pod);
  if (!wantTable) return { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: n.metadata.resourceVersion }, items: [n] };
  const status = n.status.conditions[0]!.status === 'True' ? 'Ready' : 'NotReady';
  const role = atLeast(node.version, '1.20.0') ? 'control-plane' : 'master';
  const col = (name: string, type: string, description: string, priority = 0, format = '') => ({ name, type, format, description, priority });
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: n.metadata.resourceVersion },
    columnDefinitions: [
      col('Name', 'string', 'Name must be unique within a namespace.', 0, 'name'),
      col('Status', 'string', 'The status of the node'),
      col('Roles', 'string', 'The roles of the node'),
      col('Age', 'string', 'CreationTimestamp is a timestamp representing the server time when this object was created.'),
      col('Version', 'string', 'Kubelet Version reported by the node.'),
      col('Internal-IP', 'string', 'List of addresses reachable to the node.', 1),
      col('External-IP', 'string', 'List of addresses reachable to the node.', 1),
      col('OS-Image', 'string', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 1),
      col('Kernel-Version', 'string', 'Kernel Version reported by the node.', 1),
      col('Container-Runtime', 'string', 'ContainerRuntime Version reported by the node.', 1),
    ],
    rows: [
      {
        cells: [n.metadata.name, status, role, humanDuration(Date.now() - new Date(n.metadata.creationTimestamp).getTime()), node.version, node.advertiseAddress, '<none>', n.status.nodeInfo.osImage, n.status.nodeInfo.kernelVersion, n.status.nodeInfo.containerRuntimeVersion],
        object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: n.metadata },
      },
    ],
  };
}

function podList(wantTable: boolean) {
  const items = [...pods.values()].map((p) => {
    const running = p.container?.state === 'running';
    return {
      kind: 'Pod', apiVersion: 'v1',
      metadata: { name: p.name, namespace: 'kube-system', uid: p.uid, creationTimestamp: p.sandboxCreatedAt.replace(/\.\d+Z$/, 'Z'), labels: { component: p.component, tier: 'control-plane' } },
      spec: { nodeName: node.nodeName, containers: [{ name: p.component, image: p.image }] },
      status: {
        phase: 'Running', hostIP: node.advertiseAddress, podIP: node.advertiseAddress, startTime: p.sandboxCreatedAt.replace(/\.\d+Z$/, 'Z'),
        containerStatuses: [{ name: p.component, ready: running, restartCount: p.restartCount, image: p.image, containerID: `containerd://${p.container?.id ?? ''}`, state: running ? { running: { startedAt: p.container?.startedAt } } : { waiting: { reason: 'CrashLoopBackOff' } } }],
      },
    };
  });
  if (!wantTable) return { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items };
  const col = (name: string, type: string, priority = 0, format = '') => ({ name, type, format, description: name, priority });
  return {
    kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: '1' },
    columnDefinitions: [col('Name', 'string', 0, 'name'), col('Ready', 'string'), col('Status', 'string'), col('Restarts', 'string'), col('Age', 'string'), col('IP', 'string', 1), col('Node', 'string', 1)],
    rows: items.map((it) => ({
      cells: [it.metadata.name, it.status.containerStatuses[0]!.ready ? '1/1' : '0/1', it.status.containerStatuses[0]!.ready ? 'Running' : 'CrashLoopBackOff', String(it.status.containerStatuses[0]!.restartCount), humanDuration(Date.now() - new Date(it.metadata.creationTimestamp).getTime()), node.advertiseAddress, node.nodeName],
      object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: it.metadata },
    })),
  };
}

function versionInfo() {
  const m = /^v(\d+)\.(\d+)/.exec(node.version);
  const goVersion = atLeast(node.version, '1.30.0') ? 'go1.22.8' : atLeast(node.version, '1.28.0') ? 'go1.22.8' : atLeast(node.version, '1.18.0') ? 'go1.13.15' : 'go1.10.8';
  return {
    major: m?.[1] ?? '1',
    minor: m?.[2] ?? '0',
    gitVersion: node.version,
    gitCommit: createHash('sha1').update(node.version).digest('hex'),
    gitTreeState: 'clean',
    buildDate: '2024-10-22T20:26:08Z',
    goVersion,
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

async function handleApi(pod: Pod, c: ContainerStatus, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const sock = req.socket as TLSSocket;
  const url = new URL(req.url ?? '/', 'https://x');
  const path = url.pathname.replace(/\/$/, '') || '/';
  const peer = sock.getPeerCertificate?.();
  const hasCert = !!peer && Object.keys(peer).length > 0;
  let user = 'system:anonymous';
  if (hasCert) {
    if (!sock.authorized) {
      const reason = String(sock.authorizationError) === 'CERT_HAS_EXPIRED' ? 'x509: certificate has expired or is not yet valid' : 'x509: certificate signed by unknown authority';
      clog(c, 'E', 'authentication.go:73', `"Unable to authenticate the request" err="[${reason}, verifying certificate SN=${BigInt('0x' + peer.serialNumber).toString()}, SKID=, AKID= failed: ${reason}]"`);
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
  const etcdErr = path === '/livez' ? undefined : await etcdError(pod, c);
  switch (path) {
    case '/version':
      if (etcdErr) return send(res, 500, statusBody(500, 'InternalError', `etcdserver: request timed out (${etcdErr})`));
      return send(res, 200, JSON.stringify(versionInfo(), null, 2));
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
      return send(res, 200, JSON.stringify({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `${node.advertiseAddress}:${node.apiPort}` }] }));
    case '/apis':
      return send(res, 200, JSON.stringify({ kind: 'APIGroupList', apiVersion: 'v1', groups: [] }));
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
  // worker nodes (and the list): stored in etcd by their kubelets (nodes-api.ts)
  const workers = pod.etcd && (await nodesApi({ req, method: req.method ?? 'GET', path, wantTable: accept.includes('as=Table'), etcd: pod.etcd, controlPlaneNode: nodeObject(pod), graceMs: node.nodeMonitorGraceMs ?? 40_000, seedDir: r(NODES_SEED_DIR) }));
  if (workers) return send(res, workers.code, workers.body);
  if (path === '/api/v1/nodes') return send(res, 200, JSON.stringify(nodeTable(pod, accept.includes('as=Table'))));
  if (path === `/api/v1/nodes/${node.nodeName}`) return send(res, 200, JSON.stringify(nodeObject(pod)));
  if (path.startsWith('/api/v1/nodes/')) {
    return send(res, 404, statusBody(404, 'NotFound', `nodes "${path.split('/').pop()}" not found`));
  }
  if (path === '/api/v1/pods' || path === '/api/v1/namespaces/kube-system/pods') {
    return send(res, 200, JSON.stringify(podList(accept.includes('as=Table'))));
  }
  if (path.startsWith('/api/v1/namespaces/') && path.endsWith('/pods')) {
    return send(res, 200, JSON.stringify(accept.includes('as=Table') ? { ...podList(true), rows: [] } : { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [] }));
  }
  if (path === '/api/v1/namespaces/kube-system/configmaps/kubeadm-config') {
    let cfg = '';
    try {
      cfg = readFileSync(r(NODE.simState + '/kubeadm-config.yaml'), 'utf8');
    } catch { /* empty */ }
    return send(res, 200, JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'kubeadm-config', namespace: 'kube-system' }, data: { ClusterConfiguration: cfg } }));
  }
  send(res, 404, statusBody(404, 'NotFound', 'the server could not find the requested resource'));
}

// ---------------------------------------------------------------- the kubelet loop

function tick(): void {
  const now = Date.now();
  if (kubelet.state === 'activating' && now >= kubelet.nextRetry) {
    kubelet.restarts += 1;
    journal('systemd[1]', `kubelet.service: Scheduled restart job, restart counter is at ${kubelet.restarts}.`);
    journal('systemd[1]', 'Stopped kubelet: The Kubernetes Node Agent.');
    kubeletStartAttempt();
  }
  if (kubelet.state === 'active') {
    if (now >= kubelet.nextScan) {
      scanManifests();
      kubelet.nextScan = now + kubelet.fileCheckMs;
    }
    for (const pod of pods.values()) {
      if (pod.sandboxState !== 'ready' || pod.needSandbox) {
        if (pod.restartAt === undefined) pod.restartAt = now + node.containerRestartMs;
      }
      const c = pod.container;
      const needStart = !c || c.state === 'exited' || pod.sandboxState !== 'ready';
      if (needStart) {
        if (pod.restartAt === undefined) pod.restartAt = now + node.containerRestartMs;
        if (now >= pod.restartAt) startContainer(pod);
      }
    }
  }
  writeStatus();
}

let lastStatus = '';
export function statusSnapshot(): AgentStatus {
  const api = pods.get('kube-apiserver');
  const etcd = pods.get('etcd');
  return {
    pid: process.pid,
    updatedAt: new Date().toISOString(),
    kubelet: { state: kubelet.state, since: new Date(kubelet.since).toISOString(), everActive: kubelet.everActive, mainPid: kubelet.mainPid, restarts: kubelet.restarts, lastError: kubelet.lastError },
    pods: [...pods.values()].map((p) => ({
      name: p.name, component: p.component, manifest: p.manifest, uid: p.uid, sandboxId: p.sandboxId, sandboxAttempt: p.sandboxAttempt,
      sandboxState: p.sandboxState, sandboxCreatedAt: p.sandboxCreatedAt, container: p.container, history: p.history.slice(-5), restartCount: p.restartCount,
    })),
    apiserver: { listening: api?.container?.state === 'running' && !!api.api, address: node.advertiseAddress, port: node.apiPort, servingSerial: api?.api?.serving.serial },
    etcd: { listening: etcd?.container?.state === 'running', port: node.etcdPort, servingSerial: etcd?.etcdRt?.serving.serial },
  };
}

function writeStatus(): void {
  const s = statusSnapshot();
  const key = JSON.stringify({ ...s, updatedAt: '' });
  if (key === lastStatus) return;
  lastStatus = key;
  writeFileSync(statusFile + '.tmp', JSON.stringify(s, null, 2));
  renameSync(statusFile + '.tmp', statusFile);
}

// ---------------------------------------------------------------- commands (systemctl, crictl, docker)

interface Reply {
  code: number;
  stdout: string;
  stderr: string;
}
const ok = (stdout = ''): Reply => ({ code: 0, stdout, stderr: '' });
const fail = (stderr: string, code = 1, stdout = ''): Reply => ({ code, stdout, stderr });

const KNOWN_UNITS: Record<string, string> = {
  kubelet: 'kubelet: The Kubernetes Node Agent',
};

function unitName(a: string): string {
  return a.replace(/\.service$/, '');
}

function systemctl(args: string[]): Reply {
  const positional = args.filter((a) => !a.startsWith('-'));
  const verb = positional[0];
  const units = positional.slice(1).map(unitName);
  const runtimeUnit = node.runtime === 'docker' ? 'docker' : 'containerd';
  const known = (u: string) => u === 'kubelet' || u === runtimeUnit;
  switch (verb) {
    case 'daemon-reload':
      return ok();
    case 'start':
    case 'stop':
    case 'restart':
    case 'try-restart':
    case 'reload-or-restart': {
      if (units.length === 0) return fail(`Too few arguments.\n`);
      for (const u of units) {
        if (!known(u)) return fail(`Failed to ${verb === 'start' ? 'start' : verb === 'stop' ? 'stop' : 'restart'} ${u}.service: Unit ${u}.service not found.\n`, 5);
      }
      for (const u of units) {
        if (u !== 'kubelet') continue;
        if (verb === 'stop') kubeletStop();
        else if (verb === 'start') {
          if (kubelet.state === 'inactive' || kubelet.state === 'failed') kubeletStartAttempt();
        } else {
          if (verb === 'try-restart' && kubelet.state === 'inactive') continue;
          kubeletStop();
          kubeletStartAttempt();
        }
      }
      writeStatus();
      return ok();
    }
    case 'is-active': {
      let code = 0;
      let out = '';
      for (const u of units) {
        const s = u === 'kubelet' ? kubelet.state : known(u) ? 'active' : 'inactive';
        if (s !== 'active') code = 3;
        out += (args.includes('--quiet') || args.includes('-q') ? '' : s + '\n');
      }
      return { code, stdout: out, stderr: '' };
    }
    case 'is-enabled': {
      const all = units.every(known);
      return { code: all ? 0 : 1, stdout: units.map((u) => (known(u) ? 'enabled' : '')).filter(Boolean).join('\n') + (all ? '\n' : ''), stderr: all ? '' : `Failed to get unit file state for ${units.find((u) => !known(u))}.service: No such file or directory\n` };
    }
    case 'is-failed': {
      const s = units[0] === 'kubelet' ? kubelet.state : 'active';
      return { code: s === 'failed' ? 0 : 1, stdout: s + '\n', stderr: '' };
    }
    case 'enable':
    case 'disable':
      return ok();
    case 'status': {
      const u = units[0] ?? 'kubelet';
      if (!known(u)) return fail(`Unit ${u}.service could not be found.\n`, 4);
      if (u !== 'kubelet') {
        return ok(`● ${u}.service - ${u}\n     Loaded: loaded (/lib/systemd/system/${u}.service; enabled; vendor preset: enabled)\n     Active: active (running) since ${systemdTime(new Date(node.createdAt))}; ${systemdAgo(Date.now() - new Date(node.createdAt).getTime())}\n`);
      }
      const since = new Date(kubelet.since);
      const head = [
        `${kubelet.state === 'active' ? '●' : kubelet.state === 'inactive' ? '○' : '●'} kubelet.service - ${KNOWN_UNITS.kubelet}`,
        '     Loaded: loaded (/lib/systemd/system/kubelet.service; enabled; vendor preset: enabled)',
        '    Drop-In: /usr/lib/systemd/system/kubelet.service.d',
        '             └─10-kubeadm.conf',
      ];
      let active: string;
      const execStart = '/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS';
      const lines: string[] = [];
      if (kubelet.state === 'active') {
        active = `     Active: active (running) since ${systemdTime(since)}; ${systemdAgo(Date.now() - kubelet.since)}`;
        lines.push('       Docs: https://kubernetes.io/docs/home/', `   Main PID: ${kubelet.mainPid} (kubelet)`, '      Tasks: 14 (limit: 4557)', '     Memory: 43.2M', '     CGroup: /system.slice/kubelet.service', `             └─${kubelet.mainPid} /usr/bin/kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml`);
      } else if (kubelet.state === 'activating') {
        active = `     Active: activating (auto-restart) (Result: exit-code) since ${systemdTime(since)}; ${systemdAgo(Date.now() - kubelet.since)}`;
        lines.push('       Docs: https://kubernetes.io/docs/home/', `    Process: ${kubelet.mainPid} ExecStart=${execStart} (code=exited, status=255/EXCEPTION)`, `   Main PID: ${kubelet.mainPid} (code=exited, status=255/EXCEPTION)`);
      } else {
        active = `     Active: inactive (dead)${kubelet.everActive ? ` since ${systemdTime(since)}; ${systemdAgo(Date.now() - kubelet.since)}` : ''}`;
        lines.push('       Docs: https://kubernetes.io/docs/home/');
      }
      const tail = readJournal().slice(-10);
      const out = [...head, active, ...lines, '', ...tail].join('\n') + '\n';
      return { code: kubelet.state === 'active' ? 0 : 3, stdout: out, stderr: '' };
    }
    default:
      return fail(`Unknown command verb ${verb ?? ''}.\n`);
  }
}

function readJournal(): string[] {
  try {
    return readFileSync(journalFile, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

// -- container listing shared by crictl and docker

interface Row {
  pod: Pod;
  c: ContainerStatus;
}

function allContainers(includeExited: boolean): Row[] {
  const rows: Row[] = [];
  for (const pod of pods.values()) {
    for (const c of [...pod.history.slice(-1), ...(pod.container ? [pod.container] : [])]) {
      if (!includeExited && c.state === 'exited') continue;
      rows.push({ pod, c });
    }
  }
  return rows.sort((a, b) => b.c.createdAt.localeCompare(a.c.createdAt));
}

function findContainer(id: string): Row | undefined {
  for (const pod of pods.values()) {
    for (const c of [...pod.history, ...(pod.container ? [pod.container] : [])]) {
      if (c.id.startsWith(id) && id.length >= 1) return { pod, c };
    }
  }
  return undefined;
}

function findSandbox(id: string): Pod | undefined {
  for (const pod of pods.values()) if (pod.sandboxId && pod.sandboxId.startsWith(id)) return pod;
  return undefined;
}

function imageId(image: string): string {
  return createHash('sha256').update(image).digest('hex');
}

function ago(iso: string): string {
  return unitsHumanDuration(Date.now() - new Date(iso).getTime()) + ' ago';
}

/** Stop a container from outside: the kubelet will start a new one (if it is running). */
function externalStop(row: Row): void {
  if (row.c.state !== 'exited' && row.pod.container === row.c) {
    stopContainer(row.pod, 0, 'stopped by the container runtime');
    row.c.exitCode = 0;
    row.pod.restartAt = Date.now() + node.containerRestartMs;
    row.pod.backoff = 0;
  }
}

function removeSandbox(pod: Pod): void {
  stopContainer(pod, 0, 'sandbox removed');
  pod.history = [];
  pod.container = undefined;
  pod.backoff = 0;
  pod.sandboxState = 'notready';
  pod.needSandbox = true;
  pod.restartAt = Date.now() + node.containerRestartMs;
}

function opt(args: string[], ...names: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    for (const n of names) {
      if (a === n) return args[i + 1];
      if (a.startsWith(n + '=')) return a.slice(n.length + 1);
    }
  }
  return undefined;
}

function crictl(args: string[]): Reply {
  const verb = args.find((a) => !a.startsWith('-'));
  const rest = args.slice(args.indexOf(verb ?? '') + 1);
  const flags = new Set(rest.filter((a) => a.startsWith('-')));
  const ids = rest.filter((a, i) => !a.startsWith('-') && !['--name', '--pod', '--state', '-o', '--output', '--tail', '--label'].includes(rest[i - 1] ?? ''));
  const quiet = flags.has('-q') || flags.has('--quiet');
  switch (verb) {
    case 'ps': {
      const all = flags.has('-a') || flags.has('--all');
      const name = opt(rest, '--name');
      const podF = opt(rest, '--pod', '-p');
      const state = opt(rest, '--state', '-s');
      let rows = allContainers(all || !!state);
      if (name) rows = rows.filter((x) => new RegExp(name).test(x.c.name));
      if (podF) rows = rows.filter((x) => x.pod.sandboxId.startsWith(podF));
      if (state) rows = rows.filter((x) => (x.c.state === 'running' ? 'running' : 'exited') === state.toLowerCase());
      if (quiet) return ok(rows.map((x) => x.c.id).join('\n') + (rows.length ? '\n' : ''));
      const lines = [['CONTAINER', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'ATTEMPT', 'POD ID', 'POD']];
      for (const x of rows) {
        lines.push([x.c.id.slice(0, 13), imageId(x.pod.image).slice(0, 13), ago(x.c.createdAt), x.c.state === 'running' ? 'Running' : x.c.state === 'starting' ? 'Running' : 'Exited', x.c.name, String(x.c.attempt), x.pod.sandboxId.slice(0, 13), x.pod.name]);
      }
      return ok(tabwrite(lines, 20, 3));
    }
    case 'pods': {
      const name = opt(rest, '--name');
      let list = [...pods.values()].filter((p) => p.sandboxId);
      if (name) list = list.filter((p) => new RegExp(name).test(p.name));
      if (flags.has('--state') || opt(rest, '--state')) list = list.filter((p) => (p.sandboxState === 'ready' ? 'ready' : 'notready') === (opt(rest, '--state') ?? '').toLowerCase());
      if (quiet) return ok(list.map((p) => p.sandboxId).join('\n') + (list.length ? '\n' : ''));
      const lines = [['POD ID', 'CREATED', 'STATE', 'NAME', 'NAMESPACE', 'ATTEMPT', 'RUNTIME']];
      for (const p of list) lines.push([p.sandboxId.slice(0, 13), ago(p.sandboxCreatedAt), p.sandboxState === 'ready' ? 'Ready' : 'NotReady', p.name, 'kube-system', String(p.sandboxAttempt), '(default)']);
      return ok(tabwrite(lines, 20, 3));
    }
    case 'stop': {
      if (!ids.length) return fail(`time="${new Date().toISOString()}" level=fatal msg="ID cannot be empty"\n`);
      let out = '';
      for (const id of ids) {
        const row = findContainer(id);
        if (!row) return fail(`E0000 00:00:00.000000 1 remote_runtime.go:366] "StopContainer from runtime service failed" err="rpc error: code = NotFound desc = an error occurred when try to find container \\"${id}\\": not found" containerID="${id}"\ntime="${new Date().toISOString()}" level=fatal msg="stopping the container \\"${id}\\": rpc error: code = NotFound desc = an error occurred when try to find container \\"${id}\\": not found"\n`, 1, out);
        externalStop(row);
        out += id + '\n';
      }
      writeStatus();
      return ok(out);
    }
    case 'rm': {
      let out = '';
      for (const id of ids) {
        const row = findContainer(id);
        if (!row) return fail(`time="${new Date().toISOString()}" level=fatal msg="removing the container \\"${id}\\": rpc error: code = NotFound desc = an error occurred when try to find container \\"${id}\\": not found"\n`, 1, out);
        if (row.c.state !== 'exited' && !(flags.has('-f') || flags.has('--force'))) {
          return fail(`time="${new Date().toISOString()}" level=fatal msg="removing the container \\"${id}\\": rpc error: code = Unknown desc = failed to remove container \\"${row.c.id}\\": cannot delete running task ${row.c.id}: failed precondition"\n`, 1, out);
        }
        externalStop(row);
        row.pod.history = row.pod.history.filter((h) => h !== row.c);
        out += id + '\n';
      }
      writeStatus();
      return ok(out);
    }
    case 'stopp':
    case 'rmp': {
      if (!ids.length && !(flags.has('-a') || flags.has('--all'))) return fail(`time="${new Date().toISOString()}" level=fatal msg="ID cannot be empty"\n`);
      const targets = ids.length ? ids : [...pods.values()].map((p) => p.sandboxId);
      let out = '';
      for (const id of targets) {
        const pod = findSandbox(id);
        if (!pod) return fail(`time="${new Date().toISOString()}" level=fatal msg="${verb === 'rmp' ? 'removing' : 'stopping'} the pod sandbox \\"${id}\\": rpc error: code = NotFound desc = an error occurred when try to find sandbox \\"${id}\\": not found"\n`, 1, out);
        if (verb === 'rmp' && pod.sandboxState === 'ready' && !(flags.has('-f') || flags.has('--force'))) {
          return fail(`time="${new Date().toISOString()}" level=fatal msg="removing the pod sandbox \\"${id}\\": rpc error: code = Unknown desc = pod sandbox \\"${pod.sandboxId}\\" is not stopped, please stop it first"\n`, 1, out);
        }
        if (pod.sandboxState === 'ready') out += `Stopped sandbox ${id}\n`;
        removeSandbox(pod);
        if (verb === 'rmp') {
          out += `Removed sandbox ${id}\n`;
          pod.sandboxId = pod.sandboxId; // the kubelet will create a new one
        }
      }
      writeStatus();
      return ok(out);
    }
    case 'logs': {
      const id = ids[0];
      const row = id ? findContainer(id) : undefined;
      if (!row) return fail(`time="${new Date().toISOString()}" level=fatal msg="rpc error: code = NotFound desc = an error occurred when try to find container \\"${id ?? ''}\\": not found"\n`);
      const tail = Number(opt(rest, '--tail') ?? '-1');
      let lines: string[] = [];
      try {
        lines = readFileSync(containerLogPath(row.c.id), 'utf8').split('\n').filter(Boolean);
      } catch { /* empty */ }
      if (tail >= 0) lines = lines.slice(-tail);
      return { code: 0, stdout: '', stderr: lines.map((l) => l + '\n').join('') };
    }
    case 'inspect': {
      const row = ids[0] ? findContainer(ids[0]) : undefined;
      if (!row) return fail(`time="${new Date().toISOString()}" level=fatal msg="getting the status of the container: not found"\n`);
      return ok(JSON.stringify({ status: { id: row.c.id, metadata: { name: row.c.name, attempt: row.c.attempt }, state: row.c.state === 'exited' ? 'CONTAINER_EXITED' : 'CONTAINER_RUNNING', createdAt: row.c.createdAt, startedAt: row.c.startedAt, finishedAt: row.c.finishedAt ?? '0001-01-01T00:00:00Z', exitCode: row.c.exitCode ?? 0, image: { image: row.pod.image }, labels: { 'io.kubernetes.container.name': row.c.name, 'io.kubernetes.pod.name': row.pod.name, 'io.kubernetes.pod.namespace': 'kube-system', 'io.kubernetes.pod.uid': row.pod.uid } } }, null, 2) + '\n');
    }
    case 'version':
      return ok(`Version:  0.1.0\nRuntimeName:  containerd\nRuntimeVersion:  v1.7.22\nRuntimeApiVersion:  v1\n`);
    default:
      return fail(`No help topic for '${verb ?? ''}'\n`);
  }
}

function dockerName(pod: Pod, c: ContainerStatus | 'POD'): string {
  return c === 'POD' ? `k8s_POD_${pod.name}_kube-system_${pod.uid}_${Math.max(0, pod.sandboxAttempt)}` : `k8s_${c.name}_${pod.name}_kube-system_${pod.uid}_${c.attempt}`;
}

interface DockerRow {
  id: string;
  image: string;
  command: string;
  created: string;
  status: string;
  names: string;
  running: boolean;
  pod: Pod;
  c?: ContainerStatus;
}

function dockerRows(all: boolean): DockerRow[] {
  const rows: DockerRow[] = [];
  for (const pod of pods.values()) {
    for (const c of [...pod.history.slice(-1), ...(pod.container ? [pod.container] : [])]) {
      const running = c.state !== 'exited';
      if (!all && !running) continue;
      rows.push({
        id: c.id, image: imageId(pod.image).slice(0, 12),
        command: `"${(pod.command.join(' ')).slice(0, 19)}…"`,
        created: ago(c.createdAt),
        status: running ? `Up ${unitsHumanDuration(Date.now() - new Date(c.startedAt ?? c.createdAt).getTime())}` : `Exited (${c.exitCode ?? 0}) ${ago(c.finishedAt ?? c.createdAt)}`,
        names: dockerName(pod, c), running, pod, c,
      });
    }
    if (pod.sandboxId && (all || pod.sandboxState === 'ready')) {
      rows.push({
        id: pod.sandboxId, image: images(node).pause, command: '"/pause"', created: ago(pod.sandboxCreatedAt),
        status: pod.sandboxState === 'ready' ? `Up ${unitsHumanDuration(Date.now() - new Date(pod.sandboxCreatedAt).getTime())}` : 'Exited (0) Less than a second ago',
        names: dockerName(pod, 'POD'), running: pod.sandboxState === 'ready', pod,
      });
    }
  }
  return rows;
}

function dockerFind(ref: string): DockerRow | undefined {
  const rows = dockerRows(true);
  return rows.find((x) => x.names === ref) ?? rows.find((x) => x.id.startsWith(ref));
}

function docker(args: string[]): Reply {
  const verb = args.find((a) => !a.startsWith('-'));
  const rest = args.slice(args.indexOf(verb ?? '') + 1);
  const valueFlags = ['--filter', '-f', '--format', '--tail', '-t', '--time', '-n'];
  const ids = rest.filter((a, i) => !a.startsWith('-') && !valueFlags.includes(rest[i - 1] ?? ''));
  const has = (...f: string[]) => f.some((x) => rest.includes(x));
  const noSuch = (id: string) => `Error response from daemon: No such container: ${id}\n`;
  switch (verb) {
    case 'ps': {
      let rows = dockerRows(has('-a', '--all'));
      const filters: string[] = [];
      rest.forEach((a, i) => {
        if ((a === '--filter' || a === '-f') && rest[i + 1]) filters.push(rest[i + 1]!);
        else if (a.startsWith('--filter=')) filters.push(a.slice(9));
      });
      for (const f of filters) {
        const [k, v = ''] = f.split('=');
        if (k === 'name') rows = rows.filter((x) => new RegExp(v).test(x.names));
        if (k === 'status') rows = rows.filter((x) => (x.running ? 'running' : 'exited') === v);
        if (k === 'id') rows = rows.filter((x) => x.id.startsWith(v));
      }
      if (has('-q', '--quiet')) return ok(rows.map((x) => x.id.slice(0, 12) + '\n').join(''));
      const fmt = opt(rest, '--format');
      if (fmt) {
        return ok(rows.map((x) => fmt
          .replace(/\{\{\s*\.ID\s*\}\}/g, x.id.slice(0, 12)).replace(/\{\{\s*\.Names\s*\}\}/g, x.names).replace(/\{\{\s*\.Image\s*\}\}/g, x.image)
          .replace(/\{\{\s*\.Status\s*\}\}/g, x.status).replace(/\{\{\s*\.Command\s*\}\}/g, x.command).replace(/\\t/g, '\t') + '\n').join(''));
      }
      const lines = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']];
      for (const x of rows) lines.push([x.id.slice(0, 12), x.image, x.command, x.created, x.status, '', x.names]);
      return ok(tabwrite(lines, 20, 3));
    }
    case 'stop':
    case 'kill':
    case 'restart':
    case 'rm': {
      let out = '';
      for (const id of ids) {
        const row = dockerFind(id);
        if (!row) return fail(noSuch(id), 1, out);
        if (verb === 'rm' && row.running && !has('-f', '--force')) {
          return fail(`Error response from daemon: You cannot remove a running container ${row.id}. Stop the container before attempting removal or force remove\n`, 1, out);
        }
        if (!row.c) {
          // the pause container: the kubelet recreates the whole pod
          removeSandbox(row.pod);
        } else if (verb === 'restart') {
          if (row.pod.container === row.c) {
            stopContainer(row.pod, 0, 'restarted');
            row.c.state = 'starting';
            row.c.finishedAt = undefined;
            row.c.loaded = {};
            row.c.error = undefined;
            runComponent(row.pod, row.c);
          }
        } else {
          externalStop({ pod: row.pod, c: row.c });
          if (verb === 'rm') row.pod.history = row.pod.history.filter((h) => h !== row.c);
        }
        out += id + '\n';
      }
      writeStatus();
      return ok(out);
    }
    case 'logs': {
      const row = ids[0] ? dockerFind(ids[0]) : undefined;
      if (!row?.c) return fail(noSuch(ids[0] ?? ''));
      let lines: string[] = [];
      try {
        lines = readFileSync(containerLogPath(row.c.id), 'utf8').split('\n').filter(Boolean);
      } catch { /* empty */ }
      const tail = opt(rest, '--tail', '-n');
      if (tail && tail !== 'all') lines = lines.slice(-Number(tail));
      return { code: 0, stdout: '', stderr: lines.map((l) => l + '\n').join('') };
    }
    case 'version':
      return ok('Client:\n Version:      18.06.3-ce\n\nServer:\n Engine:\n  Version:      18.06.3-ce\n');
    default:
      return fail(`docker: '${verb ?? ''}' is not a docker command.\nSee 'docker --help'\n`);
  }
}

function dispatch(cmd: string, args: string[]): Reply {
  switch (cmd) {
    case 'systemctl':
      return systemctl(args);
    case 'crictl':
      return node.runtime === 'containerd' ? crictl(args) : fail('crictl: runtime is docker\n');
    case 'docker':
      return node.runtime === 'docker' ? docker(args) : fail('Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n');
    case 'status':
      return ok(JSON.stringify(statusSnapshot()));
    default:
      return fail(`unknown command ${cmd}\n`);
  }
}

// ---------------------------------------------------------------- control socket and lifecycle

function serveControl(): NetServer {
  rmSync(sockPath, { force: true });
  const srv = createNetServer((sock: Socket) => {
    let buf = '';
    sock.on('error', () => undefined);
    sock.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let reply: Reply;
      try {
        const req = JSON.parse(buf.slice(0, nl)) as { cmd: string; args: string[] };
        reply = dispatch(req.cmd, req.args);
      } catch (e) {
        reply = fail(`agent error: ${(e as Error).message}\n`);
      }
      sock.end(JSON.stringify(reply) + '\n');
    });
  });
  // UNIX socket paths are limited to ~107 bytes: listen relative to the run directory.
  const cwd = process.cwd();
  process.chdir(runDir);
  srv.listen(basename(sockPath));
  process.chdir(cwd);
  return srv;
}

/** An etcd left by an agent that was killed (SIGKILL): stop it by its recorded PID, if it is still that etcd. */
function reapStaleEtcd(): void {
  let pid = 0;
  try {
    pid = Number(readFileSync(join(runDir, 'etcd.pid'), 'utf8'));
  } catch {
    return;
  }
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (pid > 0 && cmd.includes(r('/var/lib/etcd'))) process.kill(pid, 'SIGKILL');
  } catch { /* gone */ }
  rmSync(join(runDir, 'etcd.pid'), { force: true });
}

function main(): void {
  reapStaleEtcd();
  writeFileSync(join(runDir, 'agent.pid'), String(process.pid));
  // boot: systemd starts the enabled kubelet unit
  kubeletStartAttempt();
  const ctl = serveControl();
  writeStatus();
  const timer = setInterval(tick, 100);
  const shutdown = async () => {
    clearInterval(timer);
    for (const p of pods.values()) stopContainer(p, 0, 'node agent stopped');
    await etcdExiting; // etcd holds the data dir and its ports until it has exited
    rmSync(join(runDir, 'etcd.pid'), { force: true });
    ctl.close();
    rmSync(sockPath, { force: true });
    rmSync(join(runDir, 'agent.pid'), { force: true });
    try {
      const s = JSON.parse(readFileSync(statusFile, 'utf8')) as AgentStatus;
      s.kubelet.state = 'inactive';
      s.apiserver.listening = false;
      s.etcd.listening = false;
      s.pid = 0;
      writeFileSync(statusFile, JSON.stringify(s, null, 2));
    } catch { /* empty */ }
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
  process.on('SIGHUP', () => undefined);
}

main();
