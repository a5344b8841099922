/**
 * The demo's sandbox: a simulated kubeadm control-plane node in a temp directory on this machine
 * (no root, no SSH, only 127.0.0.1), an inventory that points the runbook's node paths into it,
 * and a runner for commands "on the node" (the emulated kubeadm/systemctl/crictl first on PATH,
 * the real kubectl after them).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { walkTree } from '../lab/tree-snapshot.js';
import { distinctFreePorts, installNode, sandboxEnv, startNode, stopNode, nodeStatus, type ScenarioName, type AgentStatus } from '../lab/sim/index.js';
import type { NodeConfig } from '../lab/sim/node.js';

/** The simulator's kubelet and container timings, fast, so the whole demo takes seconds. */
export const FAST_NODE = { fileCheckFrequency: '1s', kubeletRestartMs: 400, crashBackoffMs: 300, containerRestartMs: 200 } as const;
/** matches FAST_NODE.fileCheckFrequency: how long the runbook waits for the kubelet to notice manifests */
export const MANIFEST_CHECK_PERIOD = '1s';

export interface Sandbox {
  root: string;
  scenario: ScenarioName;
  node: NodeConfig;
  apiPort: number;
  /** the node's files seen from this machine */
  kubeDir: string;
  adminConf: string;
  inventory: string;
  stateDir: string;
  /** environment of every command run "on the node" */
  env: NodeJS.ProcessEnv;
  /** the node agent's PID while it runs */
  pid?: number;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function createSandbox(scenario: ScenarioName, parent: string = tmpdir()): Promise<Sandbox> {
  const root = mkdtempSync(join(parent, 'runbook-demo-'));
  // the sandbox's etcd peers on 127.0.0.1 too (2380 could be taken): three distinct ports
  const [apiPort, etcdPort, etcdPeerPort] = (await distinctFreePorts([undefined, undefined, undefined])) as [number, number, number];
  let node: Awaited<ReturnType<typeof installNode>>;
  try {
    node = await installNode(root, scenario, { nodeName: 'cp1', advertiseAddress: '127.0.0.1', apiPort, etcdPort, etcdPeerPort, ...FAST_NODE });
  } catch (e) {
    rmSync(root, { recursive: true, force: true }); // nothing was started yet: no sandbox left behind
    throw e;
  }
  const kubeDir = join(root, 'etc/kubernetes');
  const sb: Sandbox = {
    root,
    scenario,
    node,
    apiPort,
    kubeDir,
    adminConf: join(kubeDir, 'admin.conf'),
    inventory: join(root, 'inventory.yaml'),
    stateDir: join(root, 'runbook-state'),
    env: sandboxEnv(root),
  };
  writeFileSync(sb.inventory, inventoryYaml(sb));
  return sb;
}

/**
 * One control-plane host reached without SSH (`ansible_connection: local`). The runbook's node
 * paths are host variables here, pointing into the sandbox; on a real node they keep their
 * defaults (/etc/kubernetes, /var/lib/kubelet, ...).
 */
export function inventoryYaml(sb: Pick<Sandbox, 'root' | 'apiPort'>): string {
  const r = (p: string) => JSON.stringify(join(sb.root, p));
  return [
    '# The demo sandbox: one simulated kubeadm control-plane node on this machine.',
    '# On a real cluster: ansible_host/ansible_user instead of ansible_connection: local, and no path overrides.',
    'all:',
    '  children:',
    '    control_plane:',
    '      hosts:',
    '        cp1:',
    '          ansible_connection: local',
    `          runbook_lock_path: ${r('var/lib/runbook/lock')}`,
    `          kube_dir: ${r('etc/kubernetes')}`,
    // the node's own /etc/kubernetes, where its kubeadm writes the kubeconfigs `certs renew` renews
    `          kubeadm_kubeconfig_dir: ${r('etc/kubernetes')}`,
    `          kubelet_dir: ${r('var/lib/kubelet')}`,
    `          node_kubeconfig: ${r('root/.kube/config')}`,
    `          backup_root: ${r('var/backups/runbook')}`,
    `          manifest_check_period: ${MANIFEST_CHECK_PERIOD}   # the simulated kubelet's fileCheckFrequency (20s on a real one)`,
    `          api_port: ${sb.apiPort}`,
    '',
  ].join('\n');
}

export async function startSandbox(sb: Sandbox): Promise<number> {
  sb.pid = await startNode(sb.root, { timeoutMs: 20_000 });
  return sb.pid;
}

/** Stops the node agent by its PID, then removes the sandbox unless `keep`. */
export async function destroySandbox(sb: Sandbox, keep: boolean): Promise<void> {
  if (sb.pid !== undefined) {
    await stopNode(sb.pid);
    sb.pid = undefined;
  }
  if (!keep) rmSync(sb.root, { recursive: true, force: true });
}

export function status(sb: Sandbox): AgentStatus | undefined {
  return nodeStatus(sb.root);
}

/** Runs argv with the sandbox's environment (emulated node commands first on PATH); never throws for an exit code. */
export function runOnNode(sb: Sandbox, argv: string[], o: { timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { env: sb.env, cwd: o.cwd ?? sb.root, timeout: o.timeoutMs ?? 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      let code = 0;
      if (err) {
        const c = (err as { code?: unknown }).code;
        code = typeof c === 'number' ? c : 127;
        if (typeof c === 'string') stderr = `${stderr}${stderr ? '\n' : ''}${argv[0]}: ${err.message}`;
      }
      resolve({ code, stdout, stderr });
    });
  });
}

/** The real kubectl against the sandbox's admin.conf. */
export function kubectl(sb: Sandbox, ...args: string[]): Promise<RunResult> {
  return runOnNode(sb, ['kubectl', '--kubeconfig', sb.adminConf, '--request-timeout=5s', ...args], { timeoutMs: 20_000 });
}

/**
 * One sha256 over a directory tree: every entry's relative path, type, mode and content (or link
 * target), sorted. Equal digests mean the trees are byte-for-byte the same.
 */
export function treeDigest(dir: string): { digest: string; files: number } {
  const h = createHash('sha256');
  let files = 0;
  walkTree(dir, '', (rel, desc) => {
    if (desc.startsWith('f ')) files++;
    h.update(`${rel} ${desc}\n`);
  });
  return { digest: h.digest('hex'), files };
}
