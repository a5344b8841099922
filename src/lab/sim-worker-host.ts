/**
 * A simulated kubeadm worker node on a lab host (src/lab/sim/worker.ts): seen over SSH, the host is a
 * worker whose kubelet registers with a control-plane sim host's API server (its address :6443), with
 * the emulated kubeadm, systemctl, journalctl and crictl first on sshd's PATH and no etcdctl.
 */
import { type Lab, type LabHost } from './hosts.js';
import { assertVisibleInNamespace, writeWrappers, type SimHost } from './sim-host.js';
import { installWorker, startNode, stopNode, nodeStatus, type NodeConfig, type WorkerScenario } from './sim/index.js';
import type { WorkerStatus } from './sim/worker-agent.js';

/**
 * Short periods for tests: the kubelet syncs its status every 300 ms, renews its node Lease (1.14+)
 * every 250 ms (a quarter of a 1 s lease) and restarts 400 ms after a failure. With a Lease, an
 * unchanged status is still posted only every nodeStatusReportFrequency (5 min from 1.17), as for real.
 */
export const FAST_WORKER = { kubeletRestartMs: 400, nodeStatusUpdateMs: 300, nodeLeaseDurationSeconds: 1 };

export interface SimWorker {
  host: LabHost;
  scenario: WorkerScenario;
  root: string;
  node: NodeConfig;
  controlPlane: SimHost;
  pid?: number;
  start(): Promise<number>;
  stop(): Promise<void>;
  status(): WorkerStatus | undefined;
}

/** Installs worker scenario `scenario` on `host`, joined to `controlPlane`'s cluster, and (by default) starts its kubelet. */
export async function installSimWorker(
  lab: Lab,
  host: LabHost,
  scenario: WorkerScenario,
  opts: { controlPlane: SimHost; start?: boolean; kubeletRestartMs?: number; nodeStatusUpdateMs?: number; nodeLeaseDurationSeconds?: number; nodeLease?: boolean; version?: string },
): Promise<SimWorker> {
  if (!lab.hosts.includes(host)) throw new Error(`${host.name} is not a host of this lab`);
  const cp = opts.controlPlane;
  const node = await installWorker(host.root, scenario, {
    nodeName: host.name,
    address: host.address,
    controlPlaneRoot: cp.root,
    server: `https://${cp.host.address}:${cp.node.apiPort}`,
    ...(opts.kubeletRestartMs ? { kubeletRestartMs: opts.kubeletRestartMs } : {}),
    ...(opts.nodeStatusUpdateMs ? { nodeStatusUpdateMs: opts.nodeStatusUpdateMs } : {}),
    ...(opts.nodeLeaseDurationSeconds ? { nodeLeaseDurationSeconds: opts.nodeLeaseDurationSeconds } : {}),
    ...(opts.nodeLease !== undefined ? { nodeLease: opts.nodeLease } : {}),
    ...(opts.version ? { version: opts.version } : {}),
  });
  writeWrappers(host, 'none');
  assertVisibleInNamespace(host);
  const w: SimWorker = {
    host,
    scenario,
    root: host.root,
    node,
    controlPlane: cp,
    start: async () => {
      if (w.pid) return w.pid;
      w.pid = await startNode(host.root);
      return w.pid;
    },
    stop: async () => {
      if (w.pid) await stopNode(w.pid);
      w.pid = undefined;
    },
    status: () => nodeStatus(host.root) as WorkerStatus | undefined,
  };
  if (opts.start !== false) await w.start();
  return w;
}
