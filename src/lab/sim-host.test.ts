// A simulated kubeadm node on a lab host, seen over SSH: the emulated commands on PATH find the node,
// the real kubectl on the host (root's ~/.kube/config) and on the operator side (admin.conf) reach its API server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { labSupport, startLab, type Lab } from './hosts.js';
import { installSimHost, FAST_SIM, type SimHost } from './sim-host.js';
import { SshTransport } from '../transport/ssh.js';
import { waitFor } from './wait.js';

const support = labSupport();
const skip = support.ok ? false : support.reason!;
let lab: Lab;
let t: SshTransport;
let sim: SimHost;
let bare: SimHost;

before(async () => {
  if (skip) return;
  lab = await startLab({ count: 2, firstAddress: '127.1.231.1', namePrefix: 'sh' });
  sim = await installSimHost(lab, lab.hosts[0]!, 'healthy-1.28', FAST_SIM); // the real etcdctl 3.4 on its PATH
  bare = await installSimHost(lab, lab.hosts[1]!, 'healthy-1.28', { ...FAST_SIM, etcdctl: 'none', start: false });
  const h = lab.hosts[0]!;
  t = await SshTransport.connect({ name: h.name, host: h.address, port: h.port, user: h.user, privateKeyPath: lab.privateKeyPath, knownHostsPath: lab.knownHostsPath });
});

after(async () => {
  if (skip) return;
  try {
    await t?.close();
    const pid = sim?.pid;
    await sim?.stop();
    await bare?.stop();
    if (pid) assert.equal(existsSync(`/proc/${pid}`), false, 'agent left running');
  } finally {
    if (lab) await lab.stop(); // even when the checks above throw: its sshds are detached and would outlive the test
  }
});


test('over SSH the host is a kubeadm node: kubeadm, systemctl, crictl, etcdctl, kubectl', { skip }, async () => {
  const h = lab.hosts[0]!;
  let r = await t.exec(['kubeadm', 'version', '-o', 'short']);
  assert.deepEqual([r.code, r.stdout], [0, 'v1.28.15\n']);
  r = await t.exec(['sh', '-c', 'command -v kubeadm']);
  assert.equal(r.stdout, '/usr/local/sbin/kubeadm\n');
  r = await t.exec(['systemctl', 'is-active', 'kubelet']);
  assert.deepEqual([r.code, r.stdout], [0, 'active\n']);
  // the real kubectl on the node, with root's kubeconfig
  r = await waitFor('kubectl on the node to print a Server Version', async () => {
    const x = await t.exec(['kubectl', 'version', '--request-timeout=5s']);
    return x.code === 0 && x.stdout.includes('Server Version') ? x : false;
  }, 30_000, 250);
  assert.match(r.stdout, /Server Version: v1\.28\.15/);
  r = await t.exec(['kubectl', 'get', 'nodes', '--request-timeout=5s']);
  assert.match(r.stdout, /sh-01 +(Not)?Ready/);
  r = await t.exec(['crictl', 'ps', '--name', 'kube-apiserver']);
  assert.match(r.stdout, /kube-apiserver/);
  // the machine's etcdctl 3.4, put on this host's PATH by the test (the machine's /usr/bin one is masked)
  r = await t.exec(['sh', '-c', 'command -v etcdctl; [ -x /usr/bin/etcdctl ] || echo masked']);
  assert.equal(r.stdout, '/usr/local/sbin/etcdctl\nmasked\n');
  r = await waitFor('etcdctl endpoint health', async () => {
    const x = await t.exec(['etcdctl', '--endpoints', `https://${h.address}:${sim.node.etcdPort}`, '--cacert', '/etc/kubernetes/pki/etcd/ca.crt', '--cert', '/etc/kubernetes/pki/etcd/healthcheck-client.crt', '--key', '/etc/kubernetes/pki/etcd/healthcheck-client.key', 'endpoint', 'health', '--cluster']);
    return x.code === 0 ? x : false;
  }, 20_000, 250);
  assert.equal(r.stdout, '', 'etcdctl 3.4 prints endpoint health on stderr');
  assert.match(r.stderr, /is healthy/);
  // kubeadm inside the namespace writes where the agent outside reads
  r = await t.exec(['kubeadm', 'certs', 'check-expiration']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /apiserver +/);
  // the operator side: the real kubectl with the node's admin.conf, against the host's address
  const out = await new Promise<string>((resolve, reject) =>
    execFile('kubectl', ['--kubeconfig', lab.hostPath(h, '/etc/kubernetes/admin.conf'), '--request-timeout=5s', 'version'], (e, so, se) => (e ? reject(new Error(se)) : resolve(so))),
  );
  assert.match(out, new RegExp(`Server Version: v1\\.28\\.15`));
  assert.equal(sim.status()?.apiserver.address, h.address);
});

test('a host without etcdctl: neither the machine\'s etcdctl nor its etcd is on the PATH', { skip }, async () => {
  const h = lab.hosts[1]!;
  const b = await SshTransport.connect({ name: h.name, host: h.address, port: h.port, user: h.user, privateKeyPath: lab.privateKeyPath, knownHostsPath: lab.knownHostsPath });
  try {
    const r = await b.exec(['sh', '-c', 'command -v etcdctl || echo no etcdctl; command -v etcd || echo no etcd; command -v kubeadm']);
    assert.equal(r.stdout, 'no etcdctl\nno etcd\n/usr/local/sbin/kubeadm\n');
    assert.equal(bare.pid, undefined);
  } finally {
    await b.close();
  }
});
