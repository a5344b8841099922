// The container runtime's primitives on a static pod: sandboxes, stopping and crashing containers,
// and the certificate files a container loads from its flags when it starts.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { parseCert, type CertInfo } from '../pki.js';
import { stopEtcd } from '../etcd.js';
import { rfc3339 } from '../format.js';
import { clog, kubeletLog, type AgentState, type ContainerStatus, type Pod } from './state.js';
import type { Row } from './reply.js';
import { writeStatus } from './status.js';

export function hexId(): string {
  return randomBytes(32).toString('hex');
}

/**
 * The kubelet does not create a pod's next container while its previous one is still stopping
 * (kuberuntime SyncPod kills, then creates and starts), nor start a static pod while the previous pod of
 * the same name is still terminating (pod_workers.go allowStaticPodStart, kubelet 1.22+).
 */
export function startBlocked(st: AgentState, pod: Pod): boolean {
  if (pod.container?.state === 'stopping' || pod.proc) return true;
  for (const t of st.terminating) if (t.component === pod.component) return true;
  return false;
}

/**
 * Stops the pod's container and, should a `docker restart` waiting for the same exit have started its
 * process again meanwhile, that one too: resolves when no process of the pod is left.
 */
async function stopEvery(st: AgentState, pod: Pod, why: string, graceMs?: number): Promise<void> {
  await stopContainer(st, pod, 0, why, graceMs);
  while (pod.proc) await stopContainer(st, pod, 0, why, graceMs);
}

/** The kubelet kills a pod (its container, then its sandbox); resolves when its container has exited. */
async function killPod(st: AgentState, pod: Pod, why: string): Promise<void> {
  await stopEvery(st, pod, why);
  pod.sandboxState = 'notready';
}

/** A static pod the kubelet dropped (manifest removed or changed): listed until its container has exited. */
export function retirePod(st: AgentState, pod: Pod, why: string): void {
  st.terminating.add(pod);
  // whatever happens, the pod leaves the listing, and nothing rejects unhandled (that would end the agent)
  void killPod(st, pod, why).catch(() => undefined).finally(() => st.terminating.delete(pod));
}

/** containers whose process is still exiting: that process, and what resolves once it has (the container marked exited) */
const exiting = new WeakMap<ContainerStatus, { proc: ChildProcess; done: Promise<void> }>();

/** docker's and containerd's exit code of a container SIGKILL ended: 128 + 9 */
const KILLED_EXIT_CODE = 137;

/**
 * Stops the pod's container: SIGTERM, SIGKILL after `graceMs` (the kubelet's kill: the pod's
 * terminationGracePeriodSeconds; docker stop -t, 10 s by default; docker kill and crictl stop, 0).
 * Only etcd is a real process here: its container stays `stopping` (listed as running, as by docker and
 * crictl) until the process has exited; the emulated components stop at once. A stop of a container
 * already stopping brings its SIGKILL forward to now + `graceMs` (never later). Resolves when it has
 * exited; its exit code is 137 when SIGKILL ended it.
 */
export function stopContainer(st: AgentState, pod: Pod, exitCode: number, why: string, graceMs = pod.graceSeconds * 1000): Promise<void> {
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
  const proc = pod.proc;
  pod.proc = undefined;
  const pending = c?.state === 'stopping' ? exiting.get(c) : undefined;
  if (pending) {
    void stopEtcd(pending.proc, graceMs); // only brings its SIGKILL forward; `pending.done` marks it exited
    return proc ? Promise.all([pending.done, stopEtcd(proc, graceMs)]).then(() => undefined) : pending.done;
  }
  if (c && c.state !== 'exited') clog(st, c, 'I', 'server.go:100', `Shutting down (${why})`);
  const markExited = (killed: boolean) => {
    if (!c || c.state === 'exited') return;
    c.state = 'exited';
    c.exitCode = killed ? KILLED_EXIT_CODE : exitCode;
    c.finishedAt = new Date().toISOString();
  };
  if (!proc) {
    // an emulated component exits at once: on SIGTERM cleanly, on an immediate SIGKILL (grace 0) with 137
    markExited(graceMs === 0 && exitCode === 0);
    return Promise.resolve();
  }
  if (c && c.state !== 'exited') c.state = 'stopping';
  const done: Promise<void> = stopEtcd(proc, graceMs).then((killed) => {
    markExited(killed);
    try {
      writeStatus(st);
    } catch { /* the node's root is gone (a test's teardown): no status to keep, and the stop must still resolve */ }
  });
  if (c) exiting.set(c, { proc, done });
  return done;
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
  return `x509: certificate has expired or is not yet valid: current time ${rfc3339(now)} is after ${rfc3339(c.notAfter)}`;
}

export function crash(st: AgentState, pod: Pod, c: ContainerStatus, msg: string): void {
  clog(st, c, 'F', 'server.go:250', msg);
  c.error = msg;
  void stopContainer(st, pod, 1, 'error');
  pod.backoff = pod.backoff ? Math.min(pod.backoff * 2, st.node.crashBackoffMs * 30) : st.node.crashBackoffMs;
  pod.restartAt = Date.now() + pod.backoff;
  kubeletLog(st, 'E', 'pod_workers.go:1300', `Error syncing pod, skipping err="failed to \\"StartContainer\\" for \\"${pod.component}\\" with CrashLoopBackOff: \\"back-off ${pod.backoff % 1000 ? `${pod.backoff}ms` : `${pod.backoff / 1000}s`} restarting failed container=${pod.component} pod=${pod.name}_kube-system(${pod.uid})\\"" pod="kube-system/${pod.name}"`);
}

/** Stop a container from outside (docker stop/kill, crictl stop): the kubelet will start a new one once it has exited. */
export function externalStop(st: AgentState, row: Row, graceMs: number): Promise<void> {
  if (row.pod.container !== row.c) return Promise.resolve();
  if (row.c.state === 'running' || row.c.state === 'starting') {
    row.pod.restartAt = Date.now() + st.node.containerRestartMs;
    row.pod.backoff = 0;
  }
  return stopContainer(st, row.pod, 0, 'stopped by the container runtime', graceMs);
}

/** The sandbox is stopped (its container first, as StopPodSandbox does) and removed: the kubelet recreates the pod. */
export async function removeSandbox(st: AgentState, pod: Pod, graceMs: number): Promise<void> {
  await stopEvery(st, pod, 'sandbox removed', graceMs);
  pod.history = [];
  pod.container = undefined;
  pod.backoff = 0;
  pod.sandboxState = 'notready';
  pod.needSandbox = true;
  pod.restartAt = Date.now() + st.node.containerRestartMs;
}
