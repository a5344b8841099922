/**
 * runbooks/kubelet-recover.yaml end to end: the real CLI (a child process) over SSH against two
 * simulated clusters on lab hosts, both at once: kubeadm 1.18 (a worker whose kubelet.conf embeds an
 * expired client certificate, its rotated one expired too) and 1.28 (a worker whose
 * kubelet-client-current.pem expired, and a healthy worker that must be left alone). Each worker's
 * kubelet (src/lab/sim/worker-agent.ts) posts its node status to its control plane's API server over
 * real TLS with its client certificate (and, 1.14+, renews its node Lease); the real kubectl with
 * admin.conf reads the Node and Lease objects from the control plane's real etcd.
 *
 * A third case on the 1.18 worker: its network plugin unconfigured, the recovered kubelet posts
 * Ready=False; the run passes with a warning that names why.
 *
 * Regression (the audit's case): the healthy worker, recovered with force while its node is Ready, gets
 * a kubelet that dies 3 s after it starts. Its node stays Ready=True for the grace period and
 * `systemctl is-active` was true at once: the run must fail on the new kubelet's own evidence and roll
 * the worker back, not report it recovered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { treeSnapshot } from '../src/lab/tree-snapshot.js';
import type { Lab, LabHost } from '../src/lab/hosts.js';
import { installSimHost, FAST_SIM, type SimHost } from '../src/lab/sim-host.js';
import { installSimWorker, FAST_WORKER, type SimWorker } from '../src/lab/sim-worker-host.js';
import { packageRoot } from '../src/lab/sim/paths.js';
import { request as httpsRequest } from 'node:https';
import { DAY, issue, parseCert, parseKubeconfig, readPem, signedBy } from '../src/lab/sim/pki.js';
import type { ScenarioName, WorkerScenario } from '../src/lab/sim/index.js';
import { dir, lab, replaceCommand, runCli, stopAgents, useLab } from './support/lab.js';
import type { Ran as Run } from './support/run.js';
import { waitFor } from '../src/lab/wait.js';

const RECOVER = join(packageRoot, 'runbooks/kubelet-recover.yaml');

/** one cluster per case: a control-plane node and its workers */
const CLUSTERS: { id: string; cp: ScenarioName; workers: WorkerScenario[]; command: RegExp }[] = [
  { id: 'k118', cp: 'healthy-1.18', workers: ['worker-expired-1.18'], command: /kubeadm alpha kubeconfig user --client-name system:node:\S+ --org system:nodes --cert-dir \/etc\/kubernetes\/pki --apiserver-advertise-address 127\.\d+\.\d+\.\d+ --apiserver-bind-port 6443/ },
  { id: 'k128', cp: 'healthy-1.28', workers: ['worker-expired-1.28', 'worker-healthy-1.28'], command: /kubeadm kubeconfig user --config CONFIG --client-name system:node:\S+ --org system:nodes/ },
];

const cps = new Map<string, SimHost>();
const workers = new Map<string, SimWorker[]>();

const cli = (args: string[], stateKey: string) => runCli(args, stateKey, 300_000);

const hostsOf = (id: string) => [cps.get(id)!.host, ...workers.get(id)!.map((w) => w.host)];
const limit = (id: string) => hostsOf(id).map((h) => h.name).join(',');

/** the real kubectl on this machine with the control plane's admin.conf */
function kubectl(cp: SimHost, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile('kubectl', ['--kubeconfig', lab.hostPath(cp.host, '/etc/kubernetes/admin.conf'), '--request-timeout=10s', ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? 1 : 0, out: stdout + stderr }),
    );
  });
}

/** the node's Ready condition status as the API server reports it: True, Unknown, or the error */
async function readyStatus(cp: SimHost, node: string): Promise<string> {
  const r = await kubectl(cp, 'get', 'node', node, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}');
  return r.code === 0 ? r.out.trim() : `error: ${r.out.trim()}`;
}

/** sha256, mode or link target of everything the runbook may touch on a worker */
function snapshot(h: LabHost): Map<string, string> {
  return treeSnapshot(['/etc/kubernetes', '/var/lib/kubelet/pki'], (p) => lab.hostPath(h, p), { markAbsent: true });
}

const recap = (out: string) => /(\d+) hosts?: ok=\d+ changed=(\d+) failed=(\d+)/.exec(out);

/** the lab's hosts in order: each cluster's control plane, then its workers */
function layout(l: Lab) {
  let i = 0;
  return CLUSTERS.map((c) => ({ c, cp: l.hosts[i++]!, ws: c.workers.map(() => l.hosts[i++]!) }));
}

function inventory(l: Lab): string {
  const lines = [l.inventoryYaml().trimEnd(), '  children:', '    control_plane:', '      hosts:'];
  for (const x of layout(l)) lines.push(`        ${x.cp.name}: { cluster: ${x.c.id} }`);
  lines.push('    workers:', '      hosts:');
  for (const x of layout(l)) for (const w of x.ws) lines.push(`        ${w.name}: { cluster: ${x.c.id} }`);
  return lines.join('\n') + '\n';
}

const skip = useLab({
  start: { count: CLUSTERS.reduce((n, c) => n + 1 + c.workers.length, 0), firstAddress: '127.1.252.1', namePrefix: 'kr' },
  tmp: 'runbook-kubelet-e2e-',
  inventory,
  setup: async () => {
    await Promise.all(
      layout(lab).map(async (l) => {
        const cp = await installSimHost(lab, l.cp, l.c.cp, { ...FAST_SIM, etcdctl: 'none' });
        cps.set(l.c.id, cp);
        workers.set(l.c.id, await Promise.all(l.ws.map((h, j) => installSimWorker(lab, h, l.c.workers[j]!, { controlPlane: cp, ...FAST_WORKER }))));
      }),
    );
  },
  teardown: () => stopAgents([...[...workers.values()].flat(), ...cps.values()]),
});

/** a request to the control plane's API server with a client certificate: the HTTP status */
function apiAs(cp: SimHost, client: { cert: string; key: string }, method: string, path: string, body?: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = httpsRequest(
      { host: cp.host.address, port: 6443, path, method, ca: readFileSync(lab.hostPath(cp.host, '/etc/kubernetes/pki/ca.crt')), cert: client.cert, key: client.key, timeout: 10_000, headers: data ? { 'Content-Type': 'application/strategic-merge-patch+json' } : {} },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/**
 * The API server authenticates kubelets as the real one does: an expired client certificate or one
 * from another cluster's CA is 401; a certificate of the cluster CA outside group system:nodes, or for
 * another node, may not write the node (Node authorizer, NodeRestriction: 403).
 */
async function apiIsStrict(cp: SimHost, w: SimWorker, otherCp: SimHost): Promise<void> {
  const node = w.host.name;
  const expired = readFileSync(lab.hostPath(w.host, '/var/lib/kubelet/pki/kubelet-client-current.pem'), 'utf8');
  assert.ok(parseCert(expired).notAfter.getTime() < Date.now());
  assert.equal(await apiAs(cp, { cert: expired, key: expired }, 'GET', `/api/v1/nodes/${node}`), 401, 'expired kubelet certificate');
  const span = { notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) };
  const ca = readPem(lab.hostPath(cp.host, '/etc/kubernetes/pki'), 'ca');
  const foreign = await issue({ cn: `system:node:${node}`, orgs: ['system:nodes'], usage: 'client', ...span }, readPem(lab.hostPath(otherCp.host, '/etc/kubernetes/pki'), 'ca'));
  assert.equal(await apiAs(cp, foreign, 'GET', `/api/v1/nodes/${node}`), 401, 'a certificate of another cluster\'s CA');
  const noGroup = await issue({ cn: `system:node:${node}`, usage: 'client', ...span }, ca);
  assert.equal(await apiAs(cp, noGroup, 'PATCH', `/api/v1/nodes/${node}/status`, { status: {} }), 403, 'no O=system:nodes');
  const otherNode = await issue({ cn: 'system:node:somebody-else', orgs: ['system:nodes'], usage: 'client', ...span }, ca);
  assert.equal(await apiAs(cp, otherNode, 'PATCH', `/api/v1/nodes/${node}/status`, { status: {} }), 403, 'another node');
  assert.equal(await readyStatus(cp, node), 'Unknown', 'a refused status update must not make the node Ready');
}

async function recovers(id: string): Promise<void> {
  const cp = cps.get(id)!;
  const ws = workers.get(id)!;
  const expired = ws.filter((w) => w.scenario.startsWith('worker-expired'));
  const healthy = ws.filter((w) => !expired.includes(w));
  const c = CLUSTERS.find((x) => x.id === id)!;

  // the symptoms: the kubelet will not start, the API server has the node NotReady
  for (const w of expired) {
    await waitFor(`${w.host.name}'s node NotReady`, async () => (await readyStatus(cp, w.host.name)) === 'Unknown', 60_000, 300);
    const journal = readFileSync(join(w.root, 'var/log/sim/kubelet.journal'), 'utf8');
    assert.match(journal, /part of the existing bootstrap client certificate (in kubeconfig )?is expired/i);
    assert.notEqual(w.status()?.kubelet.state, 'active');
  }
  for (const w of healthy) await waitFor(`${w.host.name}'s node Ready`, async () => (await readyStatus(cp, w.host.name)) === 'True', 60_000, 300);
  const nodes = await kubectl(cp, 'get', 'nodes');
  assert.match(nodes.out, new RegExp(`${expired[0]!.host.name} +NotReady`), nodes.out);
  if (id === 'k128') await apiIsStrict(cp, expired[0]!, cps.get('k118')!);
  const before = new Map(ws.map((w) => [w.host.name, snapshot(w.host)]));

  // plan: which workers, why, and the command for this kubeadm version; nothing changes
  const p = await cli(['plan', RECOVER, '-l', limit(id)], id);
  assert.equal(p.code, 2, p.out);
  for (const w of expired) assert.match(p.out, new RegExp(`${w.host.name} \\(node ${w.host.name}\\): RECOVER: .*expired \\d+ days ago`), p.out);
  for (const w of healthy) assert.match(p.out, new RegExp(`${w.host.name} \\(node ${w.host.name}\\): nothing to do`), p.out);
  assert.match(p.out, c.command, p.out);
  assert.doesNotMatch(p.out, /LS0tLS1CRUdJT|PRIVATE KEY-----/);
  for (const w of ws) assert.deepEqual(snapshot(w.host), before.get(w.host.name), `plan changed ${w.host.name}`);

  // apply: every expired worker Ready again, on a new kubelet.conf; the healthy one untouched
  const a = await cli(['apply', RECOVER, '-l', limit(id)], id);
  assert.equal(a.code, 0, a.out);
  assert.doesNotMatch(a.out, /LS0tLS1CRUdJT|PRIVATE KEY-----/);
  const runId = /run (\d{8}T\d{6}Z-[0-9a-f]+)/.exec(a.out)?.[1];
  assert.ok(runId, a.out);
  for (const w of expired) {
    assert.equal(await readyStatus(cp, w.host.name), 'True');
    const confPath = lab.hostPath(w.host, '/etc/kubernetes/kubelet.conf');
    assert.equal(statSync(confPath).mode & 0o777, 0o600);
    assert.equal(statSync(confPath).uid, 0);
    const kc = parseKubeconfig(readFileSync(confPath, 'utf8'));
    assert.equal(kc.server, `https://${cp.host.address}:6443`);
    const cert = parseCert(kc.clientCert!);
    assert.equal(cert.cn, `system:node:${w.host.name}`);
    assert.deepEqual(cert.orgs, ['system:nodes']);
    assert.ok(cert.notAfter.getTime() > Date.now() + 300 * 86_400_000);
    // the new kubelet's certificate manager found no store pair and wrote kubelet.conf's into its store
    // (client-go fileStore.Update); a real one then rotates it at once through a CSR, which the simulated
    // worker does not: either way, a pair of this node signed by the cluster CA
    const current = lab.hostPath(w.host, '/var/lib/kubelet/pki/kubelet-client-current.pem');
    assert.match(readlinkSync(current), /^kubelet-client-\d{4}(-\d\d){5}\.pem$/);
    const stored = parseCert(readFileSync(current, 'utf8'));
    assert.deepEqual([stored.cn, stored.orgs, stored.notAfter.getTime() > Date.now()], [`system:node:${w.host.name}`, ['system:nodes'], true]);
    assert.ok(signedBy(stored, parseCert(readFileSync(lab.hostPath(cp.host, '/etc/kubernetes/pki/ca.crt')))), 'the stored pair is signed by the cluster CA');
    assert.equal(w.status()?.kubelet.state, 'active');
  }
  for (const w of healthy) assert.deepEqual(snapshot(w.host), before.get(w.host.name), `${w.host.name} (healthy) was changed`);
  // the new kubelet.conf's private key reached the worker and nothing else: not the journal, not the control plane's /tmp
  const journal = readFileSync(join(dir, 'state', id, 'runs', `${runId}.jsonl`), 'utf8');
  assert.doesNotMatch(journal, /LS0tLS1CRUdJT|PRIVATE KEY/);
  assert.deepEqual(readdirSync(lab.hostPath(cp.host, '/tmp')).filter((f) => f.startsWith('tmp.')), []);

  // again: nothing to do
  const again = await cli(['apply', RECOVER, '-l', limit(id)], id);
  assert.equal(again.code, 0, again.out);
  assert.equal(recap(again.out)?.[2], '0', `second apply changed something:\n${again.out}`);

  // rollback: every file back byte for byte, and the kubelet back to refusing its expired certificate
  const rb = await cli(['rollback', runId], id);
  assert.equal(rb.code, 0, rb.out);
  for (const w of ws) assert.deepEqual(snapshot(w.host), before.get(w.host.name), `${w.host.name} is not byte-identical after runbook rollback`);
  for (const w of expired) await waitFor(`${w.host.name}'s node NotReady after the rollback`, async () => (await readyStatus(cp, w.host.name)) === 'Unknown', 60_000, 300);

  // a failure after the new kubelet.conf is in place (the kubelet restart fails once): the run puts the
  // worker back from its backup by itself (exit 6), byte for byte
  if (id === 'k128') {
    const w = expired[0]!;
    // the first start (or restart) fails
    const restore = replaceCommand(w.host, 'systemctl', 'if { [ "$1" = start ] || [ "$1" = restart ]; } && [ ! -e /tmp/.restart-failed ]; then : > /tmp/.restart-failed; echo "Job for kubelet.service failed because the control process exited with error code." >&2; exit 1; fi');
    const f = await cli(['apply', RECOVER, '-l', limit(id)], id);
    assert.equal(f.code, 6, f.out);
    assert.match(f.out, new RegExp(`\\[${w.host.name}\\] +failed .*Restart kubelet`), f.out);
    assert.match(f.out, new RegExp(`${w.host.name} +rolled-back`), f.out);
    assert.deepEqual(snapshot(w.host), before.get(w.host.name), `${w.host.name} is not byte-identical after the run's own rollback`);
    restore();
    await kubeletDiesAfterRestart(cp, healthy[0]!, before.get(healthy[0]!.host.name)!);
  }
  if (id === 'k118') await networkNotReady(cp, expired[0]!);
}

/**
 * A worker whose network plugin has no configuration (/etc/cni/net.d empty, as while Calico or flannel
 * is down): the new kubelet talks to the API server with its new certificate but posts Ready=False
 * with the runtime's reason. The recovery passes, with a warning that names that reason (rolling the
 * certificate back would mend nothing), and the node stays NotReady until the network plugin is back.
 */
async function networkNotReady(cp: SimHost, w: SimWorker): Promise<void> {
  const node = w.host.name;
  const conflist = join(w.root, 'etc/cni/net.d/10-flannel.conflist');
  const text = readFileSync(conflist, 'utf8');
  rmSync(conflist);
  try {
    const r = await cli(['apply', RECOVER, '-l', `${cp.host.name},${node}`, '-e', 'node_monitor_grace=5'], 'k118');
    assert.equal(r.code, 0, r.out);
    const runId = /run (\d{8}T\d{6}Z-[0-9a-f]+)/.exec(r.out)?.[1];
    const journal = readFileSync(join(dir, 'state', 'k118', 'runs', `${runId}.jsonl`), 'utf8');
    const reason = 'runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized';
    assert.ok(
      journal.includes(`node ${node}: the new kubelet (restarted at `) && journal.includes(`so its credentials work; but the node is NotReady (Ready=False: ${reason}) after 5s`),
      `no warning naming the kubelet's reason in the journal:\n${journal}`,
    );
    assert.equal(await readyStatus(cp, node), 'False');
    assert.match(readFileSync(join(w.root, 'var/log/sim/kubelet.journal'), 'utf8'), /Container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady/);
    assert.equal(w.status()?.kubelet.state, 'active');
  } finally {
    writeFileSync(conflist, text);
  }
  // the network plugin's configuration back: the kubelet posts Ready=True on its own
  await waitFor(`${node}'s node Ready once its network is configured`, async () => (await readyStatus(cp, node)) === 'True', 60_000, 300);
}

/**
 * The audit's reproduction: worker `w`, Ready, recovered with force; the first kubelet started on it
 * dies 3 s later (as one that cannot work with its new credentials would). Its node stays Ready=True
 * for the grace period and the kubelet was active right after the restart, so the old verification
 * passed at once (exit 0 in about a second). The run must fail and put the worker back, byte for byte.
 * Then, with a kubelet that stays up, the forced run recovers it, on the new kubelet's own reports.
 */
async function kubeletDiesAfterRestart(cp: SimHost, w: SimWorker, pristine: Map<string, string>): Promise<void> {
  const node = w.host.name;
  const only = `${cp.host.name},${node}`;
  const force = join(dir, 'force.yaml');
  writeFileSync(force, 'force: true\n');
  await waitFor(`${node}'s node Ready`, async () => (await readyStatus(cp, node)) === 'True', 60_000, 300);
  // the first kubelet started from now on dies 3 s later
  const restore = replaceCommand(
    w.host,
    'systemctl',
    [
      'real=/usr/local/sbin/.systemctl-real',
      'case "$1 | $* " in',
      '  "start | "*" kubelet "*|"restart | "*" kubelet "*)',
      '    if [ ! -e /tmp/.kubelet-dies ]; then : > /tmp/.kubelet-dies; "$real" "$@"; rc=$?; (sleep 3; "$real" stop kubelet) >/dev/null 2>&1 & exit $rc; fi ;;',
      'esac',
    ].join('\n'),
  );
  try {
    const f = await cli(['apply', RECOVER, '-l', only, '-e', `@${force}`], 'k128');
    assert.ok(existsSync(lab.hostPath(w.host, '/tmp/.kubelet-dies')), 'the kubelet was not started through the injected systemctl');
    assert.equal(f.code, 6, `a kubelet that died 3 s after its restart was reported recovered:\n${f.out}`);
    // caught on the worker (the kubelet is not up kubelet_settle seconds after its start), or, when it died
    // before it could report a second time (a loaded machine), on the control plane
    assert.match(f.out, new RegExp(`\\[${node}\\] +failed .*(The kubelet stayed up|The new kubelet reports the node Ready, and again)`), f.out);
    assert.match(f.out, /the kubelet did not stay up: \d+s after its start it is inactive with main PID 0|reported once \(Ready=True at \S+, Lease at \S+\), then not again within 40s: it stopped talking to the API server/, f.out);
    assert.match(f.out, new RegExp(`${node} +rolled-back`), f.out);
    assert.deepEqual(snapshot(w.host), pristine, `${node} is not byte-identical after the run's own rollback`);
  } finally {
    restore();
  }
  // the rollback started the kubelet again on its old files (the injection fires once): Ready again
  await waitFor(`${node}'s node Ready after the rollback`, async () => (await readyStatus(cp, node)) === 'True', 60_000, 300);

  // a kubelet that stays up: recovered, on its own Lease renewals after the restart
  const ok = await cli(['apply', RECOVER, '-l', only, '-e', `@${force}`], 'k128');
  assert.equal(ok.code, 0, ok.out);
  const runId = /run (\d{8}T\d{6}Z-[0-9a-f]+)/.exec(ok.out)?.[1];
  const journal = readFileSync(join(dir, 'state', 'k128', 'runs', `${runId}.jsonl`), 'utf8');
  const ts = '(\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z)';
  const proof = new RegExp(`node ${node} Ready=True, posted by the new kubelet at ${ts} \\(restarted at ${ts}\\); its Lease renewed at ${ts} and again at ${ts}`).exec(journal);
  assert.ok(proof, `no proof from the new kubelet in the journal:\n${journal}`);
  const [, posted, restarted, lease1, lease2] = proof as unknown as [string, string, string, string, string];
  assert.ok(Date.parse(posted) > Date.parse(restarted) && Date.parse(lease1) > Date.parse(restarted) && Date.parse(lease2) > Date.parse(lease1), proof[0]);
  assert.equal(w.status()?.kubelet.state, 'active');
}

test('kubelet-recover on a 1.18 and a 1.28 cluster, concurrently: NotReady workers Ready, idempotent, rolled back byte-identical; a failed restart rolls the worker back', { skip, timeout: 1_200_000, concurrency: true }, async (t) => {
  await Promise.all([
    t.test('kubeadm 1.18: kubelet.conf embeds an expired client certificate (alpha kubeconfig user)', () => recovers('k118')),
    t.test('kubeadm 1.28: kubelet-client-current.pem expired, a healthy worker beside it (kubeconfig user --config)', () => recovers('k128')),
  ]);
});
