// The container runtime's primitives on a static pod: sandboxes, stopping and crashing containers,
// and the certificate files a container loads from its flags when it starts.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseCert, type CertInfo } from '../pki.js';
import { stopEtcd } from '../etcd.js';
import { clog, kubeletLog, type AgentState, type ContainerStatus, type Pod } from './state.js';
import type { Row } from './reply.js';

export function hexId(): string {
  return randomBytes(32).toString('hex');
}

export function killPod(st: AgentState, pod: Pod, why: string): void {
  stopContainer(st, pod, 0, why);
  pod.sandboxState = 'notready';
}

export function stopContainer(st: AgentState, pod: Pod, exitCode: number, why: string): void {
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
      if (st.etcdExiting === exiting) st.etcdExiting = undefined;
    });
    st.etcdExiting = exiting;
    pod.proc = undefined;
  }
  if (c && c.state !== 'exited') {
    c.state = 'exited';
    c.exitCode = exitCode;
    c.finishedAt = new Date().toISOString();
    clog(st, c, 'I', 'server.go:100', `Shutting down (${why})`);
  }
}

export function ensureSandbox(pod: Pod): void {
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

export function readNodeFile(st: AgentState, p: string): Buffer {
  return readFileSync(st.r(p));
}

export function loadCertFlag(st: AgentState, pod: Pod, flag: string, loaded: Record<string, string>): CertInfo {
  const p = pod.flags[flag];
  if (!p) throw new Error(`flag --${flag} not set`);
  let buf: Buffer;
  try {
    buf = readNodeFile(st, p);
  } catch {
    throw new Error(`open ${p}: no such file or directory`);
  }
  const c = parseCert(buf);
  loaded[p] = c.serial;
  return c;
}

export function loadKeyFlag(st: AgentState, pod: Pod, flag: string): Buffer {
  const p = pod.flags[flag];
  if (!p) throw new Error(`flag --${flag} not set`);
  try {
    return readNodeFile(st, p);
  } catch {
    throw new Error(`open ${p}: no such file or directory`);
  }
}

export function x509Reason(c: CertInfo): string {
  const now = new Date();
  return `x509: certificate has expired or is not yet valid: current time ${now.toISOString().replace(/\.\d+Z$/, 'Z')} is after ${c.notAfter.toISOString().replace(/\.\d+Z$/, 'Z')}`;
}

export function crash(st: AgentState, pod: Pod, c: ContainerStatus, msg: string): void {
  clog(st, c, 'F', 'server.go:250', msg);
  c.error = msg;
  stopContainer(st, pod, 1, 'error');
  c.exitCode = 1;
  pod.backoff = pod.backoff ? Math.min(pod.backoff * 2, st.node.crashBackoffMs * 30) : st.node.crashBackoffMs;
  pod.restartAt = Date.now() + pod.backoff;
  kubeletLog(st, 'E', 'pod_workers.go:1300', `Error syncing pod, skipping err="failed to \\"StartContainer\\" for \\"${pod.component}\\" with CrashLoopBackOff: \\"back-off ${pod.backoff % 1000 ? `${pod.backoff}ms` : `${pod.backoff / 1000}s`} restarting failed container=${pod.component} pod=${pod.name}_kube-system(${pod.uid})\\"" pod="kube-system/${pod.name}"`);
}

/** Stop a container from outside: the kubelet will start a new one (if it is running). */
export function externalStop(st: AgentState, row: Row): void {
  if (row.c.state !== 'exited' && row.pod.container === row.c) {
    stopContainer(st, row.pod, 0, 'stopped by the container runtime');
    row.c.exitCode = 0;
    row.pod.restartAt = Date.now() + st.node.containerRestartMs;
    row.pod.backoff = 0;
  }
}

export function removeSandbox(st: AgentState, pod: Pod): void {
  stopContainer(st, pod, 0, 'sandbox removed');
  pod.history = [];
  pod.container = undefined;
  pod.backoff = 0;
  pod.sandboxState = 'notready';
  pod.needSandbox = true;
  pod.restartAt = Date.now() + st.node.containerRestartMs;
}
