/**
 * What `runbook lab up N | status | down` do (registered in ./lab.ts): loopback SSH hosts to try runbooks on (src/lab/hosts.ts),
 * optionally each a simulated kubeadm control-plane node (src/lab/sim-host.ts). Needs root (mount
 * namespaces, sshd on port 22). Nothing outside the lab dir and the hosts' own namespaces changes.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { constants as osConstants } from 'node:os';
import { messageOf, userError } from '../errors.js';
import { LabStartError, labSupport, openLab, startLab, stopLab, type Lab } from '../lab/hosts.js';
import { installSimHost, installSimCluster, FAST_SIM, type SimHost } from '../lab/sim-host.js';
import { WORKER_SCENARIOS, isHAScenario, nodeStatus, scenarioArg, stopNode, type ScenarioName, type WorkerScenario } from '../lab/sim/index.js';
import { installSimWorker, FAST_WORKER } from '../lab/sim-worker-host.js';
import { shellJoin } from '../transport/quote.js';
import { EXIT } from './exit-codes.js';
import { alive } from '../lab/process.js';
import { DEFAULT_LAB_DIR, type LabUpOptions } from './lab-options.js';

const INVENTORY = 'inventory.yaml';


function requireLab(): void {
  const s = labSupport();
  if (s.ok) return;
  const notRoot = process.getuid?.() !== 0;
  throw userError('usage', notRoot ? 'runbook lab needs root: its hosts are sshd servers in their own mount namespaces' : (s.reason ?? 'lab unavailable'), {
    hint: notRoot ? 'run it as root (sudo); `runbook demo` needs no root' : 'install openssh-server, util-linux (unshare) and openssh-client (ssh-keygen)',
  });
}


/** The lab's own inventory, plus (with simulated nodes) the control_plane and workers groups the kubeadm runbooks target. */
function inventoryText(lab: Lab, scenario: ScenarioName | undefined, workers: boolean): string {
  let text = lab.inventoryYaml();
  if (scenario) {
    const cps = workers ? lab.hosts.slice(0, 1) : lab.hosts;
    text += [
      '  children:',
      '    control_plane:',
      '      vars:',
      `        # simulated kubeadm nodes (${scenario}) with a fast kubelet: its fileCheckFrequency is 1s, not 20s`,
      '        manifest_check_period: 1s',
      '      hosts:',
      ...cps.map((h) => `        ${h.name}: {}`),
      ...(workers ? ['    workers:', '      hosts:', ...lab.hosts.slice(1).map((h) => `        ${h.name}: {}`)] : []),
      '',
    ].join('\n');
  }
  return text;
}

function workerScenarioArg(s: string): WorkerScenario {
  if ((WORKER_SCENARIOS as readonly string[]).includes(s)) return s as WorkerScenario;
  throw userError('usage', `--workers: unknown worker scenario "${s}"`, { hint: `one of ${WORKER_SCENARIOS.join(', ')}` });
}

export async function labUpCmd(o: LabUpOptions): Promise<number> {
  const scenario = o.scenario ? scenarioArg(o.scenario) : undefined;
  const workers = o.workers ? workerScenarioArg(o.workers) : undefined;
  if (workers && (!scenario || isHAScenario(scenario) || o.count < 2)) {
    throw userError('usage', '--workers needs --scenario with a single control-plane scenario and at least 2 hosts', { hint: 'e.g. runbook lab up 3 --scenario healthy-1.28 --workers worker-expired-1.28' });
  }
  requireLab();
  const dir = resolve(o.dir ?? DEFAULT_LAB_DIR);
  if (existsSync(join(dir, 'lab.json'))) {
    throw userError('usage', `a lab is already up in ${dir}`, { hint: `take it down first: runbook lab down --dir ${dir}` });
  }
  // Ctrl-C (or SIGTERM) while the hosts start or their simulated nodes are installed: the sshds and node
  // agents are detached (they outlive this process), so stop every one of them here, then leave with
  // the status a shell expects of an interrupted command (128 + the signal's number: 130 for SIGINT)
  const interrupt = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupt.signal.aborted) return; // stopping already (stopProcesses gives up after 5 s)
    process.stderr.write(`\nrunbook lab up: interrupted; stopping the hosts it started\n`);
    interrupt.abort(sig);
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  try {
    return await labUp(o, dir, scenario, workers, interrupt.signal);
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}

/** 128 + the number of the signal that aborted `signal`, after saying what was left running if anything was. */
function interruptedStatus(signal: AbortSignal, leftover = ''): number {
  if (leftover) process.stderr.write(`runbook lab up: ${leftover}\n`);
  const sig = signal.reason as NodeJS.Signals;
  return 128 + (osConstants.signals[sig] ?? osConstants.signals.SIGINT);
}

async function labUp(o: LabUpOptions, dir: string, scenario: ScenarioName | undefined, workers: WorkerScenario | undefined, signal: AbortSignal): Promise<number> {
  const out = o.stdout ?? process.stdout;
  let lab: Lab;
  try {
    lab = await startLab({ count: o.count, dir, signal, ...(o.firstAddress ? { firstAddress: o.firstAddress } : {}), ...(o.port ? { port: o.port } : {}) });
  } catch (e) {
    // startLab stopped what it had started (by PID) and removed the dir, unless it names what it could not stop
    if (signal.aborted) return interruptedStatus(signal, e instanceof LabStartError && e.leftover.length ? messageOf(e) : '');
    throw userError('io', `lab up failed: ${messageOf(e)}`);
  }
  const sims: Pick<SimHost, 'node' | 'pid'>[] = [];
  try {
    signal.throwIfAborted();
    if (scenario) {
      // HA: the first node is `kubeadm init`, the others join it (shared CAs, their own leaves, one etcd cluster)
      if (isHAScenario(scenario)) sims.push(...(await installSimCluster(lab, lab.hosts, scenario, FAST_SIM)));
      else if (workers) {
        // host 1: the control plane; the others: its workers, whose kubelets register with its API server
        const cp = await installSimHost(lab, lab.hosts[0]!, scenario, FAST_SIM);
        sims.push(cp);
        for (const h of lab.hosts.slice(1)) {
          signal.throwIfAborted();
          sims.push(await installSimWorker(lab, h, workers, { controlPlane: cp, ...FAST_WORKER }));
        }
      } else {
        for (const h of lab.hosts) {
          signal.throwIfAborted();
          sims.push(await installSimHost(lab, h, scenario, FAST_SIM));
        }
      }
      signal.throwIfAborted();
    }
  } catch (e) {
    // an install in progress is let finish (its node agent then exists to be stopped) before the lab goes down
    const down = await downLab(dir).then(
      () => '',
      (d: unknown) => `stopping the lab failed: ${messageOf(d)}; try again: runbook lab down --dir ${dir}`,
    );
    if (signal.aborted) return interruptedStatus(signal, down);
    throw userError('io', `lab up: installing the simulated kubeadm nodes failed: ${messageOf(e)}`);
  }
  const inventory = join(dir, INVENTORY);
  writeFileSync(inventory, inventoryText(lab, scenario, !!workers));
  const first = lab.hosts[0]!;
  const ssh = ['ssh', '-i', lab.privateKeyPath, '-o', `UserKnownHostsFile=${lab.knownHostsPath}`, ...(first.port !== 22 ? ['-p', String(first.port)] : []), `root@${first.address}`];
  const lines = [
    `lab up: ${lab.hosts.length} host(s) in ${dir}`,
    ...lab.hosts.map((h, i) => `  ${h.name}  root@${h.address}:${h.port}  sshd PID ${h.pid}${sims[i] ? `  kubeadm ${sims[i]!.node.version} (${workers && i > 0 ? `worker, ${workers}` : scenario}), node agent PID ${sims[i]!.pid}` : ''}`),
    `inventory: ${inventory}`,
    `reach a host:  ${shellJoin(ssh)}`,
    workers
      ? `try a runbook: runbook plan runbooks/kubelet-recover.yaml -i ${inventory}`
      : scenario
      ? `try a runbook: runbook plan runbooks/cert-renew.yaml -i ${inventory}`
      : `try a runbook: runbook plan examples/motd.yaml -i ${inventory}`,
    `status:        runbook lab status --dir ${dir}`,
    `take it down:  runbook lab down --dir ${dir}`,
  ];
  out.write(lines.join('\n') + '\n');
  return EXIT.ok;
}

/** Stops every simulated node agent of the lab (they run outside the hosts' namespaces), then the lab. */
async function downLab(dir: string): Promise<void> {
  const lab = openLab(dir);
  for (const h of lab.hosts) await stopNode(h.root);
  await stopLab(dir);
}


function openOrExplain(dir: string): Lab {
  if (!existsSync(join(dir, 'lab.json'))) {
    throw userError('usage', `no lab in ${dir}`, { hint: 'start one with: runbook lab up N (or give --dir)' });
  }
  return openLab(dir);
}

export async function labDownCmd(o: { dir?: string; stdout?: NodeJS.WritableStream }): Promise<number> {
  requireLab();
  const dir = resolve(o.dir ?? DEFAULT_LAB_DIR);
  const lab = openOrExplain(dir);
  try {
    await downLab(dir);
  } catch (e) {
    throw userError('io', `lab down failed: ${messageOf(e)}`);
  }
  (o.stdout ?? process.stdout).write(`lab down: ${lab.hosts.length} host(s) stopped, ${dir} removed\n`);
  return EXIT.ok;
}

export function labStatusCmd(o: { dir?: string; stdout?: NodeJS.WritableStream }): number {
  const out = o.stdout ?? process.stdout;
  const dir = resolve(o.dir ?? DEFAULT_LAB_DIR);
  const lab = openOrExplain(dir);
  out.write(`lab in ${dir}; inventory ${join(dir, INVENTORY)}\n`);
  let down = 0;
  for (const h of lab.hosts) {
    const up = alive(h.pid);
    if (!up) down++;
    const st = nodeStatus(h.root);
    const worker = (st as { role?: string } | undefined)?.role === 'worker';
    const node = st ? `  node agent PID ${st.pid} ${alive(st.pid) ? 'running' : 'stopped'}, kubelet ${st.kubelet.state}, ${worker ? 'worker node' : `API server ${st.apiserver.listening ? 'listening' : 'down'}`}` : '';
    out.write(`  ${h.name}  root@${h.address}:${h.port}  sshd PID ${h.pid} ${up ? 'running' : 'NOT RUNNING'}${node}\n`);
  }
  return down === 0 ? EXIT.ok : EXIT.unreachableHosts;
}
