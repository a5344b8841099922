/**
 * `runbook lab up N | status | down`: loopback SSH hosts to try runbooks on, optionally simulated
 * kubeadm nodes. What each does is in ./lab-commands.ts, loaded only when a lab command runs (the
 * lab and the simulator are ~30 modules every other command would load at start).
 */
import type { Command } from 'commander';
import { CLI_SCENARIOS, WORKER_SCENARIOS } from '../lab/sim/scenario-names.js';
import { positiveInt } from './run-options.js';
import { DEFAULT_LAB_DIR, type LabUpOptions } from './lab-options.js';

const commands = () => import('./lab-commands.js');

export function register(program: Command): void {
  const lab = program
    .command('lab')
    .description('loopback SSH test hosts (root only): `lab up N` starts them and writes an inventory, `lab status`, `lab down`');
  lab
    .command('up')
    .description('start N sshd hosts on 127.1.x.y, each with its own /etc/kubernetes, /var/lib/kubelet, /root, /tmp...; print the inventory and how to reach them')
    .argument('<count>', 'how many hosts', positiveInt('count'))
    .option('--dir <dir>', 'lab directory (keys, host trees, inventory)', DEFAULT_LAB_DIR)
    .option('--scenario <name>', `make every host a simulated kubeadm control-plane node: ${CLI_SCENARIOS.join(', ')}`)
    .option('--workers <scenario>', `with --scenario: host 1 is the control plane, the others its worker nodes (kubelet only): ${WORKER_SCENARIOS.join(', ')}`)
    .option('--first-address <ip>', 'first host address (default 127.1.0.1; later hosts take the next ones)')
    .option('--port <n>', 'sshd port (default 22)', positiveInt('--port'))
    .action(async (count: number, opts: Omit<LabUpOptions, 'count'>) => {
      process.exitCode = await (await commands()).labUpCmd({ ...opts, count });
    });
  lab
    .command('status')
    .description('the hosts of a lab and whether they run (exit 5 when one does not)')
    .option('--dir <dir>', 'lab directory', DEFAULT_LAB_DIR)
    .action(async (opts: { dir?: string }) => {
      process.exitCode = (await commands()).labStatusCmd(opts);
    });
  lab
    .command('down')
    .description('stop the lab\'s processes (by PID and mount namespace, nothing else) and remove its directory')
    .option('--dir <dir>', 'lab directory', DEFAULT_LAB_DIR)
    .action(async (opts: { dir?: string }) => {
      process.exitCode = await (await commands()).labDownCmd(opts);
    });
}
