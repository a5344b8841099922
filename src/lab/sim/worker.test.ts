// Worker nodes in sandboxes (no SSH): a worker's kubelet against a control-plane node's API server
// on 127.0.0.1, the Node objects in the control plane's real etcd, read with the real kubectl.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupAll, makeNode, runIn, serverVersion, waitFor, type SimNode } from './testkit.js';
import { installWorker, startNode, stopNode, nodeStatus } from './index.js';
import { NODES_SEED_DIR } from './worker-seeds.js';
import { kubeconfigYaml, issue, readPem, DAY } from './pki.js';
import { writeFileSync } from 'node:fs';

const roots: string[] = [];
const pids: number[] = [];
after(async () => {
  for (const p of pids) await stopNode(p);
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  await cleanupAll();
});

async function ready(cp: SimNode, name: string): Promise<string> {
  const r = await cp.kubectl('get', 'node', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}');
  return r.code === 0 ? r.stdout.trim() : `error: ${r.out.trim()}`;
}

test('a worker registers with its control plane, goes NotReady on an expired certificate and Ready on a new one', async () => {
  const cp = await makeNode('healthy-1.28', { nodeMonitorGraceMs: 1500 });
  await cp.start();
  await serverVersion(cp, 60_000);
  const root = mkdtempSync(join(tmpdir(), 'sim-worker-'));
  roots.push(root);
  await installWorker(root, 'worker-healthy-1.28', { nodeName: 'w1', address: '127.0.0.1', controlPlaneRoot: cp.root, server: `https://127.0.0.1:${cp.apiPort}`, kubeletRestartMs: 300, nodeStatusUpdateMs: 200, nodeLeaseDurationSeconds: 1 });
  // never seen by the control plane: its kubelet registers the node itself (POST /api/v1/nodes)
  rmSync(join(cp.root, NODES_SEED_DIR, 'w1.json'));
  pids.push(await startNode(root));
  await waitFor('w1 Ready', async () => (await ready(cp, 'w1')) === 'True', 30_000, 200);
  assert.match(readFileSync(join(root, 'var/log/sim/kubelet.journal'), 'utf8'), /Successfully registered node" node="w1"/);
  const nodes = await cp.kubectl('get', 'nodes');
  assert.match(nodes.stdout, /cp1 +Ready +control-plane/);
  assert.match(nodes.stdout, /w1 +Ready +<none>/);

  // a 1.28 kubelet's heartbeat is its node Lease (renewed every quarter of its 1 s duration here), read
  // with the real kubectl; its status was posted at start and is not again while nothing changes (every
  // 5 min): the node is Ready on an old lastHeartbeatTime, as a real one is
  const heartbeat = async () => (await cp.kubectl('get', 'node', 'w1', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}')).stdout;
  const renewTime = async () => (await cp.kubectl('get', 'lease', '-n', 'kube-node-lease', 'w1', '-o', 'jsonpath={.spec.renewTime} {.spec.holderIdentity} {.metadata.ownerReferences[0].kind}')).stdout;
  const lease1 = await renewTime();
  assert.match(lease1, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z w1 Node$/);
  const beat1 = await heartbeat();
  await new Promise((r) => setTimeout(r, 2000));
  assert.notEqual(await renewTime(), lease1, 'the Lease is renewed');
  assert.equal(await heartbeat(), beat1, 'an unchanged status is not posted again (nodeStatusReportFrequency)');
  assert.equal(await ready(cp, 'w1'), 'True');
  // only the node itself may write its Lease (Node authorizer, NodeRestriction)
  const other = await issue({ cn: 'system:node:w2', orgs: ['system:nodes'], usage: 'client', notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) }, readPem(join(cp.root, 'etc/kubernetes/pki'), 'ca'));
  writeFileSync(join(root, 'tmp/w2.conf'), kubeconfigYaml({ server: `https://127.0.0.1:${cp.apiPort}`, caCert: readPem(join(cp.root, 'etc/kubernetes/pki'), 'ca').cert, user: 'system:node:w2', client: other }));
  const asW2 = await runIn(root, ['kubectl', '--kubeconfig', join(root, 'tmp/w2.conf'), 'get', 'lease', '-n', 'kube-node-lease', 'w1']);
  assert.match(asW2.stderr, /leases.coordination.k8s.io "w1" is forbidden: User "system:node:w2" cannot get resource "leases" .*can only access node lease with the same name/);

  // its certificate replaced by an expired one: the kubelet refuses to start, the node goes NotReady
  const ca = readPem(join(cp.root, 'etc/kubernetes/pki'), 'ca');
  const old = await issue({ cn: 'system:node:w1', orgs: ['system:nodes'], usage: 'client', notBefore: new Date(Date.now() - 400 * DAY), notAfter: new Date(Date.now() - DAY) }, ca);
  const server = `https://127.0.0.1:${cp.apiPort}`;
  writeFileSync(join(root, 'etc/kubernetes/kubelet.conf'), kubeconfigYaml({ server, caCert: ca.cert, user: 'system:node:w1', client: old }), { mode: 0o600 });
  rmSync(join(root, 'var/lib/kubelet/pki'), { recursive: true });
  const restart = await runIn(root, ['systemctl', 'restart', 'kubelet']);
  const restarted = Date.now();
  assert.equal(restart.code, 0, restart.out);
  assert.notEqual(nodeStatus(root)?.kubelet.state, 'active');
  // nothing the stopped kubelet had begun is stamped after its stop (and the new one never started)
  await new Promise((r) => setTimeout(r, 500));
  const silent = await cp.kubectl('get', 'lease', '-n', 'kube-node-lease', 'w1', '-o', 'jsonpath={.spec.renewTime}');
  assert.ok(Date.parse(silent.stdout) <= restarted, `a Lease renewal after the kubelet stopped: ${silent.stdout}`);
  const st = await runIn(root, ['systemctl', 'status', 'kubelet']);
  assert.equal(st.code, 3);
  assert.match(st.stdout, /activating \(auto-restart\)/);
  assert.match(st.stdout, /Part of the existing bootstrap client certificate in kubeconfig is expired/);
  await waitFor('w1 NotReady', async () => (await ready(cp, 'w1')) === 'Unknown', 30_000, 200);
  const desc = await cp.kubectl('get', 'node', 'w1', '-o', 'jsonpath={.status.conditions[0].message}');
  assert.equal(desc.stdout, 'Kubelet stopped posting node status.');

  // a new certificate for the node, made with kubeadm on the control plane: Ready again
  const made = await cp.run('kubeadm', 'kubeconfig', 'user', '--client-name', 'system:node:w1', '--org', 'system:nodes');
  assert.equal(made.code, 0, made.out);
  writeFileSync(join(root, 'etc/kubernetes/kubelet.conf'), made.stdout.replace(/server: .*/, `server: ${server}`), { mode: 0o600 });
  assert.equal((await runIn(root, ['systemctl', 'restart', 'kubelet'])).code, 0);
  assert.equal((await runIn(root, ['systemctl', 'is-active', 'kubelet'])).stdout, 'active\n');
  await waitFor('w1 Ready again', async () => (await ready(cp, 'w1')) === 'True', 30_000, 200);
});
