/**
 * `runbook demo`: the main job end to end on a sandbox node — symptoms, plan, apply, verify, apply
 * again (0 changed), rollback — with the shipped runbooks and the real CLI, then cleanup.
 * Exit 0 only when every stage behaved as expected.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { userError } from '../errors.js';
import { CLI_SCENARIOS, scenarioArg } from '../lab/sim/index.js';
import { DEFAULT_SCENARIO } from '../lab/sim/scenario-names.js';
import { packageRoot } from '../lab/sim/paths.js';
import { ETCD_BIN } from '../lab/sim/etcd.js';
import { EXIT } from '../cli/exit-codes.js';
import { Narrator, shortPath } from './narrate.js';
import { createSandbox, destroySandbox, startSandbox, type Sandbox } from './sandbox.js';
import { readCertRows } from './certs.js';
import * as stages from './stages.js';

export { DEFAULT_SCENARIO };

export interface DemoOptions {
  scenario?: string;
  keep?: boolean;
  /** parent of the sandbox directory (default: the OS temp dir) */
  dir?: string;
  /** another renewal runbook instead of the shipped one (tests: a runbook that misbehaves) */
  renewRunbook?: string;
  out?: NodeJS.WritableStream;
}


/** The real tools the demo relies on: kubectl (checks the node from outside), openssl (the simulator's certificates) and etcd (the node's etcd). */
function checkTools(): void {
  const need: [string, string[], string][] = [
    ['kubectl', ['version', '--client'], 'the demo checks the sandbox node with the real kubectl: install it (https://kubernetes.io/docs/tasks/tools/)'],
    ['openssl', ['version'], 'the simulator makes its certificates with openssl: install it (e.g. apt-get install openssl)'],
  ];
  for (const [tool, args, hint] of need) {
    try {
      execFileSync(tool, args, { stdio: 'ignore', timeout: 20_000 });
    } catch {
      throw userError('usage', `runbook demo needs ${tool} on PATH, and none was found`, { hint });
    }
  }
  // without it the node's etcd never starts and the renewal would wait for it until its timeouts
  if (!existsSync(ETCD_BIN)) {
    throw userError('usage', `runbook demo needs the real etcd at ${ETCD_BIN}, and none was found`, { hint: "the sandbox node runs it as its etcd static pod: install Debian's etcd-server (apt-get install etcd-server)" });
  }
}

/** The closing hint of a demo that went as expected: the scenarios it names are those scenarioArg accepts. */
export function nextStepsHint(): string[] {
  return ['Next: read runbooks/cert-renew.yaml (every step says why), `runbook --help`, and try another scenario:', `  runbook demo --scenario NAME   (${CLI_SCENARIOS.join(', ')})`];
}

export async function runDemo(o: DemoOptions = {}): Promise<number> {
  const scenario = scenarioArg(o.scenario ?? DEFAULT_SCENARIO);
  checkTools();
  const n = new Narrator(o.out ?? process.stdout);
  const started = Date.now();
  const renew = shortPath(o.renewRunbook ? resolve(o.renewRunbook) : join(packageRoot, 'runbooks', 'cert-renew.yaml'));
  const check = shortPath(join(packageRoot, 'runbooks', 'cert-check.yaml'));
  for (const f of [renew, check]) if (!existsSync(f)) throw userError('io', `the runbook ${f} is missing`);

  n.title(`runbook demo — recovering a kubeadm node whose certificates expired (scenario ${scenario})`);
  n.say(
    'Everything below runs on this machine, without root or network: a simulated kubeadm control-plane node',
    '(kubeadm, systemctl, crictl/docker, a kubelet and an API server on 127.0.0.1) in a temp directory, and the',
    'real kubectl. `runbook` below is this package\'s CLI: node dist/src/cli/main.js (`npm link` puts it on PATH).',
    'On a real cluster you run the same commands with an inventory of your control-plane nodes reached over SSH.',
  );

  const times: string[] = [];
  const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await f();
    } finally {
      times.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    }
  };
  let sb: Sandbox | undefined;
  const onSignal = () => {
    // Ctrl-C: stop the node agent and remove the sandbox, then leave with the signal's code
    process.stderr.write(`\nrunbook demo: interrupted; ${sb && !o.keep ? `stopping the node agent and removing ${sb.root}` : 'stopping'}\n`);
    void (sb ? destroySandbox(sb, o.keep === true) : Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    sb = await timed('sandbox', () => createSandbox(scenario, o.dir));
    const pid = await timed('node start', () => startSandbox(sb!));
    n.say('', `Sandbox node started: ${sb.root} (its node agent — kubelet, container runtime, static pods — is PID ${pid}).`);
    n.say(`Every command below runs with the node's emulated commands first on PATH, as if typed on the node:`, `  SIM_ROOT=${sb.root} PATH=${join(sb.root, 'usr/local/sbin')}:$PATH HOME=${join(sb.root, 'root')}`);
    const leaves = readCertRows(sb.kubeDir).filter((c) => !c.isCA); // CAs are never renewed
    const ctx: stages.DemoContext = {
      sb,
      n,
      renew,
      check,
      // the renewal window is 30 days (cert-renew's renew_within)
      renewalExpected: leaves.some((c) => c.daysLeft < 30),
      broken: leaves.some((c) => c.daysLeft < 0),
    };
    await timed('symptoms', () => stages.symptoms(ctx));
    await timed('plan', () => stages.plan(ctx));
    const applied = await timed('apply', () => stages.apply(ctx));
    if (applied) {
      await timed('verify', () => stages.verify(ctx));
      await timed('apply again', () => stages.applyAgain(ctx));
      if (ctx.renewalExpected) await timed('rollback', () => stages.rollback(ctx));
      else n.say('', 'Nothing was renewed, so there is nothing to roll back.');
    } else {
      n.say('', 'The apply stage did not succeed: verification, the second apply and the rollback are skipped.');
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (sb) {
      n.stage(7, 'Clean up', o.keep ? 'The sandbox stays for you to explore.' : 'Stopping the node agent (by its PID) and removing the sandbox.');
      if (o.keep) n.say(...stages.pokeInstructions(sb));
      else await timed('cleanup', () => destroySandbox(sb!, false));
    }
  }

  const secs = ((Date.now() - started) / 1000).toFixed(1);
  n.say('', `time per stage: ${times.join(', ')}`);
  if (n.failed.length === 0) {
    n.ok(`demo finished in ${secs}s: every stage behaved as expected`);
    n.say('', ...nextStepsHint());
    return EXIT.ok;
  }
  n.fail(`demo finished in ${secs}s with ${n.failed.length} unexpected result(s):`);
  for (const f of n.failed) n.say(`    - ${f}`);
  n.say('This is a bug in runbook or its simulator; please report it with the output above (rerun with --keep to inspect the node).');
  return EXIT.failedHosts;
}
