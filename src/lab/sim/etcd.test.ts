// The simulator's etcd is the real one (Debian's etcd 3.4): a member per node, client and peer mTLS
// from pki/etcd, quorum. Checked with the real etcdctl and kubectl, in sandboxes on loopback addresses.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeCluster, makeNode, cleanupAll, serverVersion, waitFor, alive, runIn, type SimNode, type Run } from './testkit.js';
import { ETCD_BIN } from './etcd.js';

const ETCDCTL = '/usr/bin/etcdctl';
const skip = existsSync(ETCD_BIN) && existsSync(ETCDCTL) ? false : `needs ${ETCD_BIN} and ${ETCDCTL} (Debian's etcd-server and etcd-client)`;

after(async () => {
  const started = await cleanupAll();
  for (const p of started) assert.equal(alive(p), false, `agent ${p} left running`);
});

/** The real etcdctl 3.4 on node `n`, with its healthcheck-client certificate, against its local member. */
function etcdctl(n: SimNode, ...args: string[]): Promise<Run> {
  const pki = join(n.root, 'etc/kubernetes/pki/etcd');
  return runIn(n.root, [ETCDCTL, '--endpoints', `https://127.0.0.1:${n.etcdPort}`, '--cacert', join(pki, 'ca.crt'), '--cert', join(pki, 'healthcheck-client.crt'), '--key', join(pki, 'healthcheck-client.key'), '--dial-timeout=2s', '--command-timeout=3s', ...args]);
}

/** "https://… is healthy" lines of `endpoint health --cluster` (etcdctl 3.4 prints them on stderr) */
const healthyLines = (r: Run) => r.out.split('\n').filter((l) => / is healthy: /.test(l));

test('single node: etcd is a real member; etcdctl 3.4 reports health on stderr; the API server keeps its lease in it', { skip, timeout: 180_000 }, async () => {
  const n = await makeNode('healthy-1.28');
  await n.start();
  await serverVersion(n, 60_000);
  const r = await waitFor('etcdctl endpoint health', async () => {
    const x = await etcdctl(n, 'endpoint', 'health');
    return x.code === 0 ? x : false;
  });
  assert.equal(r.stdout, '', 'etcdctl 3.4 prints endpoint health on stderr');
  assert.match(r.stderr, /^https:\/\/127\.0\.0\.1:\d+ is healthy: successfully committed proposal: took = /);
  const lease = await etcdctl(n, 'get', '--keys-only', '--prefix', '/registry/masterleases/');
  assert.equal(lease.code, 0, lease.out);
  assert.match(lease.stdout, /\/registry\/masterleases\/127\.0\.0\.1/);
  // the container runtime shows etcd's container, and a restart makes a new one (a new process)
  const ps1 = await n.run('crictl', 'ps', '-q', '--name', 'etcd');
  await n.run('crictl', 'stop', ps1.stdout.trim());
  const ps2 = await waitFor('a new etcd container', async () => {
    const x = await n.run('crictl', 'ps', '-q', '--name', 'etcd');
    return x.stdout.trim() && x.stdout.trim() !== ps1.stdout.trim() ? x : false;
  });
  assert.notEqual(ps2.stdout.trim(), ps1.stdout.trim());
  await waitFor('etcd healthy again', async () => (await etcdctl(n, 'endpoint', 'health')).code === 0, 20_000, 300);
  await n.stop();
});

test('HA: three members, one cluster; no quorum (and no API) without two of them', { skip, timeout: 300_000 }, async () => {
  const ha = await makeCluster('ha-expiring-1.29', 3);
  await Promise.all(ha.map((n) => n.start()));
  for (const n of ha) await serverVersion(n, 90_000);
  const h = await waitFor('endpoint health --cluster', async () => {
    const x = await etcdctl(ha[0]!, 'endpoint', 'health', '--cluster');
    return x.code === 0 && healthyLines(x).length === 3 ? x : false;
  }, 20_000, 300);
  assert.equal(healthyLines(h).length, 3, h.out);
  const members = await etcdctl(ha[0]!, 'member', 'list');
  assert.equal(members.stdout.trim().split('\n').length, 3, members.out);

  // two of three members gone: no quorum, and the API server of the last node answers nothing
  await ha[1]!.stop();
  await ha[2]!.stop();
  const down = await waitFor('kubectl version to fail without quorum', async () => {
    const x = await ha[0]!.kubectl('version');
    return x.code !== 0 ? x : false;
  }, 30_000, 300);
  assert.doesNotMatch(down.stdout, /Server Version/);
  const unhealthy = await etcdctl(ha[0]!, 'endpoint', 'health');
  assert.notEqual(unhealthy.code, 0, unhealthy.out);
  await Promise.all(ha.map((n) => n.stop()));
});

test('HA all expired: etcd 3.4 refuses expired peer certificates; quorum comes back once two of three members are renewed', { skip, timeout: 300_000 }, async () => {
  const ha = await makeCluster('ha-expired-1.28', 3);
  await Promise.all(ha.map((n) => n.start()));
  const renew = async (n: SimNode) => {
    const r = await n.run('kubeadm', 'certs', 'renew', 'all');
    assert.equal(r.code, 0, r.out);
    // restart every static pod: new containers load the new files
    const ids = (await n.run('crictl', 'ps', '-q')).stdout.trim().split('\n').filter(Boolean);
    for (const id of ids) await n.run('crictl', 'stop', id);
  };
  await renew(ha[0]!);
  // node 1's member now has valid certificates, but its peers present expired ones: no quorum
  await new Promise((r) => setTimeout(r, 4000));
  const alone = await etcdctl(ha[0]!, 'endpoint', 'health');
  assert.notEqual(alone.code, 0, `one renewed member of three must not be healthy:\n${alone.out}`);
  const log = (await ha[0]!.run('crictl', 'logs', (await ha[0]!.run('crictl', 'ps', '-q', '--name', 'etcd')).stdout.trim())).stderr;
  assert.match(log, /certificate has expired|bad certificate/, 'etcd logs the expired peer certificate');
  await renew(ha[1]!);
  const h = await waitFor('two renewed members to form a quorum', async () => {
    const x = await etcdctl(ha[0]!, 'endpoint', 'health');
    return x.code === 0 ? x : false;
  }, 60_000, 500);
  assert.match(h.stderr, /is healthy/);
  await serverVersion(ha[0]!, 30_000);
  await Promise.all(ha.map((n) => n.stop()));
});
