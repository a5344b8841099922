// The control-plane kubelet's reports to its API server (kubelet-report.ts, shared with the workers'),
// against a running node agent and the real kubectl: its Node Ready and its Lease renewed while it runs
// with a client certificate the API server accepts; nothing while it runs with one from another CA (401)
// or for a user outside system:nodes (403), however `active` systemd says it is; retries while its API
// server is down; nothing once it has stopped.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupAll, makeNode, serverVersion, waitFor, alive, type SimNode } from './testkit.js';
import { DAY, issue, readPem } from './pki.js';
import { notReadyMessage } from './kubelet-report.js';
import { FLANNEL_CONFLIST } from './manifests.js';
import { createNodeAgentState } from './agent/state.js';

after(async () => {
  const started = await cleanupAll();
  for (const p of started) assert.equal(alive(p), false, `agent ${p} left running`);
});

const KUBELET_CONF = 'etc/kubernetes/kubelet.conf';

const renewTime = async (n: SimNode) => (await n.kubectl('get', 'lease', '-n', 'kube-node-lease', 'cp1', '-o', 'jsonpath={.spec.renewTime}')).stdout.trim();
const ready = async (n: SimNode) => (await n.kubectl('get', 'node', 'cp1', '-o', 'jsonpath={range .status.conditions[?(@.type=="Ready")]}{.status} {.lastHeartbeatTime}{end}')).stdout.trim();
const journal = (n: SimNode) => n.file('var/log/sim/kubelet.journal');

const STORE = 'var/lib/kubelet/pki';
const storeCurrent = (n: SimNode) => join(n.root, STORE, 'kubelet-client-current.pem');
/** Points the kubelet's store at `name` (kubelet-client-current.pem, which kubelet.conf names, as kubeadm >= 1.17 writes it). */
function relink(n: SimNode, name: string): void {
  rmSync(storeCurrent(n), { force: true });
  symlinkSync(name, storeCurrent(n));
}

/**
 * A client certificate for `cn` in `orgs`, signed by `ca` (the cluster's unless given), made the pair the
 * kubelet's certificate manager holds: its store's current one (the manager prefers it to any file kubelet.conf names).
 */
async function storePair(n: SimNode, name: string, cn: string, orgs: string[], ca = readPem(join(n.root, 'etc/kubernetes/pki'), 'ca')): Promise<void> {
  const pem = await issue({ cn, orgs, usage: 'client', notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + DAY) }, ca);
  writeFileSync(join(n.root, STORE, name), pem.cert + pem.key, { mode: 0o600 });
  relink(n, name);
}

/** Restarts the kubelet (on the store's new pair); waits until it is active and has failed to report with `error`, and checks it renews nothing meanwhile. */
async function runsWithout(n: SimNode, error: RegExp): Promise<void> {
  assert.equal((await n.run('systemctl', 'restart', 'kubelet')).code, 0);
  const restarted = new Date().toISOString(); // the old kubelet has exited: anything later is the new one's
  assert.equal((await n.run('systemctl', 'is-active', 'kubelet')).stdout.trim(), 'active');
  await waitFor(`the kubelet's report to fail with ${error}`, () => error.test(n.status()?.lastLeaseError ?? '') && error.test(n.status()?.lastHeartbeatError ?? ''), 20_000, 100);
  const before = await renewTime(n);
  await new Promise((r) => setTimeout(r, 1500)); // three renew intervals
  assert.equal(await renewTime(n), before, 'a kubelet the API server refuses renews nothing');
  assert.ok(before < restarted.replace('Z', '000Z'), `the Lease was last renewed at ${before}, before the restart at ${restarted}`);
  assert.equal((await n.run('systemctl', 'is-active', 'kubelet')).stdout.trim(), 'active', 'and systemd still says active');
}

test('a control-plane kubelet reports its node while the API server accepts it, not otherwise, and retries while its API server is down', { timeout: 180_000 }, async () => {
  const n = await makeNode('healthy-1.28', { nodeMonitorGraceMs: 1500 });
  await n.start();
  await serverVersion(n, 60_000);
  // registered long ago (seeded), its kubelet posts Ready at once and renews its Lease every 0.5 s
  await waitFor('cp1 Ready', async () => (await ready(n)).startsWith('True '), 30_000, 200);
  const nodes = await n.kubectl('get', 'nodes');
  assert.match(nodes.stdout, /cp1 +Ready +control-plane/);
  const taints = await n.kubectl('get', 'node', 'cp1', '-o', 'jsonpath={.spec.taints[*].key}');
  assert.equal(taints.stdout.trim(), 'node-role.kubernetes.io/control-plane');
  const r1 = await renewTime(n);
  await waitFor('the Lease renewed again', async () => (await renewTime(n)) > r1, 10_000, 200);
  assert.match(n.file(KUBELET_CONF), /client-certificate: \/var\/lib\/kubelet\/pki\/kubelet-client-current\.pem/);
  const good = readlinkSync(storeCurrent(n));

  // a client certificate from another CA: 401, nothing reported
  const foreign = await issue({ cn: 'kubernetes', usage: 'ca', notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 10 * DAY) });
  await storePair(n, 'foreign.pem', 'system:node:cp1', ['system:nodes'], foreign);
  await runsWithout(n, /Unauthorized/);
  // the cluster's CA, but not a node's identity: 403 from the Node authorizer
  await storePair(n, 'other.pem', 'system:kube-scheduler', []);
  await runsWithout(n, /forbidden/);
  assert.match(journal(n), /"Failed to update lease" err=".*Unauthorized/);
  // the node goes NotReady once the grace period passes without a report
  await waitFor('cp1 NotReady', async () => (await ready(n)).startsWith('Unknown '), 20_000, 200);

  // back on its own certificate: Ready again, with a heartbeat from after the restart
  relink(n, good);
  const t = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
  await new Promise((r) => setTimeout(r, t.getTime() - Date.now()));
  assert.equal((await n.run('systemctl', 'restart', 'kubelet')).code, 0);
  await waitFor('cp1 Ready after the restart', async () => {
    const [st, hb] = (await ready(n)).split(' ');
    return st === 'True' && Date.parse(hb ?? '') >= t.getTime();
  }, 20_000, 200);

  // its API server down (the manifest out: the static pod stops): the kubelet keeps trying, and reports
  // again once it is back
  const manifest = join(n.root, 'etc/kubernetes/manifests/kube-apiserver.yaml');
  renameSync(manifest, join(n.root, 'tmp/kube-apiserver.yaml'));
  await waitFor('the report to fail on the refused connection', () => /connection refused/.test(n.status()?.lastLeaseError ?? ''), 30_000, 100);
  const down = n.status()!.lastLeaseRenew!;
  renameSync(join(n.root, 'tmp/kube-apiserver.yaml'), manifest);
  await serverVersion(n, 60_000);
  await waitFor('the Lease renewed once the API server is back', () => (n.status()?.lastLeaseRenew ?? '') > down && !n.status()?.lastLeaseError, 30_000, 100);

  // stopped: no renewal any more
  assert.equal((await n.run('systemctl', 'stop', 'kubelet')).code, 0);
  const last = await renewTime(n);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await renewTime(n), last, 'a stopped kubelet renews nothing');
  assert.match(readFileSync(join(n.root, 'var/log/sim/kubelet.journal'), 'utf8'), /Error updating node status, will retry/);
});

test('the Ready condition\'s reason without a network configuration: the runtime\'s words, the kubelet\'s prefix for its version', async () => {
  const [n128, n111] = await Promise.all([makeNode('healthy-1.28'), makeNode('seed2-1.11-docker')]);
  const conf = (n: SimNode) => join(n.root, 'etc/cni/net.d/10-flannel.conflist');
  assert.equal(notReadyMessage(createNodeAgentState(n128.root, {})), undefined, 'installed with a network plugin configuration');
  rmSync(conf(n128));
  writeFileSync(join(n128.root, 'etc/cni/net.d/README'), 'not a configuration');
  assert.equal(notReadyMessage(createNodeAgentState(n128.root, {})), 'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized');
  // go-cni loads the first file in name order, and only a real network configuration
  writeFileSync(join(n128.root, 'etc/cni/net.d/87-podman.json'), '{}');
  assert.match(notReadyMessage(createNodeAgentState(n128.root, {})) ?? '', /cni plugin not initialized/, 'a network without a type');
  writeFileSync(join(n128.root, 'etc/cni/net.d/87-podman.json'), '{"cniVersion": "0.4.0", "name": "podman", "type": "bridge"}');
  assert.equal(notReadyMessage(createNodeAgentState(n128.root, {})), undefined, 'a *.json network with a type');
  writeFileSync(join(n128.root, 'etc/cni/net.d/10-calico.conflist'), '{"name": "k8s-pod-network", "plugins": []}');
  assert.match(notReadyMessage(createNodeAgentState(n128.root, {})) ?? '', /cni plugin not initialized/, 'the first file, a list without plugins, is what counts');
  rmSync(join(n128.root, 'etc/cni/net.d/10-calico.conflist'));
  writeFileSync(conf(n128), FLANNEL_CONFLIST.text);
  assert.equal(notReadyMessage(createNodeAgentState(n128.root, {})), undefined, "flannel's list, first in name order");
  rmSync(join(n111.root, 'etc/cni'), { recursive: true });
  assert.equal(notReadyMessage(createNodeAgentState(n111.root, {})), 'runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:docker: network plugin is not ready: cni config uninitialized');
});
