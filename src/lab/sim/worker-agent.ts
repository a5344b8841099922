// The node agent of a worker (worker.ts): systemd's kubelet unit and the kubelet, nothing else.
// The kubelet checks kubelet.conf's client certificate when it starts, exactly where the real one does
// (bootstrap.go: an expired one, with no bootstrap-kubelet.conf to fall back to, stops it), then tells
// the API server named in kubelet.conf that it is alive as its version does (./node-heartbeat.ts): its
// node status at once, then every nodeStatusUpdateFrequency without a node Lease; with one, the Lease
// renewed at once and every renew interval, the status only on a change or every
// nodeStatusReportFrequency. Every timestamp is the kubelet's clock at the post; a stopped kubelet
// posts nothing more (a request it had begun is dropped). All over real TLS: the server certificate
// checked against kubelet.conf's CA, its client certificate presented.
// Which client certificate: the one kubelet.conf points at, or (embedded in kubelet.conf) the kubelet's
// store's kubelet-client-current.pem when there is one, else the embedded one (the certificate manager's rule).
// Usage: node worker-agent.js <root>. systemctl/crictl/journalctl talk to it over <root>/run/sim/agent.sock.
// Like the control plane's agent (./agent/), all it keeps is one WorkerState, made once at start (createWorkerState)
// and passed to every part; what both kinds of node have comes from ./agent/state.ts.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join, resolve } from 'node:path';
import { NODE } from './paths.js';
import { atLeast, loadNode } from './node.js';
import { expiredAt, goTime, parseCert, parseKubeconfig, type CertInfo } from './pki.js';
import { microTime, rfc3339, systemdAgo, systemdTime } from './format.js';
import { createNodeAgentState, journal, kubeletLog, nextPid, setUnit, stopUnit, unitExited, type AgentStatus, type KubeletUnitBase, type NodeAgentState } from './agent/state.js';
import { leaseClientVersion, leaseDurationSeconds, leaseRenewMs, statusReportMs, statusUpdateMs, usesNodeLease } from './node-heartbeat.js';
import { NODE_LEASE_NAMESPACE, type Lease } from './leases-api.js';
import type { NodeCondition } from './nodes-api.js';
import { kubeletClientCert } from './agent/kubelet-files.js';
import { fail, ok, type Reply } from './agent/reply.js';
import { serveRequests } from './agent/control.js';

const KUBELET_CONF = NODE.kubeDir + '/kubelet.conf';
const STORE_CURRENT = NODE.kubeletPki + '/kubelet-client-current.pem';

/** a worker's kubelet unit, with its node status posts and Lease renewals */
interface WorkerKubelet extends KubeletUnitBase {
  nextBeat: number;
  beating: boolean;
  /** the last status post the API server accepted, and the last error */
  lastHeartbeat: string | undefined;
  lastHeartbeatError: string | undefined;
  /** when this kubelet process last posted its status (0: not yet; it posts at once) */
  lastReport: number;
  nextLease: number;
  renewing: boolean;
  /** the Lease as this kubelet process last wrote it (its resourceVersion for the next update) */
  lease: Lease | undefined;
  lastLeaseRenew: string | undefined;
  lastLeaseError: string | undefined;
}

interface WorkerState extends NodeAgentState<WorkerKubelet> {
  /** the client the running kubelet posts with (read when it started) */
  creds: ClientCreds | undefined;
}

/** The worker agent's state for the node under `root`; makes its run and log directories. */
function createWorkerState(root: string): WorkerState {
  const base = createNodeAgentState(root, {
    nextBeat: 0, beating: false, lastHeartbeat: undefined as string | undefined, lastHeartbeatError: undefined as string | undefined,
    lastReport: 0, nextLease: 0, renewing: false, lease: undefined as Lease | undefined, lastLeaseRenew: undefined as string | undefined, lastLeaseError: undefined as string | undefined,
  });
  return { ...base, creds: undefined };
}

interface ClientCreds {
  server: string;
  ca?: string;
  cert: string;
  key: string;
  info: CertInfo;
}

/** The credentials the kubelet's client uses (read when it starts, as the certificate manager does). */
function clientCreds({ r }: WorkerState): ClientCreds {
  const kc = parseKubeconfig(readFileSync(r(KUBELET_CONF), 'utf8'));
  let cert: string;
  let key: string;
  if (kc.clientCert && kc.clientKey) {
    if (existsSync(r(STORE_CURRENT))) {
      const both = readFileSync(r(STORE_CURRENT), 'utf8');
      cert = both;
      key = both;
    } else {
      cert = kc.clientCert;
      key = kc.clientKey;
    }
  } else {
    cert = readFileSync(r(kc.clientCertFile ?? STORE_CURRENT), 'utf8');
    key = readFileSync(r(kc.clientKeyFile ?? kc.clientCertFile ?? STORE_CURRENT), 'utf8');
  }
  return { server: kc.server, ca: kc.caCert, cert, key, info: parseCert(cert) };
}

function kubeletStartAttempt(st: WorkerState): void {
  st.node = loadNode(st.root);
  st.kubelet.mainPid = nextPid(st);
  journal(st, 'systemd[1]', 'Started kubelet: The Kubernetes Node Agent.');
  // kubelet.conf's own client certificate (embedded, or the file it names): what bootstrap.go checks
  const { cert, error } = kubeletClientCert(st);
  const noBootstrap = 'failed to run Kubelet: unable to load bootstrap kubeconfig: stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory';
  let fail: string | undefined;
  if (cert && expiredAt(cert)) {
    if (atLeast(st.node.version, '1.20.0')) {
      kubeletLog(st, 'E', 'bootstrap.go:266', `"Part of the existing bootstrap client certificate in kubeconfig is expired" path="${KUBELET_CONF}" expirationDate="${goTime(cert.notAfter)}"`);
    } else {
      kubeletLog(st, 'E', 'bootstrap.go:265', `part of the existing bootstrap client certificate is expired: ${goTime(cert.notAfter)}`);
    }
    fail = noBootstrap;
  } else if (error === 'missing') {
    fail = noBootstrap;
  } else if (error) {
    kubeletLog(st, 'E', 'bootstrap.go:265', `unable to read existing bootstrap client config from ${KUBELET_CONF}: ${error}`);
    fail = noBootstrap;
  }
  if (!fail) {
    try {
      st.creds = clientCreds(st);
    } catch (e) {
      fail = `failed to run Kubelet: failed to initialize client certificate manager: ${(e as Error).message}`;
    }
  }
  if (fail) {
    kubeletLog(st, 'F', 'server.go:274', fail);
    st.kubelet.lastError = fail;
    kubeletExited(st, 'code=exited, status=1/FAILURE', 'exit-code');
    return;
  }
  st.kubelet.lastError = undefined;
  kubeletLog(st, 'I', 'server.go:417', `Kubelet version kubeletVersion="${st.node.version}"`);
  if (st.creds && expiredAt(st.creds.info)) kubeletLog(st, 'E', 'certificate_manager.go:488', `"Current certificate is expired" subject="O=${st.creds.info.orgs.join('+O=')},CN=${st.creds.info.cn}"`);
  setUnit(st, 'active');
  st.kubelet.everActive = true;
  // a new process: it posts its status and renews its Lease at once
  st.kubelet.nextBeat = 0;
  st.kubelet.nextLease = 0;
  st.kubelet.lastReport = 0;
  st.kubelet.lease = undefined;
}

function kubeletStop(st: WorkerState): void {
  stopUnit(st);
  st.creds = undefined;
}

/** The kubelet's process has exited (unitExited): its client goes with it. */
function kubeletExited(st: WorkerState, how: string, result: 'exit-code' | 'signal'): void {
  st.creds = undefined;
  unitExited(st, how, result);
}

// ---------------------------------------------------------------- node status

function api(c: ClientCreds, method: string, path: string, body?: unknown): Promise<{ code: number; text: string }> {
  const u = new URL(c.server);
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolveP, reject) => {
    const req = httpsRequest(
      {
        host: u.hostname, port: Number(u.port || 443), path, method, ca: c.ca, cert: c.cert, key: c.key, timeout: 5000,
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

function nodeBody(st: WorkerState, conditions: NodeCondition[]) {
  return {
    kind: 'Node', apiVersion: 'v1',
    metadata: { name: st.node.nodeName, labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/hostname': st.node.nodeName, 'kubernetes.io/os': 'linux' } },
    status: {
      conditions,
      addresses: [{ type: 'InternalIP', address: st.node.advertiseAddress }, { type: 'Hostname', address: st.node.nodeName }],
      nodeInfo: { kubeletVersion: st.node.version, containerRuntimeVersion: 'containerd://1.7.22', operatingSystem: 'linux', architecture: 'amd64' },
    },
  };
}

/**
 * The Ready condition this kubelet sets (nodestatus.ReadyCondition): its clock as lastHeartbeatTime,
 * the transition time kept while the status stays the same.
 */
function readyCondition(now: number, current: NodeCondition | undefined): NodeCondition {
  return { type: 'Ready', status: 'True', lastHeartbeatTime: rfc3339(now), lastTransitionTime: current?.status === 'True' ? current.lastTransitionTime : rfc3339(now), reason: 'KubeletReady', message: 'kubelet is posting ready status' };
}

/** The running kubelet process (its main PID): a request it began is dropped once it has stopped. */
function stillRunning(st: WorkerState, pid: number): boolean {
  return st.kubelet.state === 'active' && st.kubelet.mainPid === pid;
}

class Stopped extends Error {}

/** The API client of the kubelet process running now: a request not yet sent when that process stops is dropped (Stopped). */
function processClient(st: WorkerState, c: ClientCreds) {
  const pid = st.kubelet.mainPid;
  return async (method: string, path: string, body?: () => unknown) => {
    if (!stillRunning(st, pid)) throw new Stopped();
    return api(c, method, path, body?.());
  };
}

/**
 * A failed sync as the kubelet logs it, kept in `field`: logged once per distinct error (a retry failing
 * alike adds nothing); a refused connection in Go's words for `request` (`Get "<url>"`). A request
 * dropped by the stopped process is no failure.
 */
function syncFailed(st: WorkerState, c: ClientCreds, e: unknown, f: { field: 'lastHeartbeatError' | 'lastLeaseError'; request: string; where: string; what: string }): void {
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
async function heartbeat(st: WorkerState, c: ClientCreds): Promise<void> {
  const name = st.node.nodeName;
  const call = processClient(st, c);
  try {
    let got = await call('GET', `/api/v1/nodes/${name}`);
    if (got.code === 404) {
      const reg = await call('POST', '/api/v1/nodes', () => nodeBody(st, [readyCondition(Date.now(), undefined)]));
      if (reg.code !== 201 && reg.code !== 409) throw new Error(`Unable to register node with API server: ${statusMessage(reg.text, reg.code)}`);
      kubeletLog(st, 'I', 'kubelet_node_status.go:76', `"Successfully registered node" node="${name}"`);
      got = await call('GET', `/api/v1/nodes/${name}`);
    }
    if (got.code !== 200) throw new Error(`error getting node "${name}": ${statusMessage(got.text, got.code)}`);
    const current = (JSON.parse(got.text) as { status?: { conditions?: NodeCondition[] } }).status?.conditions?.find((x) => x.type === 'Ready');
    const changed = !current || current.status !== 'True' || current.reason !== 'KubeletReady';
    const since = Date.now() - st.kubelet.lastReport;
    if (usesNodeLease(st.node) && st.kubelet.lastReport > 0 && since < statusReportMs(st.node) && !changed) return;
    let posted = 0;
    const patch = await call('PATCH', `/api/v1/nodes/${name}/status`, () => {
      posted = Date.now();
      return { status: nodeBody(st, [readyCondition(posted, current)]).status };
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
async function renewLease(st: WorkerState, c: ClientCreds): Promise<void> {
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

/** One of the running kubelet's periodic syncs: started when due (every `periodMs`), one at a time. */
function loop(st: WorkerState, now: number, busy: 'beating' | 'renewing', next: 'nextBeat' | 'nextLease', periodMs: number, sync: (st: WorkerState, c: ClientCreds) => Promise<void>): void {
  const k = st.kubelet;
  if (k.state !== 'active' || !st.creds || k[busy] || now < k[next]) return;
  k[busy] = true;
  k[next] = now + periodMs;
  void sync(st, st.creds).finally(() => {
    k[busy] = false;
    writeStatus(st);
  });
}

function tick(st: WorkerState): void {
  const now = Date.now();
  if (st.kubelet.state === 'activating' && now >= st.kubelet.nextRetry) {
    st.kubelet.restarts += 1;
    journal(st, 'systemd[1]', `kubelet.service: Scheduled restart job, restart counter is at ${st.kubelet.restarts}.`);
    journal(st, 'systemd[1]', 'Stopped kubelet: The Kubernetes Node Agent.');
    kubeletStartAttempt(st);
  }
  loop(st, now, 'beating', 'nextBeat', statusUpdateMs(st.node), heartbeat);
  if (usesNodeLease(st.node)) loop(st, now, 'renewing', 'nextLease', leaseRenewMs(st.node), renewLease);
  writeStatus(st);
}

// ---------------------------------------------------------------- status file and commands

export interface WorkerStatus extends AgentStatus {
  role: 'worker';
  lastHeartbeat?: string;
  lastHeartbeatError?: string;
  /** the node Lease's spec.renewTime as this kubelet last wrote it, and the last renewal error */
  lastLeaseRenew?: string;
  lastLeaseError?: string;
}

function snapshot(st: WorkerState): WorkerStatus {
  return {
    pid: process.pid,
    updatedAt: new Date().toISOString(),
    role: 'worker',
    kubelet: { state: st.kubelet.state, since: new Date(st.kubelet.since).toISOString(), everActive: st.kubelet.everActive, mainPid: st.kubelet.mainPid, restarts: st.kubelet.restarts, lastError: st.kubelet.lastError },
    pods: [],
    apiserver: { listening: false, address: st.node.advertiseAddress, port: st.node.apiPort },
    etcd: { listening: false, port: 0 },
    lastHeartbeat: st.kubelet.lastHeartbeat,
    lastHeartbeatError: st.kubelet.lastHeartbeatError,
    lastLeaseRenew: st.kubelet.lastLeaseRenew,
    lastLeaseError: st.kubelet.lastLeaseError,
  };
}

function writeStatus(st: WorkerState): void {
  const s = snapshot(st);
  const key = JSON.stringify({ ...s, updatedAt: '' });
  if (key === st.lastStatus) return;
  st.lastStatus = key;
  writeFileSync(st.statusFile + '.tmp', JSON.stringify(s, null, 2));
  renameSync(st.statusFile + '.tmp', st.statusFile);
}

/** systemd kills the kubelet's process (`systemctl kill`): Restart=always starts it again after RestartSec. */
function kubeletKilled(st: WorkerState): void {
  if (st.kubelet.state !== 'active') return;
  st.kubelet.mainPid = 0;
  kubeletExited(st, 'code=killed, status=15/TERM', 'signal');
}

/** `systemctl show [-p PROP[,PROP]]... [--value] UNIT`: a few of systemd's properties of the unit. */
function systemctlShow(st: WorkerState, args: string[], known: (u: string) => boolean): Reply {
  const props: string[] = [];
  const units: string[] = [];
  let value = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === 'show') continue;
    if (a === '-p' || a === '--property') props.push(...(args[++i] ?? '').split(','));
    else if (a.startsWith('--property=')) props.push(...a.slice('--property='.length).split(','));
    else if (a.startsWith('-p')) props.push(...a.slice(2).split(','));
    else if (a === '--value') value = true;
    else if (!a.startsWith('-')) units.push(a.replace(/\.service$/, ''));
  }
  const u = units[0] ?? 'kubelet';
  const k = st.kubelet;
  const state = u === 'kubelet' ? k.state : known(u) ? 'active' : 'inactive';
  const all: Record<string, string> = {
    Id: `${u}.service`,
    LoadState: known(u) ? 'loaded' : 'not-found',
    ActiveState: state,
    SubState: state === 'active' ? 'running' : state === 'activating' ? 'auto-restart' : 'dead',
    MainPID: String(u === 'kubelet' && state === 'active' ? k.mainPid : 0),
    NRestarts: String(u === 'kubelet' ? k.restarts : 0),
    ...(u === 'kubelet' && state === 'active' ? { ActiveEnterTimestamp: systemdTime(new Date(k.since)) } : {}),
  };
  const names = props.filter(Boolean).length ? props.filter(Boolean) : Object.keys(all);
  // systemd prints nothing for a property it does not have
  const lines = names.filter((n) => n in all).map((n) => (value ? all[n]! : `${n}=${all[n]!}`));
  return ok(lines.map((l) => l + '\n').join(''));
}

function systemctl(st: WorkerState, args: string[]): Reply {
  const positional = args.filter((a) => !a.startsWith('-'));
  const verb = positional[0];
  const units = positional.slice(1).map((u) => u.replace(/\.service$/, ''));
  const known = (u: string) => u === 'kubelet' || u === (st.node.runtime === 'docker' ? 'docker' : 'containerd');
  switch (verb) {
    case 'daemon-reload':
    case 'enable':
    case 'disable':
      return ok();
    case 'show':
      return systemctlShow(st, args, known);
    case 'kill': {
      if (!units.length) return fail('Too few arguments.\n');
      const bad = units.find((u) => !known(u));
      if (bad) return fail(`Failed to kill unit ${bad}.service: Unit ${bad}.service not loaded.\n`, 5);
      if (units.includes('kubelet')) kubeletKilled(st);
      writeStatus(st);
      return ok();
    }
    case 'start':
    case 'stop':
    case 'restart':
    case 'try-restart': {
      if (!units.length) return fail('Too few arguments.\n');
      const bad = units.find((u) => !known(u));
      if (bad) return fail(`Failed to ${verb === 'stop' ? 'stop' : verb === 'start' ? 'start' : 'restart'} ${bad}.service: Unit ${bad}.service not found.\n`, 5);
      if (units.includes('kubelet')) {
        if (verb === 'stop') kubeletStop(st);
        else if (verb === 'start') {
          if (st.kubelet.state === 'inactive' || st.kubelet.state === 'failed') kubeletStartAttempt(st);
        } else if (!(verb === 'try-restart' && st.kubelet.state === 'inactive')) {
          kubeletStop(st);
          kubeletStartAttempt(st);
        }
      }
      writeStatus(st);
      return ok();
    }
    case 'is-active': {
      const states = units.map((u) => (u === 'kubelet' ? st.kubelet.state : known(u) ? 'active' : 'inactive'));
      const quiet = args.includes('--quiet') || args.includes('-q');
      return { code: states.every((s) => s === 'active') ? 0 : 3, stdout: quiet ? '' : states.map((s) => s + '\n').join(''), stderr: '' };
    }
    case 'is-enabled':
      return units.every(known) ? ok(units.map(() => 'enabled\n').join('')) : fail(`Failed to get unit file state for ${units.find((u) => !known(u))}.service: No such file or directory\n`);
    case 'status': {
      const u = units[0] ?? 'kubelet';
      if (!known(u)) return fail(`Unit ${u}.service could not be found.\n`, 4);
      if (u !== 'kubelet') return ok(`● ${u}.service - ${u}\n     Loaded: loaded (/lib/systemd/system/${u}.service; enabled; vendor preset: enabled)\n     Active: active (running)\n`);
      const since = new Date(st.kubelet.since);
      const active = st.kubelet.state === 'active'
        ? `     Active: active (running) since ${systemdTime(since)}; ${systemdAgo(Date.now() - st.kubelet.since)}`
        : st.kubelet.state === 'activating'
          ? `     Active: activating (auto-restart) (Result: exit-code) since ${systemdTime(since)}; ${systemdAgo(Date.now() - st.kubelet.since)}`
          : '     Active: inactive (dead)';
      let tail: string[] = [];
      try {
        tail = readFileSync(st.journalFile, 'utf8').split('\n').filter(Boolean).slice(-10);
      } catch { /* no journal */ }
      const out = [
        `${st.kubelet.state === 'inactive' ? '○' : '●'} kubelet.service - kubelet: The Kubernetes Node Agent`,
        '     Loaded: loaded (/lib/systemd/system/kubelet.service; enabled; vendor preset: enabled)',
        '    Drop-In: /usr/lib/systemd/system/kubelet.service.d',
        '             └─10-kubeadm.conf',
        active,
        ...(st.kubelet.state === 'active' ? [`   Main PID: ${st.kubelet.mainPid} (kubelet)`] : []),
        '',
        ...tail,
      ].join('\n') + '\n';
      return { code: st.kubelet.state === 'active' ? 0 : 3, stdout: out, stderr: '' };
    }
    default:
      return fail(`Unknown command verb ${verb ?? ''}.\n`);
  }
}

function dispatch(st: WorkerState, cmd: string, args: string[]): Reply {
  switch (cmd) {
    case 'systemctl':
      return systemctl(st, args);
    case 'crictl':
      // a worker in these scenarios runs no pods the runbooks look at: an empty runtime
      if (args.includes('-q') || args.includes('--quiet')) return ok();
      return ok(args.includes('pods') ? 'POD ID              CREATED             STATE               NAME                NAMESPACE           ATTEMPT             RUNTIME\n' : 'CONTAINER           IMAGE               CREATED             STATE               NAME                ATTEMPT             POD ID              POD\n');
    case 'status':
      return ok(JSON.stringify(snapshot(st)));
    default:
      return fail(`unknown command ${cmd}\n`);
  }
}

function main(st: WorkerState): void {
  writeFileSync(join(st.runDir, 'agent.pid'), String(process.pid));
  kubeletStartAttempt(st); // boot: systemd starts the enabled kubelet unit
  const ctl = serveRequests(st.runDir, st.sockPath, (cmd, args) => dispatch(st, cmd, args));
  writeStatus(st);
  const timer = setInterval(() => tick(st), 100);
  const shutdown = () => {
    clearInterval(timer);
    ctl.close();
    rmSync(st.sockPath, { force: true });
    rmSync(join(st.runDir, 'agent.pid'), { force: true });
    try {
      const s = JSON.parse(readFileSync(st.statusFile, 'utf8')) as WorkerStatus;
      s.kubelet.state = 'inactive';
      s.pid = 0;
      writeFileSync(st.statusFile, JSON.stringify(s, null, 2));
    } catch { /* no status */ }
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.on('SIGHUP', () => undefined);
}

main(createWorkerState(resolve(process.argv[2] ?? '/')));
