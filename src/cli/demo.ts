/** `runbook demo`: the certificate-renewal job end to end on a simulated kubeadm node on this machine (no root, no network). */
import { Option, type Command } from 'commander';
import { CLI_SCENARIOS, DEFAULT_SCENARIO } from '../lab/sim/scenario-names.js';

export interface DemoCliOptions {
  scenario?: string;
  keep?: boolean;
  dir?: string;
  renewRunbook?: string;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'build a simulated kubeadm control-plane node with expired certificates in a temp dir (no root, only 127.0.0.1), then show the symptoms, ' +
        'plan, apply, verify with the real kubectl, apply again (0 changed) and roll back, with the shipped runbooks/cert-renew.yaml. ' +
        'Exit 0 when every stage behaved as expected, 4 otherwise',
    )
    .option('--scenario <name>', `the node's situation: ${CLI_SCENARIOS.join(', ')}`, DEFAULT_SCENARIO)
    .option('--keep', 'keep the sandbox (and its node agent running) and print how to explore it')
    .option('--dir <dir>', 'create the sandbox under this directory (default: the system temp dir)')
    .addOption(new Option('--renew-runbook <file>', 'use this runbook instead of runbooks/cert-renew.yaml (for tests)').hideHelp())
    .action(async (opts: DemoCliOptions) => {
      const { runDemo } = await import('../demo/run.js'); // the simulator loads only for the demo
      process.exitCode = await runDemo({
        ...(opts.scenario ? { scenario: opts.scenario } : {}),
        ...(opts.keep ? { keep: true } : {}),
        ...(opts.dir ? { dir: opts.dir } : {}),
        ...(opts.renewRunbook ? { renewRunbook: opts.renewRunbook } : {}),
      });
    });
}
