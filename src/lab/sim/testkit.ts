// Helpers for the simulator's tests (sandbox mode: SIM_ROOT + PATH, no root, no SSH).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../wait.js';
import { distinctFreePorts, installCluster, installNode, sandboxEnv, startNode, stopNode, nodeStatus, type InstallOptions, type ScenarioName } from './index.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  out: string;
}

export interface SimNode {
  root: string;
  pid?: number;
  apiPort: number;
  etcdPort: number;
  run: (...argv: string[]) => Promise<Run>;
  kubectl: (...argv: string[]) => Promise<Run>;
  file: (p: string) => string;
  sha: (p: string) => string;
  start: () => Promise<number>;
  stop: () => Promise<void>;
  status: () => ReturnType<typeof nodeStatus>;
}

// the kubelets report twice a second (a test may set a grace period of 1.5 s)
export const FAST: Partial<InstallOptions> = { fileCheckFrequency: '1s', kubeletRestartMs: 400, crashBackoffMs: 300, containerRestartMs: 200, nodeStatusUpdateMs: 500, nodeLeaseDurationSeconds: 2 };

const started = new Set<number>();
const roots = new Set<string>();

// 90 s: `kubeadm certs renew all` (openssl per certificate) took over 30 s on a 2-core machine at load 20,
// and a kill by the timeout reads as a bare exit 1 with no output
export function runIn(root: string, argv: string[], timeoutMs = 90_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { env: sandboxEnv(root), timeout: timeoutMs, cwd: root, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      const killed = err && (err as { killed?: boolean }).killed ? `\n(killed after ${timeoutMs} ms: ${argv.join(' ')})` : '';
      resolve({ code, stdout, stderr: stderr + killed, out: stdout + stderr + killed });
    });
  });
}

export async function makeNode(scenario: ScenarioName, opts: Partial<InstallOptions> = {}, root?: string): Promise<SimNode> {
  const dir = root ?? mkdtempSync(join(tmpdir(), `sim-${scenario}-`));
  roots.add(dir);
  // sandboxes share 127.0.0.1: no fixed 2380, and three distinct ports
  const [apiPort, etcdPort, etcdPeerPort] = await distinctFreePorts([undefined, undefined, undefined]).then((p) => [opts.apiPort ?? p[0]!, opts.etcdPort ?? p[1]!, opts.etcdPeerPort ?? p[2]!] as const);
  await installNode(dir, scenario, { nodeName: 'cp1', advertiseAddress: '127.0.0.1', ...FAST, ...opts, apiPort, etcdPort, etcdPeerPort });
  return nodeHandle(dir, apiPort, etcdPort);
}

/**
 * HA in sandboxes: `count` nodes on 127.0.0.1..count (loopback addresses, free ports for everything),
 * one etcd cluster with a member per node. Not started.
 */
export async function makeCluster(scenario: ScenarioName, count: number, opts: Partial<InstallOptions> = {}): Promise<SimNode[]> {
  const addresses = Array.from({ length: count }, (_, i) => `127.0.0.${i + 1}`);
  // api on the node's address, etcd's client port on 127.0.0.1, its peer port on the node's address
  const ports = await distinctFreePorts(addresses.flatMap((a) => [a, undefined, a]));
  const nodes = addresses.map((address, i) => ({
    root: mkdtempSync(join(tmpdir(), `sim-${scenario}-${i + 1}-`)),
    nodeName: `cp${i + 1}`,
    advertiseAddress: address,
    apiPort: ports[3 * i]!,
    etcdPort: ports[3 * i + 1]!,
    etcdPeerPort: ports[3 * i + 2]!,
  }));
  for (const n of nodes) roots.add(n.root);
  await installCluster(nodes, scenario, { ...FAST, ...opts });
  return nodes.map((n) => nodeHandle(n.root, n.apiPort, n.etcdPort));
}

export function nodeHandle(dir: string, apiPort: number, etcdPort: number): SimNode {
  roots.add(dir);
  const n: SimNode = {
    root: dir,
    apiPort,
    etcdPort,
    run: (...argv) => runIn(dir, argv),
    kubectl: (...argv) => runIn(dir, ['kubectl', '--kubeconfig', join(dir, 'etc/kubernetes/admin.conf'), '--request-timeout=5s', ...argv]),
    file: (p) => readFileSync(join(dir, p), 'utf8'),
    sha: (p) => createHash('sha256').update(readFileSync(join(dir, p))).digest('hex'),
    start: async () => {
      const pid = await startNode(dir);
      started.add(pid);
      n.pid = pid;
      return pid;
    },
    stop: async () => {
      if (n.pid) await stopNode(n.pid);
      n.pid = undefined;
    },
    status: () => nodeStatus(dir),
  };
  return n;
}

export { waitFor };

/** Waits until the real kubectl prints a Server Version. */
export function serverVersion(n: SimNode, timeoutMs = 20_000): Promise<Run> {
  return waitFor('kubectl version to print a Server Version', async () => {
    const r = await n.kubectl('version');
    return r.code === 0 && r.stdout.includes('Server Version') ? r : false;
  }, timeoutMs, 300);
}

export { alive } from '../process.js';

/** Stops every agent the tests started and removes the sandboxes; returns the PIDs that were started. */
export async function cleanupAll(): Promise<number[]> {
  const pids = [...started];
  for (const pid of pids) await stopNode(pid);
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  roots.clear();
  return pids;
}
