/**
 * The demo's stages, in order. Each explains itself, runs what an operator would run, and checks
 * the result; a stage that does not behave as expected is recorded on the narrator (the demo then
 * exits non-zero) and the stages that depend on it say why they stop.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { changedCountOf, runbookCli, runIdOf } from './cli-runner.js';
import { formatCertRows, readCertRows } from './certs.js';
import { shortPath, type Narrator } from './narrate.js';
import { kubectl, runOnNode, status, treeDigest, type RunResult, type Sandbox } from './sandbox.js';

export interface DemoContext {
  sb: Sandbox;
  n: Narrator;
  /** runbooks/cert-renew.yaml and runbooks/cert-check.yaml, as the operator would type them */
  renew: string;
  check: string;
  /** the scenario's certificates are inside the renewal window: the run must change the node */
  renewalExpected: boolean;
  /** some leaf certificate has already expired: kubectl fails before the run and after the rollback */
  broken: boolean;
  before?: { kube: string; kubeletPki: string; rootKubeconfig: string };
  runId?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SYMPTOM = /Unauthorized|must be logged in|was refused|connection refused/;

/**
 * Tool output without the per-item `skipped` lines (steps for other kubeadm versions), which would
 * bury the steps that matter; says how many were left out.
 */
function withoutSkipped(text: string): string {
  const lines = text.split('\n');
  const kept = lines.filter((l) => !/^\[[^\]]+\]\s+skipped\s/.test(l));
  const hidden = lines.length - kept.length;
  return hidden ? `${kept.join('\n').replace(/\s+$/, '')}\n(${hidden} skipped lines not shown: steps for other kubeadm versions or conditions that do not hold)` : text;
}

/** Print the runbook command an operator would type, run it in the sandbox, and print what it said. */
async function showRunbook(ctx: DemoContext, args: string[], shown: { maxLines: number; tail?: number; hideSkipped?: boolean }): Promise<RunResult> {
  ctx.n.command(['runbook', ...args]);
  const r = await runbookCli(ctx.sb, args);
  const text = r.stdout + r.stderr;
  ctx.n.output(shown.hideSkipped ? withoutSkipped(text) : text, { maxLines: shown.maxLines, ...(shown.tail !== undefined ? { tail: shown.tail } : {}) });
  return r;
}

function commonArgs(ctx: DemoContext): string[] {
  return ['-i', ctx.sb.inventory, '--state-dir', ctx.sb.stateDir];
}

async function showKubectl(ctx: DemoContext, r: RunResult): Promise<void> {
  ctx.n.command(['kubectl', '--kubeconfig', ctx.sb.adminConf, 'version']);
  ctx.n.output((r.stdout + r.stderr).split('\n').filter((l) => !l.startsWith('WARNING: version difference')).join('\n'));
}

/** kubectl version once the node has settled into its symptom (kubelet or API server crash-looping), or after 15 s. */
async function settledKubectl(ctx: DemoContext): Promise<RunResult> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await kubectl(ctx.sb, 'version');
    const text = r.stdout + r.stderr;
    if (r.code === 0 || /Unauthorized|must be logged in/.test(text) || Date.now() > deadline) return r;
    const st = status(ctx.sb);
    const crashing = st && (st.kubelet.restarts > 0 || st.pods.some((p) => p.component === 'kube-apiserver' && p.restartCount > 0));
    if (crashing && SYMPTOM.test(text)) return r;
    await sleep(300);
  }
}

export async function symptoms(ctx: DemoContext): Promise<void> {
  const { n, sb } = ctx;
  n.stage(
    1,
    'The symptoms',
    `A kubeadm control-plane node (scenario ${sb.scenario}, kubeadm ${sb.node.version}, ${sb.node.runtime}) is running in a`,
    `sandbox on this machine: ${sb.root}`,
    'kubeadm issues its certificates for one year. When they expire, kubectl is refused, and the kubelet may',
    'no longer start. First, what an operator sees: the real kubectl, pointed at the node\'s admin.conf.',
  );
  const r = await settledKubectl(ctx);
  await showKubectl(ctx, r);
  const text = r.stdout + r.stderr;
  if (ctx.broken) n.expect(r.code !== 0 && SYMPTOM.test(text), 'kubectl cannot manage the cluster', `expected kubectl to fail with Unauthorized or connection refused; it exited ${r.code}`);
  else {
    n.expect(
      r.code === 0 && text.includes('Server Version'),
      ctx.renewalExpected ? 'kubectl still works, but certificates expire within 30 days: renew now, before it stops' : 'kubectl works: this node is healthy',
      `expected a node whose certificates are still valid to answer kubectl; it exited ${r.code}`,
    );
  }

  n.say('', 'The kubelet (the node agent that runs the control plane as static pods), as systemd reports it:');
  n.command(['systemctl', 'status', 'kubelet']);
  const s = await runOnNode(sb, ['systemctl', 'status', 'kubelet']);
  n.output(s.stdout + s.stderr, { maxLines: 14 });

  n.say('', 'The certificates themselves (what `openssl x509 -noout -enddate` says, file by file):');
  n.output(formatCertRows(readCertRows(sb.kubeDir)));

  n.say('', 'The shipped read-only runbook cert-check.yaml reads the same facts on every control-plane node of an', 'inventory and fails (exit 4) when anything expires within 30 days. The inventory here is the sandbox:');
  n.output(readFileSync(sb.inventory, 'utf8'));
  const args = ['apply', ctx.check, ...commonArgs(ctx)];
  const c = await showRunbook(ctx, args, { maxLines: 20, tail: 3 });
  const want = ctx.renewalExpected ? 4 : 0;
  n.expect(c.code === want, ctx.renewalExpected ? `cert-check: certificates ${ctx.broken ? 'expired' : 'expire within 30 days'} (exit 4)` : 'cert-check: nothing expires soon (exit 0)', `cert-check exited ${c.code}, expected ${want}`);
}

export async function plan(ctx: DemoContext): Promise<void> {
  const { n } = ctx;
  n.stage(
    2,
    'Plan: what would change (nothing is touched)',
    '`runbook plan` connects to every host and runs only read-only probes: the kubeadm version, the',
    'certificates\' dates, which files exist. It prints, step by step, ok | change | skip | unknown and the exact',
    'commands apply would run — here the ones for this kubeadm version. Exit code 2 means changes are pending.',
  );
  const args = ['plan', ctx.renew, ...commonArgs(ctx)];
  const r = await showRunbook(ctx, args, { maxLines: 90, tail: 6, hideSkipped: true });
  const want = ctx.renewalExpected ? 2 : 0;
  n.expect(r.code === want, ctx.renewalExpected ? 'plan: changes pending (exit 2), nothing changed yet' : 'plan: nothing to change (exit 0)', `plan exited ${r.code}, expected ${want}`);
}

function digests(sb: Sandbox): { kube: string; kubeletPki: string; rootKubeconfig: string } {
  return {
    kube: treeDigest(sb.kubeDir).digest,
    kubeletPki: treeDigest(join(sb.root, 'var/lib/kubelet/pki')).digest,
    rootKubeconfig: treeDigest(join(sb.root, 'root/.kube/config')).digest,
  };
}

export async function apply(ctx: DemoContext): Promise<boolean> {
  const { n, sb } = ctx;
  n.stage(
    3,
    'Apply: renew',
    '`runbook apply` runs the steps for real, re-probing each just before it acts: back up /etc/kubernetes and',
    'the kubelet\'s certificates, renew every expiring leaf certificate (never a CA) with this version\'s kubeadm',
    'command, regenerate kubelet.conf if its certificate is stale, restart the kubelet and each control-plane',
    'static pod, then prove it: kubectl must print a Server Version. Every step is journaled; on a failure the',
    'node is rolled back from the backup automatically (on_failure: rollback).',
  );
  ctx.before = digests(sb);
  n.say(`sha256 of /etc/kubernetes before the run: ${ctx.before.kube}`);
  const args = ['apply', ctx.renew, ...commonArgs(ctx)];
  const r = await showRunbook(ctx, args, { maxLines: 90, tail: 6, hideSkipped: true });
  ctx.runId = runIdOf(r.stdout);
  const changed = changedCountOf(r.stdout);
  if (ctx.renewalExpected) {
    return n.expect(r.code === 0 && (changed ?? 0) > 0 && ctx.runId !== undefined, `apply: renewed (exit 0, changed=${changed}, run ${ctx.runId})`, `apply exited ${r.code} (changed=${changed ?? '?'}), expected 0 with changes`);
  }
  return n.expect(r.code === 0 && changed === 0, 'apply: nothing to renew (exit 0, changed=0)', `apply exited ${r.code} (changed=${changed ?? '?'}), expected 0 with no changes`);
}

export async function verify(ctx: DemoContext): Promise<void> {
  const { n, sb } = ctx;
  n.stage(4, 'Verify: the cluster answers again', 'The runbook already checked this itself; here is the same check from outside, with the real kubectl:');
  let r: RunResult | undefined;
  const deadline = Date.now() + 20_000;
  do {
    r = await kubectl(sb, 'version');
    if (r.code === 0 && r.stdout.includes('Server Version')) break;
    await sleep(300);
  } while (Date.now() < deadline);
  await showKubectl(ctx, r);
  n.expect(r.code === 0 && r.stdout.includes('Server Version'), 'kubectl prints a Server Version', `kubectl still fails (exit ${r.code})`);
  n.say('', 'And the certificates: every leaf is good for about a year; the CAs are the same as before.');
  n.output(formatCertRows(readCertRows(sb.kubeDir)));
  const args = ['apply', ctx.check, ...commonArgs(ctx)];
  const c = await showRunbook(ctx, args, { maxLines: 12, tail: 2 });
  n.expect(c.code === 0, 'cert-check passes (exit 0)', `cert-check exited ${c.code}, expected 0`);
}

export async function applyAgain(ctx: DemoContext): Promise<void> {
  const { n } = ctx;
  n.stage(
    5,
    'Apply again: nothing to do',
    'Runbooks are idempotent: every step first looks at the node, and a node whose certificates are good is',
    'only inspected. Running the same command again changes nothing (changed=0) and takes no backup.',
  );
  const args = ['apply', ctx.renew, ...commonArgs(ctx)];
  const r = await showRunbook(ctx, args, { maxLines: 30, tail: 5, hideSkipped: true });
  const changed = changedCountOf(r.stdout);
  n.expect(r.code === 0 && changed === 0, 'second apply: 0 changed', `second apply exited ${r.code} with changed=${changed ?? '?'}, expected 0 and changed=0`);
}

export async function rollback(ctx: DemoContext): Promise<void> {
  const { n, sb } = ctx;
  n.stage(
    6,
    'Roll back: the node as it was',
    'Every run is journaled, and every change is covered by the backup taken just before it. `runbook history`',
    'lists the runs; `runbook rollback RUN_ID` restores each host from that run\'s backup (verifying every file\'s',
    'sha256) and runs the runbook\'s rollback steps (restart the kubelet). Here it brings the old certificates back.',
  );
  const h = ['history', '--state-dir', sb.stateDir];
  await showRunbook(ctx, h, { maxLines: 10 });
  if (!ctx.runId || !ctx.before) {
    n.fail('no run id from the apply stage: nothing to roll back');
    return;
  }
  const args = ['rollback', ctx.runId, '--state-dir', sb.stateDir];
  const r = await showRunbook(ctx, args, { maxLines: 20, tail: 3 });
  n.expect(r.code === 0, 'rollback finished (exit 0)', `rollback exited ${r.code}, expected 0`);
  const after = digests(sb);
  n.say(`sha256 of /etc/kubernetes after the rollback: ${after.kube}`);
  n.expect(after.kube === ctx.before.kube, '/etc/kubernetes is byte-for-byte as before the run', '/etc/kubernetes differs from before the run');
  n.expect(after.kubeletPki === ctx.before.kubeletPki, '/var/lib/kubelet/pki is as before the run', '/var/lib/kubelet/pki differs from before the run');
  n.expect(after.rootKubeconfig === ctx.before.rootKubeconfig, "root's kubeconfig (/root/.kube/config) is as before the run", "/root/.kube/config differs from before the run");
  const failing = (x: RunResult) => x.code !== 0 && SYMPTOM.test(x.stdout + x.stderr);
  const working = (x: RunResult) => x.code === 0 && x.stdout.includes('Server Version');
  let k: RunResult | undefined;
  const deadline = Date.now() + 15_000;
  do {
    k = await kubectl(sb, 'version');
    if (ctx.broken ? failing(k) : working(k)) break;
    await sleep(300);
  } while (Date.now() < deadline);
  await showKubectl(ctx, k);
  if (ctx.broken) n.expect(failing(k), 'kubectl fails again, as before the run: the old certificates are back', `kubectl still works after the rollback (exit ${k.code})`);
  else n.expect(working(k), 'kubectl works, as before the run, with the old (soon expiring) certificates back', `kubectl fails after the rollback (exit ${k.code})`);
}

export function pokeInstructions(sb: Sandbox): string[] {
  const r = sb.root;
  return [
    `The sandbox is kept: ${r}`,
    sb.pid !== undefined ? `Its node agent is still running (PID ${sb.pid}); stop it with: kill ${sb.pid}` : 'Its node agent is stopped.',
    'Poke at the node with the emulated node commands first on PATH:',
    `  export SIM_ROOT=${r} PATH=${join(r, 'usr/local/sbin')}:$PATH HOME=${join(r, 'root')}`,
    `  kubectl --kubeconfig ${sb.adminConf} get nodes`,
    `  systemctl status kubelet; journalctl -u kubelet | tail; ${expiryCommand(sb.node.version)}; ${sb.node.runtime === 'docker' ? 'docker ps -a' : 'crictl ps -a'}`,
    `  runbook history --state-dir ${sb.stateDir}`,
    `Remove it with: rm -rf ${r}`,
  ];
}

/** How this kubeadm version reports expiry (DOMAIN.md's table). */
function expiryCommand(version: string): string {
  const minor = Number(/^v?1\.(\d+)/.exec(version)?.[1] ?? 99);
  if (minor < 15) return `openssl x509 -noout -enddate -in ${'$SIM_ROOT'}/etc/kubernetes/pki/apiserver.crt`;
  return minor < 20 ? 'kubeadm alpha certs check-expiration' : 'kubeadm certs check-expiration';
}

export { shortPath };
