// Public API of the kubeadm control-plane node simulator.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE, rooted, simDistDir } from './paths.js';
import type { AgentStatus } from './agent.js';
import { alive } from '../process.js';
import { loadNode } from './node.js';

export { CLI_SCENARIOS, SCENARIOS, isHAScenario, scenarioArg, installNode, installCluster, scenarioVersion, type ScenarioName, type InstallOptions, type ClusterNode, type EtcdMember } from './scenarios.js';
export { freePort, distinctFreePorts } from './ports.js';
export { loadNode, type NodeConfig } from './node.js';
export { WORKER_SCENARIOS, installWorker, workerScenarioVersion, type WorkerScenario, type WorkerInstallOptions } from './worker.js';
export { rooted, simRoot } from './paths.js';
export type { AgentStatus, PodStatus, ContainerStatus, UnitState } from './agent.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/** The agent's status file (<root>/run/sim/status.json), or undefined before it first ran. */
export function nodeStatus(root: string): AgentStatus | undefined {
  try {
    return JSON.parse(readFileSync(rooted(root, NODE.runSim + '/status.json'), 'utf8')) as AgentStatus;
  } catch {
    return undefined;
  }
}

/**
 * Starts the node agent (kubelet, container runtime, static pods) for the node under `root`, detached.
 * Resolves with its PID once its control socket answers. Its output goes to <root>/var/log/sim/agent.log.
 */
export async function startNode(root: string, opts: { timeoutMs?: number } = {}): Promise<number> {
  const logDir = rooted(root, NODE.logDir);
  mkdirSync(logDir, { recursive: true });
  const fd = openSync(join(logDir, 'agent.log'), 'a');
  // a worker node runs only its kubelet (worker-agent.ts)
  const script = loadNode(root).role === 'worker' ? 'worker-agent.js' : 'agent.js';
  const child = spawn(process.execPath, [join(simDistDir, script), root], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  const pid = child.pid;
  if (!pid) throw new Error('could not start the node agent');
  const sock = rooted(root, NODE.runSim + '/agent.sock');
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  while (Date.now() < deadline) {
    const st = nodeStatus(root);
    if (st?.pid === pid && existsSync(sock)) return pid;
    if (!alive(pid)) throw new Error(`node agent exited; see ${join(logDir, 'agent.log')}`);
    await sleep(25);
  }
  process.kill(pid, 'SIGKILL');
  throw new Error('node agent did not come up');
}

/** Stops a node agent by PID (or the one recorded under `root`), waiting until it is gone. */
export async function stopNode(rootOrPid: string | number, opts: { timeoutMs?: number } = {}): Promise<void> {
  let pid: number | undefined;
  if (typeof rootOrPid === 'number') pid = rootOrPid;
  else {
    try {
      pid = Number(readFileSync(rooted(rootOrPid, NODE.runSim + '/agent.pid'), 'utf8'));
    } catch {
      return;
    }
  }
  if (!pid || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + (opts.timeoutMs ?? 5_000);
  while (alive(pid) && Date.now() < deadline) await sleep(20);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  while (alive(pid)) await sleep(20);
}

/** Environment for running the emulated commands against a sandbox node: SIM_ROOT, its sbin first on PATH, HOME=<root>/root (kubectl's ~/.kube). */
export function sandboxEnv(root: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, SIM_ROOT: root, HOME: rooted(root, '/root'), PATH: `${rooted(root, NODE.sbin)}:${base.PATH ?? '/usr/bin:/bin'}` };
  delete env.KUBECONFIG;
  return env;
}
