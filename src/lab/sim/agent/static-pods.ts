// The kubelet's static pods: manifests read from /etc/kubernetes/manifests, and the control-plane
// containers started from them (etcd as a real etcd process, the API server, the others).
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { load as yamlLoad } from 'js-yaml';
import { NODE } from '../paths.js';
import { expiredAt, parseCert, parseKubeconfig } from '../pki.js';
import { images, type Component } from '../manifests.js';
import { EXPIRED_PEER_NICE, etcdArgv, spawnEtcd } from '../etcd.js';
import { clog, containerLogPath, kubeletLog, type AgentState, type ContainerStatus, type Pod } from './state.js';
import { crash, ensureSandbox, hexId, retirePod, loadCertFlag, loadKeyFlag, readNodeFile } from './runtime.js';
import { startApiserver } from './apiserver.js';
import { writeStatus } from './status.js';

interface Manifest {
  file: string;
  component: Component;
  hash: string;
  command: string[];
  image: string;
  graceSeconds: number;
}

function readManifests(st: AgentState): Manifest[] {
  const dir = st.r(NODE.manifests);
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
      const doc = yamlLoad(text) as { metadata?: { name?: string }; spec?: { terminationGracePeriodSeconds?: number; containers?: Array<{ command?: string[]; image?: string }> } };
      const name = doc?.metadata?.name as Component | undefined;
      if (!name || !['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].includes(name)) {
        kubeletLog(st, 'W', 'file.go:61', `Unable to read config path path="/etc/kubernetes/manifests/${f}" err="invalid pod: ${f}"`);
        continue;
      }
      if (out.some((m) => m.component === name)) {
        // a second file with the same pod (e.g. a backup left in manifests/): the kubelet sees a duplicate pod
        kubeletLog(st, 'W', 'config.go:354', `Pod appeared twice, ignoring the duplicate pod="kube-system/${name}-${st.node.nodeName}" source="file" file="${f}"`);
        continue;
      }
      const c = doc.spec?.containers?.[0];
      out.push({ file: f, component: name, hash: createHash('sha256').update(text).digest('hex'), command: c?.command ?? [], image: c?.image ?? images(st.node)[name], graceSeconds: graceOf(doc.spec?.terminationGracePeriodSeconds) });
    } catch (e) {
      kubeletLog(st, 'E', 'file.go:187', `Could not process manifest file path="/etc/kubernetes/manifests/${f}" err="${(e as Error).message.split('\n')[0]}"`);
    }
  }
  return out;
}

/** The pod's terminationGracePeriodSeconds: 30 when unset (the API's default; kubeadm's manifests leave it unset). */
function graceOf(v: unknown): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : 30;
}

function flagsOf(command: string[]): Record<string, string> {
  const f: Record<string, string> = {};
  for (const a of command) {
    const m = /^--([^=]+)=(.*)$/.exec(a);
    if (m) f[m[1]!] = m[2]!;
  }
  return f;
}

export function scanManifests(st: AgentState): void {
  const ms = readManifests(st);
  const seen = new Set<string>();
  for (const m of ms) {
    seen.add(m.component);
    const existing = st.pods.get(m.component);
    if (existing && existing.hash === m.hash) continue;
    if (existing) {
      kubeletLog(st, 'I', 'kubelet.go:2421', `SyncLoop UPDATE source="file" pods=["kube-system/${existing.name}"]`);
      retirePod(st, existing, 'manifest changed');
      st.pods.delete(m.component);
    } else {
      kubeletLog(st, 'I', 'kubelet.go:2405', `SyncLoop ADD source="file" pods=["kube-system/${m.component}-${st.node.nodeName}"]`);
    }
    const pod: Pod = {
      name: `${m.component}-${st.node.nodeName}`,
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
      graceSeconds: m.graceSeconds,
      needSandbox: true,
      servers: [],
      restartAt: Date.now(),
    };
    st.pods.set(m.component, pod);
  }
  for (const [comp, pod] of st.pods) {
    if (!seen.has(comp)) {
      kubeletLog(st, 'I', 'kubelet.go:2415', `SyncLoop REMOVE source="file" pods=["kube-system/${pod.name}"]`);
      retirePod(st, pod, 'static pod manifest removed');
      st.pods.delete(comp);
    }
  }
}

export function startContainer(st: AgentState, pod: Pod): void {
  if (st.shuttingDown) return;
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
  runComponent(st, pod, c);
}

export function runComponent(st: AgentState, pod: Pod, c: ContainerStatus): void {
  if (st.shuttingDown) return;
  const now = new Date().toISOString();
  try {
    switch (pod.component) {
      case 'etcd':
        return startEtcd(st, pod, c);
      case 'kube-apiserver':
        return startApiserver(st, pod, c);
      default: {
        // controller-manager / scheduler: read their kubeconfig at start, keep running
        const kc = pod.flags['kubeconfig'];
        if (!kc) throw new Error('no --kubeconfig');
        let text: string;
        try {
          text = readNodeFile(st, kc).toString('utf8');
        } catch {
          throw new Error(`invalid configuration: stat ${kc}: no such file or directory`);
        }
        const parsed = parseKubeconfig(text);
        if (parsed.clientCert) {
          const cert = parseCert(parsed.clientCert);
          c.loaded[kc] = cert.serial;
          if (expiredAt(cert)) clog(st, c, 'E', 'leaderelection.go:330', `error retrieving resource lock kube-system/${pod.component}: Unauthorized`);
        }
        c.state = 'running';
        c.startedAt = now;
        clog(st, c, 'I', 'serving.go:348', 'Generated self-signed cert in-memory');
      }
    }
  } catch (e) {
    crash(st, pod, c, (e as Error).message);
  }
}

function startEtcd(st: AgentState, pod: Pod, c: ContainerStatus): void {
  if (st.shuttingDown) return; // the agent stops: an etcd started now would outlive it
  const serving = loadCertFlag(st, pod, 'cert-file', c.loaded);
  loadKeyFlag(st, pod, 'key-file');
  const trusted = loadCertFlag(st, pod, 'trusted-ca-file', c.loaded);
  const peer = loadCertFlag(st, pod, 'peer-cert-file', c.loaded);
  loadKeyFlag(st, pod, 'peer-key-file');
  const argv = etcdArgv(pod.command, st.r);
  // The kubelet creates this container only once the previous etcd has exited (startBlocked), so its
  // process starts now: created, then running, as CreateContainer + StartContainer.
  let proc: ChildProcess;
  try {
    proc = spawnEtcd(argv, containerLogPath(st, c.id), expiredAt(peer) ? EXPIRED_PEER_NICE : 0);
  } catch (e) {
    return crash(st, pod, c, (e as Error).message);
  }
  pod.proc = proc;
  pod.etcdRt = { serving, trustedCA: trusted };
  c.state = 'running';
  c.startedAt = new Date().toISOString();
  writeFileSync(join(st.runDir, 'etcd.pid'), String(proc.pid ?? ''));
  proc.once('exit', (code, signal) => {
    if (pod.proc === proc) pod.proc = undefined;
    // exited on its own (bad flag, port in use, corrupt data dir): the kubelet restarts it with back-off;
    // a container being stopped is marked exited by stopContainer
    if (pod.container === c && (c.state === 'running' || c.state === 'starting')) crash(st, pod, c, `etcd exited: ${signal ? `signal ${signal}` : `exit status ${code}`}`);
    writeStatus(st);
  });
  // a process that could not be started at all (no 'exit' follows): the container fails, the agent lives
  proc.once('error', (e) => {
    if (pod.proc === proc) pod.proc = undefined;
    if (pod.container === c && (c.state === 'running' || c.state === 'starting')) crash(st, pod, c, `etcd: ${e.message}`);
    writeStatus(st);
  });
  writeStatus(st);
}
