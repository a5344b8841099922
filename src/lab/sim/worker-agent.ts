// The node agent of a worker (worker.ts): systemd's kubelet unit and the kubelet, nothing else.
// The kubelet checks kubelet.conf's client certificate when it starts, exactly where the real one does
// (bootstrap.go: an expired one, with no bootstrap-kubelet.conf to fall back to, stops it), then posts
// its node status to the API server named in kubelet.conf every nodeStatusUpdateFrequency, over real
// TLS: the server certificate checked against kubelet.conf's CA, its client certificate presented.
// Which client certificate: the one kubelet.conf points at, or (embedded in kubelet.conf) the kubelet's
// store's kubelet-client-current.pem when there is one, else the embedded one (the certificate manager's rule).
// Usage: node worker-agent.js <root>. systemctl/crictl/journalctl talk to it over <root>/run/sim/agent.sock.
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join, resolve } from 'node:path';
import { NODE, rooted } from './paths.js';
import { atLeast, loadNode, type NodeConfig } from './node.js';
import { expiredAt, goTime, parseCert, parseKubeconfig, type CertInfo } from './pki.js';
import { journalPrefix, klog, systemdAgo, systemdTime } from './format.js';
import type { AgentStatus, UnitState } from './agent/state.js';
import { serveRequests } from './agent/control.js';

const root = resolve(process.argv[2] ?? '/');
const r = (p: string) => rooted(root, p);
let node: NodeConfig = loadNode(root);
const runDir = r(NODE.runSim);
const logDir = r(NODE.logDir);
mkdirSync(runDir, { recursive: true });
mkdirSync(logDir, { recursive: true });
const journalFile = join(logDir, 'kubelet.journal');
const statusFile = join(runDir, 'status.json');
const sockPath = join(runDir, 'agent.sock');
const KUBELET_CONF = NODE.kubeDir + '/kubelet.conf';
const STORE_CURRENT = NODE.kubeletPki + '/kubelet-client-current.pem';

let fakePid = 1000 + Math.floor(Math.random() * 50000);
const nextPid = () => (fakePid += 1 + Math.floor(Math.random() * 40));

const kubelet = {
  state: 'inactive' as UnitState,
  since: Date.now(),
  everActive: false,
  mainPid: 0,
  restarts: 0,
  nextRetry: 0,
  lastError: undefined as string | undefined,
  nextBeat: 0,
  beating: false,
  /** the last status post the API server accepted, and the last error */
  lastHeartbeat: undefined as string | undefined,
  lastHeartbeatError: undefined as string | undefined,
};

function journal(ident: string, msg: string): void {
  appendFileSync(journalFile, journalPrefix(new Date(), node.nodeName, ident) + msg + '\n');
}
function kubeletLog(level: 'I' | 'W' | 'E' | 'F', where: string, msg: string): void {
  journal(`kubelet[${kubelet.mainPid}]`, klog(level, kubelet.mainPid, where, msg));
}
function setUnit(s: UnitState): void {
  if (kubelet.state !== s) kubelet.since = Date.now();
  kubelet.state = s;
}

interface ClientCreds {
  server: string;
  ca?: string;
  cert: string;
  key: string;
  info: CertInfo;
}

/** kubelet.conf's own client certificate (embedded, or the file it names): what bootstrap.go checks. */
function kubeconfigCert(): { cert?: CertInfo; error?: string } {
  const p = r(KUBELET_CONF);
  if (!existsSync(p)) return { error: 'missing' };
  try {
    const kc = parseKubeconfig(readFileSync(p, 'utf8'));
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

/** The credentials the kubelet's client uses (read when it starts, as the certificate manager does). */
function clientCreds(): ClientCreds {
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

let creds: ClientCreds | undefined;

function kubeletStartAttempt(): void {
  node = loadNode(root);
  kubelet.mainPid = nextPid();
  journal('systemd[1]', 'Started kubelet: The Kubernetes Node Agent.');
  const { cert, error } = kubeconfigCert();
  const noBootstrap = 'failed to run Kubelet: unable to load bootstrap kubeconfig: stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory';
  let fail: string | undefined;
  if (cert && expiredAt(cert)) {
    if (atLeast(node.version, '1.20.0')) {
      kubeletLog('E', 'bootstrap.go:266', `"Part of the existing bootstrap client certificate in kubeconfig is expired" path="${KUBELET_CONF}" expirationDate="${goTime(cert.notAfter)}"`);
    } else {
      kubeletLog('E', 'bootstrap.go:265', `part of the existing bootstrap client certificate is expired: ${goTime(cert.notAfter)}`);
    }
    fail = noBootstrap;
  } else if (error === 'missing') {
    fail = noBootstrap;
  } else if (error) {
    kubeletLog('E', 'bootstrap.go:265', `unable to read existing bootstrap client config from ${KUBELET_CONF}: ${error}`);
    fail = noBootstrap;
  }
  if (!fail) {
    try {
      creds = clientCreds();
    } catch (e) {
      fail = `failed to run Kubelet: failed to initialize client certificate manager: ${(e as Error).message}`;
    }
  }
  if (fail) {
    kubeletLog('F', 'server.go:274', fail);
    journal('systemd[1]', 'kubelet.service: Main process exited, code=exited, status=1/FAILURE');
    journal('systemd[1]', "kubelet.service: Failed with result 'exit-code'.");
    kubelet.lastError = fail;
    creds = undefined;
    setUnit('activating');
    kubelet.nextRetry = Date.now() + node.kubeletRestartMs;
    return;
  }
  kubelet.lastError = undefined;
  kubeletLog('I', 'server.go:417', `Kubelet version kubeletVersion="${node.version}"`);
  if (creds && expiredAt(creds.info)) kubeletLog('E', 'certificate_manager.go:488', `"Current certificate is expired" subject="O=${creds.info.orgs.join('+O=')},CN=${creds.info.cn}"`);
  setUnit('active');
  kubelet.everActive = true;
  kubelet.nextBeat = 0;
}

function kubeletStop(): void {
  if (kubelet.state === 'active' || kubelet.state === 'activating') {
    journal('systemd[1]', 'Stopping kubelet: The Kubernetes Node Agent...');
    journal('systemd[1]', 'kubelet.service: Deactivated successfully.');
    journal('systemd[1]', 'Stopped kubelet: The Kubernetes Node Agent.');
  }
  setUnit('inactive');
  kubelet.mainPid = 0;
  creds = undefined;
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

function nodeBody() {
  return {
    kind: 'Node', apiVersion: 'v1',
    metadata: { name: node.nodeName, labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/hostname': node.nodeName, 'kubernetes.io/os': 'linux' } },
    status: {
      addresses: [{ type: 'InternalIP', address: node.advertiseAddress }, { type: 'Hostname', address: node.nodeName }],
      nodeInfo: { kubeletVersion: node.version, containerRuntimeVersion: 'containerd://1.7.22', operatingSystem: 'linux', architecture: 'amd64' },
    },
  };
}

/** One status post: GET the node (register it when the API does not know it), then PATCH its status. */
async function heartbeat(c: ClientCreds): Promise<void> {
  const name = node.nodeName;
  try {
    const got = await api(c, 'GET', `/api/v1/nodes/${name}`);
    if (got.code === 404) {
      const reg = await api(c, 'POST', '/api/v1/nodes', nodeBody());
      if (reg.code !== 201 && reg.code !== 409) throw new Error(`Unable to register node with API server: ${statusMessage(reg.text, reg.code)}`);
      kubeletLog('I', 'kubelet_node_status.go:76', `"Successfully registered node" node="${name}"`);
    } else if (got.code !== 200) {
      throw new Error(`error getting node "${name}": ${statusMessage(got.text, got.code)}`);
    }
    const patch = await api(c, 'PATCH', `/api/v1/nodes/${name}/status`, { status: nodeBody().status });
    if (patch.code !== 200) throw new Error(`error patching node "${name}" status: ${statusMessage(patch.text, patch.code)}`);
    if (kubelet.lastHeartbeatError) kubeletLog('I', 'kubelet_node_status.go:493', '"Fast updating node status as it just became ready"');
    kubelet.lastHeartbeat = new Date().toISOString();
    kubelet.lastHeartbeatError = undefined;
  } catch (e) {
    const msg = (e as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? `Get "${c.server}/api/v1/nodes/${name}": dial tcp ${new URL(c.server).host}: connect: connection refused` : (e as Error).message;
    if (msg !== kubelet.lastHeartbeatError) kubeletLog('E', 'kubelet_node_status.go:540', `"Error updating node status, will retry" err="${msg.replace(/"/g, '\\"')}"`);
    kubelet.lastHeartbeatError = msg;
  }
}

function tick(): void {
  const now = Date.now();
  if (kubelet.state === 'activating' && now >= kubelet.nextRetry) {
    kubelet.restarts += 1;
    journal('systemd[1]', `kubelet.service: Scheduled restart job, restart counter is at ${kubelet.restarts}.`);
    journal('systemd[1]', 'Stopped kubelet: The Kubernetes Node Agent.');
    kubeletStartAttempt();
  }
  if (kubelet.state === 'active' && creds && !kubelet.beating && now >= kubelet.nextBeat) {
    kubelet.beating = true;
    kubelet.nextBeat = now + (node.nodeStatusUpdateMs ?? 10_000);
    const c = creds;
    void heartbeat(c).finally(() => {
      kubelet.beating = false;
      writeStatus();
    });
  }
  writeStatus();
}

// ---------------------------------------------------------------- status file and commands

export interface WorkerStatus extends AgentStatus {
  role: 'worker';
  lastHeartbeat?: string;
  lastHeartbeatError?: string;
}

function snapshot(): WorkerStatus {
  return {
    pid: process.pid,
    updatedAt: new Date().toISOString(),
    role: 'worker',
    kubelet: { state: kubelet.state, since: new Date(kubelet.since).toISOString(), everActive: kubelet.everActive, mainPid: kubelet.mainPid, restarts: kubelet.restarts, lastError: kubelet.lastError },
    pods: [],
    apiserver: { listening: false, address: node.advertiseAddress, port: node.apiPort },
    etcd: { listening: false, port: 0 },
    lastHeartbeat: kubelet.lastHeartbeat,
    lastHeartbeatError: kubelet.lastHeartbeatError,
  };
}

let lastStatus = '';
function writeStatus(): void {
  const s = snapshot();
  const key = JSON.stringify({ ...s, updatedAt: '' });
  if (key === lastStatus) return;
  lastStatus = key;
  writeFileSync(statusFile + '.tmp', JSON.stringify(s, null, 2));
  renameSync(statusFile + '.tmp', statusFile);
}

interface Reply {
  code: number;
  stdout: string;
  stderr: string;
}
const ok = (stdout = ''): Reply => ({ code: 0, stdout, stderr: '' });
const fail = (stderr: string, code = 1): Reply => ({ code, stdout: '', stderr });

function systemctl(args: string[]): Reply {
  const positional = args.filter((a) => !a.startsWith('-'));
  const verb = positional[0];
  const units = positional.slice(1).map((u) => u.replace(/\.service$/, ''));
  const known = (u: string) => u === 'kubelet' || u === (node.runtime === 'docker' ? 'docker' : 'containerd');
  switch (verb) {
    case 'daemon-reload':
    case 'enable':
    case 'disable':
      return ok();
    case 'start':
    case 'stop':
    case 'restart':
    case 'try-restart': {
      if (!units.length) return fail('Too few arguments.\n');
      const bad = units.find((u) => !known(u));
      if (bad) return fail(`Failed to ${verb === 'stop' ? 'stop' : verb === 'start' ? 'start' : 'restart'} ${bad}.service: Unit ${bad}.service not found.\n`, 5);
      if (units.includes('kubelet')) {
        if (verb === 'stop') kubeletStop();
        else if (verb === 'start') {
          if (kubelet.state === 'inactive' || kubelet.state === 'failed') kubeletStartAttempt();
        } else if (!(verb === 'try-restart' && kubelet.state === 'inactive')) {
          kubeletStop();
          kubeletStartAttempt();
        }
      }
      writeStatus();
      return ok();
    }
    case 'is-active': {
      const states = units.map((u) => (u === 'kubelet' ? kubelet.state : known(u) ? 'active' : 'inactive'));
      const quiet = args.includes('--quiet') || args.includes('-q');
      return { code: states.every((s) => s === 'active') ? 0 : 3, stdout: quiet ? '' : states.map((s) => s + '\n').join(''), stderr: '' };
    }
    case 'is-enabled':
      return units.every(known) ? ok(units.map(() => 'enabled\n').join('')) : fail(`Failed to get unit file state for ${units.find((u) => !known(u))}.service: No such file or directory\n`);
    case 'status': {
      const u = units[0] ?? 'kubelet';
      if (!known(u)) return fail(`Unit ${u}.service could not be found.\n`, 4);
      if (u !== 'kubelet') return ok(`● ${u}.service - ${u}\n     Loaded: loaded (/lib/systemd/system/${u}.service; enabled; vendor preset: enabled)\n     Active: active (running)\n`);
      const since = new Date(kubelet.since);
      const active = kubelet.state === 'active'
        ? `     Active: active (running) since ${systemdTime(since)}; ${systemdAgo(Date.now() - kubelet.since)}`
        : kubelet.state === 'activating'
          ? `     Active: activating (auto-restart) (Result: exit-code) since ${systemdTime(since)}; ${systemdAgo(Date.now() - kubelet.since)}`
          : '     Active: inactive (dead)';
      let tail: string[] = [];
      try {
        tail = readFileSync(journalFile, 'utf8').split('\n').filter(Boolean).slice(-10);
      } catch { /* no journal */ }
      const out = [
        `${kubelet.state === 'inactive' ? '○' : '●'} kubelet.service - kubelet: The Kubernetes Node Agent`,
        '     Loaded: loaded (/lib/systemd/system/kubelet.service; enabled; vendor preset: enabled)',
        '    Drop-In: /usr/lib/systemd/system/kubelet.service.d',
        '             └─10-kubeadm.conf',
        active,
        ...(kubelet.state === 'active' ? [`   Main PID: ${kubelet.mainPid} (kubelet)`] : []),
        '',
        ...tail,
      ].join('\n') + '\n';
      return { code: kubelet.state === 'active' ? 0 : 3, stdout: out, stderr: '' };
    }
    default:
      return fail(`Unknown command verb ${verb ?? ''}.\n`);
  }
}

function dispatch(cmd: string, args: string[]): Reply {
  switch (cmd) {
    case 'systemctl':
      return systemctl(args);
    case 'crictl':
      // a worker in these scenarios runs no pods the runbooks look at: an empty runtime
      if (args.includes('-q') || args.includes('--quiet')) return ok();
      return ok(args.includes('pods') ? 'POD ID              CREATED             STATE               NAME                NAMESPACE           ATTEMPT             RUNTIME\n' : 'CONTAINER           IMAGE               CREATED             STATE               NAME                ATTEMPT             POD ID              POD\n');
    case 'status':
      return ok(JSON.stringify(snapshot()));
    default:
      return fail(`unknown command ${cmd}\n`);
  }
}

function main(): void {
  writeFileSync(join(runDir, 'agent.pid'), String(process.pid));
  kubeletStartAttempt(); // boot: systemd starts the enabled kubelet unit
  const ctl = serveRequests(runDir, sockPath, dispatch);
  writeStatus();
  const timer = setInterval(tick, 100);
  const shutdown = () => {
    clearInterval(timer);
    ctl.close();
    rmSync(sockPath, { force: true });
    rmSync(join(runDir, 'agent.pid'), { force: true });
    try {
      const s = JSON.parse(readFileSync(statusFile, 'utf8')) as WorkerStatus;
      s.kubelet.state = 'inactive';
      s.pid = 0;
      writeFileSync(statusFile, JSON.stringify(s, null, 2));
    } catch { /* no status */ }
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.on('SIGHUP', () => undefined);
}

main();
