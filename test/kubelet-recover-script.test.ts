/**
 * The kubelet.conf maker of runbooks/kubelet-recover.yaml (vars.sh_make_kubelet_conf), run as the
 * runbook runs it on a control-plane node, against the emulated kubeadm of each version branch:
 * 1.11 (`alpha phase kubeconfig user`), 1.18 (`alpha kubeconfig user`), 1.20 (`alpha kubeconfig
 * user --config`), 1.24 (`kubeconfig user`, --config required), 1.28 and 1.31 (v1beta4 config).
 * Each must print a kubeconfig for system:node:w1 in system:nodes, signed by the node's CA, naming the
 * server the worker used before, and leave no configuration file behind.
 *
 * Then the runbook's proof that the NEW kubelet works (vars.sh_restart_kubelet on the worker,
 * sh_kubelet_reports on the control plane with the real kubectl, sh_kubelet_stays on the worker), on
 * every kind of kubelet heartbeat: 1.11 (no coordination.k8s.io at all: status posts), 1.15 (node
 * Lease through coordination.k8s.io/v1beta1), 1.16 with NodeLease off (the API has Leases, the kubelet
 * none: status posts), 1.18 (Lease, v1); and a kubelet that dies, or is restarted by systemd, soon after
 * its first report. Last, the comparisons themselves against a fake kubectl: a heartbeat in the same
 * second as the restart is not after it.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { packageRoot } from '../src/lab/sim/paths.js';
import { cleanupAll, makeNode, runIn, serverVersion, waitFor, type SimNode } from '../src/lab/sim/testkit.js';
import { installWorker, sandboxEnv, startNode, stopNode, type ScenarioName } from '../src/lab/sim/index.js';
import { parseCert, parseKubeconfig, readCertFile, signedBy } from '../src/lab/sim/pki.js';

const workerRoots: string[] = [];
const workerPids: number[] = [];
after(async () => {
  for (const p of workerPids) await stopNode(p);
  for (const r of workerRoots) rmSync(r, { recursive: true, force: true });
  await cleanupAll();
});

const runbook = load(readFileSync(join(packageRoot, 'runbooks/kubelet-recover.yaml'), 'utf8')) as { vars: Record<string, string> };
const shared = load(readFileSync(join(packageRoot, 'runbooks/shared/kubelet-heartbeat.yaml'), 'utf8')) as Record<string, string>;
const SCRIPT = runbook.vars.sh_make_kubelet_conf!;
const RESTART = runbook.vars.sh_restart_kubelet!;
/** sh_restart_kubelet's argument, as the runbook passes it */
const STOP_NOTE_TIME = shared.sh_stop_kubelet_note_time!;
const REPORTS = shared.sh_kubelet_reports!;
const STAYS = runbook.vars.sh_kubelet_stays!;

const CASES: { version: string; scenario: ScenarioName; minor: number }[] = [
  { version: 'v1.11.10', scenario: 'seed2-1.11-docker', minor: 11 },
  { version: 'v1.18.20', scenario: 'healthy-1.18', minor: 18 },
  { version: 'v1.20.15', scenario: 'healthy-1.18', minor: 20 },
  { version: 'v1.24.17', scenario: 'healthy-1.28', minor: 24 },
  { version: 'v1.28.15', scenario: 'healthy-1.28', minor: 28 },
  { version: 'v1.31.2', scenario: 'healthy-1.28', minor: 31 },
];

async function makes(c: (typeof CASES)[number]): Promise<void> {
  {
    const n = await makeNode(c.scenario);
    const json = join(n.root, 'var/lib/sim/node.json');
    const cfg = JSON.parse(readFileSync(json, 'utf8')) as { version: string };
    writeFileSync(json, JSON.stringify({ ...cfg, version: c.version }, null, 2));
    const server = 'https://lb.example.internal:8443';
    // on a node, mktemp writes to /tmp; in the sandbox that is <root>/tmp
    const env = { ...sandboxEnv(n.root), TMPDIR: join(n.root, 'tmp') };
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile('sh', ['-c', SCRIPT, 'sh', String(c.minor), 'w1', server, '/etc/kubernetes/pki', '127.0.0.1', String(n.apiPort)], { env, cwd: n.root }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr })),
    );
    assert.equal(r.code, 0, r.stderr);
    const kc = parseKubeconfig(r.stdout);
    assert.equal(kc.server, server);
    assert.equal(kc.user, 'system:node:w1');
    const cert = parseCert(kc.clientCert!);
    assert.equal(cert.cn, 'system:node:w1');
    assert.deepEqual(cert.orgs, ['system:nodes']);
    assert.ok(signedBy(cert, readCertFile(join(n.root, 'etc/kubernetes/pki/ca.crt'))));
    assert.ok(kc.clientKey?.includes('PRIVATE KEY'));
    assert.deepEqual(readdirSync(join(n.root, 'tmp')).filter((f) => f.startsWith('tmp.')), [], 'the kubeadm configuration file is removed');
  }
}

test('the runbook\'s kubelet.conf maker on each kubeadm version branch, concurrently', { concurrency: true }, async (t) => {
  await Promise.all(CASES.map((c) => t.test(`kubeadm ${c.version}`, () => makes(c))));
});

test('kubeadm 1.10: refused with the reason (no --org for kubeconfig user)', async () => {
  const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile('sh', ['-c', SCRIPT, 'sh', '10', 'w1', 'https://x:6443', '/etc/kubernetes/pki', '127.0.0.1', '6443'], (err, _o, stderr) => resolve({ code: err ? 1 : 0, stderr })),
  );
  assert.equal(r.code, 1);
  assert.match(r.stderr, /kubeadm 1\.10 has no --org/);
});

// ---------------------------------------------------------------- the proof that the new kubelet works

interface Sh {
  code: number;
  stdout: string;
  stderr: string;
}

/** `sh -c SCRIPT sh ARGS...` as the runbook runs it, on the sandbox node `root` (its emulated systemctl first on PATH). */
function sh(root: string, script: string, args: string[], env: NodeJS.ProcessEnv = sandboxEnv(root)): Promise<Sh> {
  return new Promise((resolve) =>
    execFile('sh', ['-c', script, 'sh', ...args], { env, cwd: root, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr })),
  );
}

/** A running worker `name` of `cp` (kubelet `version`), fast periods as in the lab. */
async function worker(cp: SimNode, name: string, version: string, nodeLease?: boolean): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), `sim-worker-${name}-`));
  workerRoots.push(root);
  await installWorker(root, 'worker-healthy-1.28', {
    nodeName: name, address: '127.0.0.1', controlPlaneRoot: cp.root, server: `https://127.0.0.1:${cp.apiPort}`,
    version, kubeletRestartMs: 400, nodeStatusUpdateMs: 300, nodeLeaseDurationSeconds: 1, ...(nodeLease === undefined ? {} : { nodeLease }),
  });
  workerPids.push(await startNode(root));
  await waitFor(`${name} Ready`, async () => {
    const r = await cp.kubectl('get', 'node', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}');
    return r.stdout.trim() === 'True';
  }, 60_000, 300);
  return root;
}

/** The runbook's restart on the worker: the stop time T, the start's epoch second, the main PID. */
async function restart(root: string): Promise<{ t: string; up: string; pid: string }> {
  const r = await sh(root, RESTART, [STOP_NOTE_TIME]);
  assert.equal(r.code, 0, r.stderr);
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (\d+) (\d+)$/.exec(r.stdout.trim());
  assert.ok(m, `restart printed ${JSON.stringify(r.stdout)}`);
  assert.notEqual(m[3], '0', 'the kubelet has no main PID right after its start');
  return { t: m[1]!, up: m[2]!, pid: m[3]! };
}

const reports = (cp: SimNode, node: string, t: string, budget = '60') => sh(cp.root, REPORTS, [join(cp.root, 'etc/kubernetes/admin.conf'), node, t, budget, '40'], sandboxEnv(cp.root));

const HEARTBEATS: { version: string; nodeLease?: boolean; cp: 'old' | 'v118'; lease: boolean; proof: RegExp; why: string }[] = [
  { version: 'v1.11.10', cp: 'old', lease: false, proof: /posted by the new kubelet at \S+ and again at \S+ \(restarted at \S+; no node Lease renewed\)/, why: 'no coordination.k8s.io: status posts every nodeStatusUpdateFrequency' },
  { version: 'v1.15.12', cp: 'v118', lease: true, proof: /its Lease renewed at \S+ and again at \S+/, why: 'a node Lease through coordination.k8s.io/v1beta1' },
  { version: 'v1.16.15', nodeLease: false, cp: 'v118', lease: false, proof: /and again at \S+ \(restarted at \S+; no node Lease renewed\)/, why: 'NodeLease off: Leases in the API, none for this node' },
  { version: 'v1.18.20', cp: 'v118', lease: true, proof: /its Lease renewed at \S+ and again at \S+/, why: 'a node Lease, v1' },
];

test('the new kubelet proves itself on every kind of heartbeat; one that dies or is restarted after its first report does not', { concurrency: true, timeout: 600_000 }, async (t) => {
  // a control plane that is 1.11 to its clients (no coordination.k8s.io), and a 1.18 one (v1 and v1beta1)
  const cps = { old: await makeNode('healthy-1.18', { nodeMonitorGraceMs: 3000 }), v118: await makeNode('healthy-1.18', { nodeMonitorGraceMs: 3000 }) };
  const json = join(cps.old.root, 'var/lib/sim/node.json');
  writeFileSync(json, JSON.stringify({ ...(JSON.parse(readFileSync(json, 'utf8')) as object), version: 'v1.11.10' }, null, 2));
  await Promise.all(Object.values(cps).map(async (cp) => {
    await cp.start();
    await serverVersion(cp, 90_000);
  }));
  const noGroup = await cps.old.kubectl('get', 'leases.coordination.k8s.io', '-n', 'kube-node-lease', 'x');
  assert.match(noGroup.stderr, /doesn't have a resource type "leases"/);
  /** a 1.18 worker of the 1.18 control plane, restarted by the runbook's script, that has reported twice since */
  const restartedAndReported = async (node: string) => {
    const root = await worker(cps.v118, node, 'v1.18.20');
    const r = await restart(root);
    const p = await reports(cps.v118, node, r.t);
    assert.equal(p.code, 0, p.stderr);
    return { root, r };
  };

  await Promise.all([
    ...HEARTBEATS.map((c) => t.test(`kubelet ${c.version}${c.nodeLease === false ? ' (NodeLease off)' : ''}: ${c.why}`, async () => {
      const cp = cps[c.cp];
      const node = `w${c.version.replace(/^v1\.(\d+).*/, '$1')}`;
      const root = await worker(cp, node, c.version, c.nodeLease);
      const lease = await cp.kubectl('get', 'leases.coordination.k8s.io', '-n', 'kube-node-lease', node, '-o', 'jsonpath={.spec.renewTime}');
      if (c.lease) assert.match(lease.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, lease.out);
      else assert.match(lease.stderr, c.cp === 'old' ? /doesn't have a resource type "leases"/ : new RegExp(`NotFound\\): leases.coordination.k8s.io "${node}" not found`), `${node} should have no Lease`);
      const r = await restart(root);
      const p = await reports(cp, node, r.t);
      assert.equal(p.code, 0, p.stderr);
      assert.match(p.stdout, c.proof);
      const s = await sh(root, STAYS, [r.up, r.pid, '2']);
      assert.equal(s.code, 0, s.stderr);
      assert.match(s.stdout, new RegExp(`kubelet active, still main PID ${r.pid}, \\d+s after its start`));
    })),
    t.test('kubelet v1.18.20 that stops after its first reports: not up', async () => {
      const { root, r } = await restartedAndReported('wdies');
      assert.equal((await runIn(root, ['systemctl', 'stop', 'kubelet'])).code, 0);
      const s = await sh(root, STAYS, [r.up, r.pid, '2']);
      assert.equal(s.code, 1, s.stdout);
      assert.match(s.stderr, new RegExp(`the kubelet did not stay up: \\d+s after its start it is inactive with main PID 0 \\(it started as main PID ${r.pid}\\)`));
    }),
    t.test('kubelet v1.18.20 killed after its first report, restarted by systemd: not the process that started', async () => {
      const { root, r } = await restartedAndReported('wkilled');
      assert.equal((await runIn(root, ['systemctl', 'kill', 'kubelet'])).code, 0);
      await waitFor('the kubelet restarted by systemd', async () => (await runIn(root, ['systemctl', 'is-active', 'kubelet'])).stdout.trim() === 'active', 10_000, 100);
      const s = await sh(root, STAYS, [r.up, r.pid, '2']);
      assert.equal(s.code, 1, s.stdout);
      assert.match(s.stderr, new RegExp(`it is active with main PID (?!${r.pid}\\b)\\d+ \\(it started as main PID ${r.pid}\\)`));
    }),
    t.test('kubelet v1.18.20 that cannot start (no kubelet.conf): nothing from it within the budget', async () => {
      const root = await worker(cps.v118, 'wnever', 'v1.18.20');
      rmSync(join(root, 'etc/kubernetes/kubelet.conf'));
      const r = await sh(root, RESTART, [STOP_NOTE_TIME]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, / 0\n$/, 'a kubelet that failed at once has no main PID');
      const p = await reports(cps.v118, 'wnever', r.stdout.split(' ')[0]!, '3');
      assert.equal(p.code, 1, p.stdout);
      // the old kubelet's Lease and status, both before the restart (Ready=Unknown once the grace period is over)
      assert.match(p.stderr, /node wnever: nothing from the kubelet restarted at \S+ within 3s: Ready=(True|Unknown) \(last status at \S+\), Lease renewed at \S+/);
    }),
  ]);
});

test('the comparisons: only what is stamped after the restart counts, to the second for status posts (a fake kubectl)', async () => {
  const fake = mkdtempSync(join(tmpdir(), 'fake-kubectl-'));
  workerRoots.push(fake);
  mkdirSync(join(fake, 'bin'));
  writeFileSync(join(fake, 'bin/kubectl'), [
    '#!/bin/sh',
    // call N prints line N of the file (its last line once past the end): a node that changes between polls
    'line() { n=$(cat "$FAKE/$1.n" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$FAKE/$1.n"; l=$(sed -n "${n}p" "$FAKE/$1"); [ -n "$l" ] || l=$(tail -n 1 "$FAKE/$1"); printf %s "$l"; }',
    'case "$*" in',
    '  *" node "*) line node ;;',
    '  *leases*) if [ -e "$FAKE/lease" ]; then line lease; else echo \'Error from server (NotFound): leases.coordination.k8s.io "w1" not found\' >&2; exit 1; fi ;;',
    'esac',
    '',
  ].join('\n'));
  chmodSync(join(fake, 'bin/kubectl'), 0o755);
  const env = { ...process.env, FAKE: fake, PATH: `${join(fake, 'bin')}:${process.env.PATH ?? ''}` };
  const T = '2026-01-01T10:00:05.300000000Z';
  const run = async (node: string, lease?: string) => {
    writeFileSync(join(fake, 'node'), node);
    for (const f of ['lease', 'node.n', 'lease.n']) rmSync(join(fake, f), { force: true });
    if (lease !== undefined) writeFileSync(join(fake, 'lease'), lease);
    return sh(fake, REPORTS, ['/etc/kubernetes/admin.conf', 'w1', T, '1', '1'], env);
  };
  // the old kubelet's last post, in the same second as the restart: whole seconds cannot show it is later
  let r = await run('True 2026-01-01T10:00:05Z');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nothing from the kubelet restarted at 2026-01-01T10:00:05\.300000000Z within 1s: Ready=True \(last status at 2026-01-01T10:00:05Z\), Lease renewed at never/);
  // a Lease renewed before the restart, Ready posted long ago: nothing
  r = await run('True 2026-01-01T09:58:00Z', '2026-01-01T10:00:05.299999Z');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nothing from the kubelet restarted/);
  // posted after the restart, but only once (the values do not move): not enough
  r = await run('True 2026-01-01T10:00:06Z', '2026-01-01T10:00:05.400000Z');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /reported once \(Ready=True at 2026-01-01T10:00:06Z, Lease at 2026-01-01T10:00:05\.400000Z\), then not again within 1s: it stopped talking to the API server/);
  // a Lease renewed after the restart, but Ready not posted again: the node's Ready is the old kubelet's
  r = await run('True 2026-01-01T10:00:05Z', '2026-01-01T10:00:05.400000Z');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /renewed its Lease at 2026-01-01T10:00:05\.400000Z but never posted its node status/);
  // Unknown is the node controller's, never the kubelet's, whatever its heartbeat says
  r = await run('Unknown 2026-01-01T10:00:09Z');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nothing from the kubelet restarted .*Ready=Unknown/);
  // Ready=False is the new kubelet's post too, but once is not enough
  r = await run('False 2026-01-01T10:00:07Z container runtime network not ready');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /reported once \(Ready=False at 2026-01-01T10:00:07Z\), then not again within 1s/);
  // False first (a kubelet just started), then True, the Lease renewed twice: proven, Ready
  r = await run('False 2026-01-01T10:00:06Z PLEG is not healthy: pleg has yet to be successful\nTrue 2026-01-01T10:00:06Z', '2026-01-01T10:00:05.400000Z\n2026-01-01T10:00:06.400000Z');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^node w1 Ready=True, posted by the new kubelet at 2026-01-01T10:00:06Z \(restarted at \S+\); its Lease renewed at 2026-01-01T10:00:05\.400000Z and again at 2026-01-01T10:00:06\.400000Z$/m);
  // False and False again (no Lease): the kubelet talks, its credentials work; NotReady for another reason passes, said
  r = await run('False 2026-01-01T10:00:06Z container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady\nFalse 2026-01-01T10:00:16Z container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^node w1: the new kubelet \(restarted at \S+\) talks to the API server \(posted at 2026-01-01T10:00:06Z and again at 2026-01-01T10:00:16Z, no node Lease renewed\), so its credentials work; but the node is NotReady \(Ready=False: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady\) after 1s/m);
});
