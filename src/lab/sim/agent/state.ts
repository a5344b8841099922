// The node agent's state: one object, made once by the agent's entry point (../agent.ts) and passed
// explicitly to every part (kubelet, runtime, static pods, API server, emulated commands, control socket).
// What every node agent has (a worker's too, ../worker-agent.ts) is NodeAgentState; the control plane's
// agent adds its static pods. Also the types of its status file, read by nodeStatus().
import { appendFileSync, mkdirSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { NODE, rooted } from '../paths.js';
import { loadNode, type NodeConfig } from '../node.js';
import type { CertInfo } from '../pki.js';
import type { Lease } from '../leases-api.js';
import type { Component } from '../manifests.js';
import type { EtcdClient } from '../etcd.js';
import { journalPrefix, klog } from '../format.js';

// ---------------------------------------------------------------- types (also used by nodeStatus)

export type UnitState = 'active' | 'activating' | 'inactive' | 'failed';

export interface ContainerStatus {
  id: string;
  name: string;
  attempt: number;
  /**
   * starting: created, its process not serving yet (listed as running: the process is up);
   * stopping: asked to stop, its process not exited yet (listed as running, as docker and crictl do).
   */
  state: 'running' | 'exited' | 'starting' | 'stopping';
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
  /** the kubelet's last node status post the API server accepted (ISO time), and its last error */
  lastHeartbeat?: string;
  lastHeartbeatError?: string;
  /** the node Lease's spec.renewTime as the kubelet last wrote it, and the last renewal error */
  lastLeaseRenew?: string;
  lastLeaseError?: string;
}

export interface Pod extends PodStatus {
  hash: string;
  flags: Record<string, string>;
  image: string;
  command: string[];
  /** when the kubelet will (re)start the container */
  restartAt?: number;
  backoff: number;
  /** the manifest's terminationGracePeriodSeconds (30 when unset): how long the kubelet's kill waits before SIGKILL */
  graceSeconds: number;
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

// ---------------------------------------------------------------- state

/** systemd's kubelet unit, as every node has it */
export interface KubeletUnitBase {
  state: UnitState;
  since: number;
  everActive: boolean;
  mainPid: number;
  restarts: number;
  nextRetry: number;
  lastError: string | undefined;
  /** how its last process ended, as systemd words it (`code=exited, status=1/FAILURE`) */
  lastExit?: string;
}

/** the kubelet's API client: kubelet.conf's server and CA, the client certificate it presents (../kubelet-report.ts) */
export interface ClientCreds {
  server: string;
  ca?: string;
  cert: string;
  key: string;
  info: CertInfo;
}

/** What a kubelet unit keeps of its reporting: its client, its node status posts and its Lease renewals. */
export interface KubeletReport {
  /** the client the running kubelet posts with (read when it started, again after a rotation) */
  creds: ClientCreds | undefined;
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
  /** why the node was last reported not ready (the Ready condition's message), logged once per change */
  notReady: string | undefined;
}

/** A kubelet unit's reporting before its first start. */
export function kubeletReport(): KubeletReport {
  return {
    creds: undefined, nextBeat: 0, beating: false, lastHeartbeat: undefined, lastHeartbeatError: undefined,
    lastReport: 0, nextLease: 0, renewing: false, lease: undefined, lastLeaseRenew: undefined, lastLeaseError: undefined, notReady: undefined,
  };
}

/** the control plane's kubelet also scans its static pod path */
export interface KubeletUnit extends KubeletUnitBase, KubeletReport {
  fileCheckMs: number;
  nextScan: number;
}

/** What every node agent has: its node, its directories and files, its kubelet unit. */
export interface NodeAgentState<K extends KubeletUnitBase = KubeletUnitBase> {
  readonly root: string;
  /** a node path (/etc/kubernetes/...) under the node's root */
  readonly r: (p: string) => string;
  /** the node's config, read again each time the kubelet starts */
  node: NodeConfig;
  readonly runDir: string;
  readonly logDir: string;
  readonly journalFile: string;
  readonly statusFile: string;
  readonly sockPath: string;
  fakePid: number;
  readonly kubelet: K;
  /** the last status written (without its timestamp): unchanged status is not rewritten */
  lastStatus: string;
}

export interface AgentState extends NodeAgentState<KubeletUnit> {
  /** static pods by component */
  readonly pods: Map<string, Pod>;
  /** Pods the kubelet has killed (manifest removed or changed) whose containers have not exited yet: still listed. */
  readonly terminating: Set<Pod>;
  /** the agent is stopping: nothing starts a container or a process any more */
  shuttingDown: boolean;
}

/** The state every agent for the node under `root` starts from, its kubelet unit `extra` added; makes its run and log directories. */
export function createNodeAgentState<X extends object>(root: string, extra: X): NodeAgentState<KubeletUnitBase & X> {
  const r = (p: string) => rooted(root, p);
  const runDir = r(NODE.runSim);
  const logDir = r(NODE.logDir);
  mkdirSync(runDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  return {
    root,
    r,
    node: loadNode(root),
    runDir,
    logDir,
    journalFile: join(logDir, 'kubelet.journal'),
    statusFile: join(runDir, 'status.json'),
    sockPath: join(runDir, 'agent.sock'),
    fakePid: 1000 + Math.floor(Math.random() * 50000),
    kubelet: { state: 'inactive', since: Date.now(), everActive: false, mainPid: 0, restarts: 0, nextRetry: 0, lastError: undefined, ...extra },
    lastStatus: '',
  };
}

/** The state of the control-plane agent for the node under `root`; makes its run and log directories. */
export function createAgentState(root: string): AgentState {
  const base = createNodeAgentState(root, { fileCheckMs: 20_000, nextScan: 0, ...kubeletReport() });
  mkdirSync(join(base.logDir, 'containers'), { recursive: true });
  return { ...base, pods: new Map<string, Pod>(), terminating: new Set<Pod>(), shuttingDown: false };
}

/**
 * Every pod the runtime lists: the kubelet's static pods, and the killed ones whose containers are still
 * exiting (docker and crictl list a container until its process has exited).
 */
export function listedPods(st: AgentState): Pod[] {
  return [...st.terminating, ...st.pods.values()];
}

export const nextPid = (st: NodeAgentState) => (st.fakePid += 1 + Math.floor(Math.random() * 40));

/** the kubelet unit enters state `s` (its `since` moves only on a change) */
export function setUnit(st: NodeAgentState, s: UnitState): void {
  if (st.kubelet.state !== s) st.kubelet.since = Date.now();
  st.kubelet.state = s;
}

/** systemd stops the kubelet unit */
export function stopUnit(st: NodeAgentState): void {
  if (st.kubelet.state === 'active' || st.kubelet.state === 'activating') {
    journal(st, 'systemd[1]', 'Stopping kubelet: The Kubernetes Node Agent...');
    journal(st, 'systemd[1]', 'kubelet.service: Deactivated successfully.');
    journal(st, 'systemd[1]', 'Stopped kubelet: The Kubernetes Node Agent.');
  }
  setUnit(st, 'inactive');
  st.kubelet.mainPid = 0;
}

/**
 * The kubelet's main process has exited (`how`: systemd's `code=..., status=...`): the unit's
 * Restart=always starts it again after RestartSec (the node's kubeletRestartMs).
 */
export function unitExited(st: NodeAgentState, how: string, result: 'exit-code' | 'signal'): void {
  st.kubelet.lastExit = how;
  journal(st, 'systemd[1]', `kubelet.service: Main process exited, ${how}`);
  journal(st, 'systemd[1]', `kubelet.service: Failed with result '${result}'.`);
  setUnit(st, 'activating');
  st.kubelet.nextRetry = Date.now() + st.node.kubeletRestartMs;
}

// ---------------------------------------------------------------- journal and logs

export function journal(st: NodeAgentState, ident: string, msg: string, at = new Date()): void {
  appendFileSync(st.journalFile, journalPrefix(at, st.node.nodeName, ident) + msg + '\n');
}
export function kubeletLog(st: NodeAgentState, level: 'I' | 'W' | 'E' | 'F', where: string, msg: string): void {
  journal(st, `kubelet[${st.kubelet.mainPid}]`, klog(level, st.kubelet.mainPid, where, msg));
}
export function containerLogPath(st: AgentState, id: string): string {
  return join(st.logDir, 'containers', id + '.log');
}
export function clog(st: AgentState, c: ContainerStatus, level: 'I' | 'W' | 'E' | 'F', where: string, msg: string): void {
  appendFileSync(containerLogPath(st, c.id), klog(level, 1, where, msg) + '\n');
}
