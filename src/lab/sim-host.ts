/**
 * A simulated kubeadm control-plane node on a lab host: seen over SSH, the host IS the node, at the
 * real paths (/etc/kubernetes, /var/lib/kubelet, /root/.kube) with the emulated kubeadm, systemctl,
 * crictl/docker, journalctl and etcdctl first on sshd's PATH (/usr/local/sbin, private per host),
 * and its API server on the host's own address :6443.
 *
 * How: the node is installed from outside into the host's dir (`host.root`, whose /etc/kubernetes,
 * /var/lib/kubelet, /root, /usr/local/sbin, /tmp are what the host's namespace binds at those paths).
 * The simulator's own state (/var/lib/sim, /run/sim with the agent's socket, /var/log/sim) lives
 * only in that dir, so the emulated commands run inside the namespace with SIM_ROOT set to where the
 * namespace sees the same dir (/run/runbook-lab/hosts/<name>/root): every node path they touch
 * resolves to the same files the agent (running outside, against `host.root`) sees.
 * The network namespace is shared: the API server binds the host's address, and etcd gets a port of
 * its own (127.0.0.1:2379 would collide between hosts; the emulated etcdctl maps <address>:2379 to it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { IN_NS_LAB, TOOLS_IN_NS, isHostPrivate, type Lab, type LabHost } from './hosts.js';
import type { ChildProcess } from 'node:child_process';
import { startExternalEtcd, stopExternalEtcd } from './sim/external-etcd.js';
import { installNode, startNode, stopNode, freePort, nodeStatus, type InstallOptions, type NodeConfig, type ScenarioName, type AgentStatus } from './sim/index.js';
import { NODE, packageRoot, simDistDir } from './sim/paths.js';
import { quoteArg } from '../transport/quote.js';

/** Short kubelet periods for tests: pass `-e manifest_check_period=1s` to the runbook to match. */
// the kubelets report every second (status without a Lease, Lease with one): inside the 3 s grace period
export const FAST_SIM: Partial<InstallOptions> = { fileCheckFrequency: '1s', kubeletRestartMs: 400, crashBackoffMs: 300, containerRestartMs: 200, nodeMonitorGraceMs: 3000, nodeStatusUpdateMs: 1000, nodeLeaseDurationSeconds: 4 };

/**
 * Which etcdctl a host has on its PATH (the machine's own is always hidden from lab hosts):
 * `real`: the machine's etcdctl (Debian's etcd-client, 3.4: `endpoint health` on stderr);
 * `emulated`: the simulator's (etcdctl 3.5 output); `none`: no etcdctl at all, as on many real nodes.
 */
export type EtcdctlChoice = 'real' | 'emulated' | 'none';

export interface SimHostOptions extends Partial<Omit<InstallOptions, 'shareCAsFrom' | 'advertiseAddress'>> {
  /** HA: the sim host whose CAs this node shares (it is then a joined control-plane node) */
  joinTo?: SimHost;
  /** default `real` */
  etcdctl?: EtcdctlChoice;
  /** start the node agent (kubelet, runtime, static pods) right away; default true */
  start?: boolean;
}

export interface SimHost {
  host: LabHost;
  scenario: ScenarioName;
  /** the node's "/" on the operator machine (the host's dir) */
  root: string;
  node: NodeConfig;
  /** the agent's PID while it runs */
  pid?: number;
  start(): Promise<number>;
  /** stops the agent by PID (files stay) */
  stop(): Promise<void>;
  status(): AgentStatus | undefined;
}

/** Where the namespace of `h` sees the host's dir (the lab dir is bound at IN_NS_LAB there). */
export function rootInNamespace(h: LabHost): string {
  return `${IN_NS_LAB}/hosts/${h.name}/root`;
}

/** Emulated commands that find their node from inside the namespace (sshd sessions get no SIM_ROOT). */
export function writeWrappers(h: LabHost, etcdctl: EtcdctlChoice): void {
  const sbin = join(h.root, NODE.sbin);
  const cli = join(simDistDir, 'cli.js');
  for (const c of readdirSync(sbin)) {
    if (c === 'etcdctl' && etcdctl !== 'emulated') {
      rmSync(join(sbin, c), { force: true });
      // the machine's etcdctl, kept by the host's namespace at TOOLS_IN_NS (masked on the usual PATH)
      if (etcdctl === 'real') symlinkSync(`${TOOLS_IN_NS}/etcdctl`, join(sbin, c));
      continue;
    }
    const text = [
      '#!/bin/sh',
      `# kubeadm node simulator on lab host ${h.name}: emulated ${c}`,
      `SIM_ROOT=${quoteArg(rootInNamespace(h))} exec ${quoteArg(process.execPath)} ${quoteArg(cli)} ${quoteArg(c)} "$@"`,
      '',
    ].join('\n');
    writeFileSync(join(sbin, c), text);
    chmodSync(join(sbin, c), 0o755);
  }
}

/**
 * The emulated commands run node and dist/ from inside the host's namespace. When the checkout (or
 * node) lies under a host-private tree (a clone in /tmp or /root), startLab keeps it visible there;
 * a lab started from another checkout does not, and it cannot be bound in afterwards (the kernel
 * refuses a bind source from another mount namespace): say so instead of failing later.
 */
export function assertVisibleInNamespace(h: LabHost): void {
  for (const p of new Set([packageRoot, join(process.execPath, '..')])) {
    if (!isHostPrivate(p)) continue;
    const r = spawnSync('nsenter', ['-t', String(h.pid), '-m', '--', 'mountpoint', '-q', p]);
    if (r.status !== 0) throw new Error(`${p} is hidden on lab host ${h.name} by its private trees: start the lab from this checkout (runbook lab up keeps its own checkout and node visible)`);
  }
}

/** Installs scenario `scenario` on lab host `host` and (by default) starts its node agent. */
export async function installSimHost(lab: Lab, host: LabHost, scenario: ScenarioName, opts: SimHostOptions = {}): Promise<SimHost> {
  if (!lab.hosts.includes(host)) throw new Error(`${host.name} is not a host of this lab`);
  const { joinTo, start = true, etcdctl = 'real', ...install } = opts;
  if (etcdctl === 'real' && !['/usr/bin/etcdctl', '/usr/local/bin/etcdctl'].some((p) => existsSync(p))) {
    throw new Error('etcdctl: "real" needs etcdctl on this machine (Debian\'s etcd-client)');
  }
  const node = await installNode(host.root, scenario, {
    nodeName: host.name,
    apiPort: 6443,
    // etcd listens on the host's address and on 127.0.0.1, which every lab host shares
    etcdPort: install.etcdPort ?? (await freePort(host.address, '127.0.0.1')),
    ...install,
    advertiseAddress: host.address,
    shareCAsFrom: joinTo?.root,
    initNode: joinTo ? false : install.initNode,
  });
  writeWrappers(host, etcdctl);
  assertVisibleInNamespace(host);
  // external etcd: runs beside the node, not by its kubelet (started first: the API server needs it)
  let externalEtcd: ChildProcess | undefined;
  const sh: SimHost = {
    host,
    scenario,
    root: host.root,
    node,
    start: async () => {
      if (sh.pid) return sh.pid;
      externalEtcd ??= startExternalEtcd(host.root, node);
      sh.pid = await startNode(host.root);
      return sh.pid;
    },
    stop: async () => {
      if (sh.pid) await stopNode(sh.pid);
      sh.pid = undefined;
      if (externalEtcd) await stopExternalEtcd(externalEtcd);
      externalEtcd = undefined;
    },
    status: () => nodeStatus(host.root),
  };
  if (start) await sh.start();
  return sh;
}

/**
 * HA: a stacked-etcd control plane on `hosts` (the first is the `kubeadm init` node, the others join
 * it): one etcd cluster whose members are every host (each manifest's --initial-cluster names them
 * all at their lab addresses), then every node agent started at once so etcd can reach its quorum.
 */
export async function installSimCluster(lab: Lab, hosts: LabHost[], scenario: ScenarioName, opts: Omit<SimHostOptions, 'joinTo' | 'etcdMembers'> = {}): Promise<SimHost[]> {
  const [first, ...rest] = hosts;
  if (!first) return [];
  const etcdMembers = hosts.map((h) => ({ name: h.name, address: h.address }));
  const init = await installSimHost(lab, first, scenario, { ...opts, etcdMembers, start: false });
  const joined = await Promise.all(rest.map((h) => installSimHost(lab, h, scenario, { ...opts, etcdMembers, joinTo: init, start: false })));
  const all = [init, ...joined];
  if (opts.start !== false) await Promise.all(all.map((s) => s.start()));
  return all;
}
