// Each scenario's symptoms, then the seed's manual recovery step by step, against a running node agent,
// checked with the real kubectl.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, renameSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeNode, cleanupAll, serverVersion, waitFor, alive, type SimNode } from './testkit.js';
import { readCertFile } from './pki.js';

const pids: number[] = [];
after(async () => {
  const started = await cleanupAll();
  for (const p of started) assert.equal(alive(p), false, `agent ${p} left running`);
});

async function boot(n: SimNode): Promise<void> {
  pids.push(await n.start());
}

const mv = (n: SimNode, from: string, to: string) => {
  mkdirSync(join(n.root, to, '..'), { recursive: true });
  renameSync(join(n.root, from), join(n.root, to));
};

async function nodesReady(n: SimNode): Promise<string> {
  const r = await waitFor('kubectl get nodes to show Ready', async () => {
    const x = await n.kubectl('get', 'nodes');
    return x.code === 0 && /\bReady\b/.test(x.stdout) && !/NotReady/.test(x.stdout) ? x : false;
  });
  return r.stdout;
}

test('all-expired-1.28: connection refused; certs renew all + crictl rmp + kubelet restart recovers', async () => {
  const n = await makeNode('all-expired-1.28');
  await boot(n);
  // symptoms: kubelet runs (its rotated client cert is valid), the apiserver crash-loops on etcd's expired certs
  await waitFor('apiserver crash', () => n.status()?.pods.find((p) => p.component === 'kube-apiserver')?.restartCount);
  let r = await n.run('systemctl', 'is-active', 'kubelet');
  assert.deepEqual([r.code, r.stdout], [0, 'active\n']);
  r = await n.kubectl('version');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /The connection to the server 127\.0\.0\.1:\d+ was refused - did you specify the right host or port\?/);
  r = await n.run('crictl', 'ps', '-a', '--name', 'kube-apiserver');
  assert.match(r.stdout, /Exited {14}kube-apiserver/);
  r = await n.run('crictl', 'logs', r.stdout.split('\n')[1]!.split(/\s+/)[0]!);
  assert.match(r.stderr, /authentication handshake failed: (tls: failed to verify certificate: )?x509: certificate has expired or is not yet valid/);

  // recovery (kubeadm docs): renew, then restart the control-plane pods and the kubelet
  const kubeletConf = n.sha('etc/kubernetes/kubelet.conf');
  r = await n.run('kubeadm', 'certs', 'renew', 'all');
  assert.equal(r.code, 0, r.out);
  assert.equal(n.sha('etc/kubernetes/kubelet.conf'), kubeletConf);
  r = await n.run('crictl', 'pods', '-q');
  for (const id of r.stdout.trim().split('\n')) {
    const x = await n.run('crictl', 'rmp', '-f', id);
    assert.equal(x.code, 0, x.out);
    assert.match(x.stdout, /^Stopped sandbox \w+\nRemoved sandbox \w+\n$/);
  }
  r = await n.run('systemctl', 'restart', 'kubelet');
  assert.equal(r.code, 0, r.out);
  r = await serverVersion(n);
  assert.match(r.stdout, /Server Version: v1\.28\.15/);
  assert.match(await nodesReady(n), /cp1 +Ready +control-plane/);
  r = await n.kubectl('get', '--raw', '/healthz');
  assert.deepEqual([r.code, r.stdout], [0, 'ok']);
  r = await n.run('etcdctl', '--endpoints', 'https://127.0.0.1:2379', '--cacert', '/etc/kubernetes/pki/etcd/ca.crt', '--cert', '/etc/kubernetes/pki/etcd/healthcheck-client.crt', '--key', '/etc/kubernetes/pki/etcd/healthcheck-client.key', 'endpoint', 'health');
  assert.equal(r.code, 0, r.out);
  assert.match(r.stdout, /^https:\/\/127\.0\.0\.1:2379 is healthy: successfully committed proposal: took = [\d.]+ms\n$/);
  // the apiserver serves the renewed certificate
  assert.equal(n.status()!.apiserver.servingSerial, readCertFile(join(n.root, 'etc/kubernetes/pki/apiserver.crt')).serial);

  // restarting the kubelet does not restart running static pods
  const before = n.status()!.pods.map((p) => p.container?.id).sort();
  r = await n.run('systemctl', 'restart', 'kubelet');
  await new Promise((res) => setTimeout(res, 1500));
  assert.deepEqual(n.status()!.pods.map((p) => p.container?.id).sort(), before);

  // a manifest moved out stops its pod; moved back (after fileCheckFrequency) starts it and it re-reads its certs
  r = await n.run('kubeadm', 'certs', 'renew', 'apiserver');
  const renewed = readCertFile(join(n.root, 'etc/kubernetes/pki/apiserver.crt')).serial;
  assert.notEqual(n.status()!.apiserver.servingSerial, renewed, 'running apiserver still holds the old cert');
  mv(n, 'etc/kubernetes/manifests/kube-apiserver.yaml', 'tmp/kube-apiserver.yaml');
  await waitFor('apiserver pod gone', () => !n.status()!.pods.some((p) => p.component === 'kube-apiserver'));
  r = await n.kubectl('version');
  assert.match(r.stderr, /was refused/);
  mv(n, 'tmp/kube-apiserver.yaml', 'etc/kubernetes/manifests/kube-apiserver.yaml');
  await serverVersion(n);
  assert.equal(n.status()!.apiserver.servingSerial, renewed);
});

test('seed1-1.18: kubelet activating on its expired embedded cert; the seed\'s manual recovery', async () => {
  const n = await makeNode('seed1-1.18');
  await boot(n);
  // symptoms
  let r = await n.run('systemctl', 'is-active', 'kubelet');
  assert.deepEqual([r.code, r.stdout], [3, 'activating\n']);
  r = await n.run('journalctl', '-u', 'kubelet', '--no-pager');
  assert.match(r.stdout, /kubelet\[\d+\]: E\d{4} [\d:.]+ +\d+ bootstrap\.go:265\] part of the existing bootstrap client certificate is expired: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC\n/);
  assert.match(r.stdout, /failed to run Kubelet: unable to load bootstrap kubeconfig: stat \/etc\/kubernetes\/bootstrap-kubelet\.conf: no such file or directory/);
  r = await n.run('systemctl', 'status', 'kubelet');
  assert.equal(r.code, 3);
  assert.match(r.stdout, /Active: activating \(auto-restart\) \(Result: exit-code\)/);
  r = await n.kubectl('version');
  assert.match(r.stderr, /was refused/);

  // 1. back up; stop kubelet
  cpSync(join(n.root, 'etc/kubernetes'), join(n.root, 'root/k8s_backup/kubernetes'), { recursive: true });
  assert.equal((await n.run('systemctl', 'stop', 'kubelet')).code, 0);
  // 2. init phase certs all: refused on 1.18 (expired files)
  r = await n.run('kubeadm', 'init', 'phase', 'certs', 'all');
  assert.equal(r.code, 1);
  // 3. alpha certs renew all: renews, but the kubelet still does not start
  r = await n.run('kubeadm', 'alpha', 'certs', 'renew', 'all');
  assert.equal(r.code, 0, r.out);
  await n.run('systemctl', 'start', 'kubelet');
  r = await n.run('systemctl', 'is-active', 'kubelet');
  assert.equal(r.stdout, 'activating\n');
  // 4. move leaves aside, init phase certs all; move kubeconfigs aside, init phase kubeconfig all
  for (const b of ['apiserver', 'apiserver-kubelet-client', 'apiserver-etcd-client', 'front-proxy-ca', 'front-proxy-client']) {
    for (const ext of ['.crt', '.key']) mv(n, `etc/kubernetes/pki/${b}${ext}`, `root/k8s_backup/${b}${ext}`);
  }
  r = await n.run('kubeadm', 'init', 'phase', 'certs', 'all', '--apiserver-advertise-address', '127.0.0.1');
  assert.equal(r.code, 0, r.out);
  assert.match(r.stdout, /\[certs\] Using existing ca certificate authority\n\[certs\] Generating "apiserver" certificate and key\n\[certs\] apiserver serving cert is signed for DNS names \[cp1 kubernetes kubernetes\.default kubernetes\.default\.svc kubernetes\.default\.svc\.cluster\.local\] and IPs \[10\.96\.0\.1 127\.0\.0\.1\]\n\[certs\] Generating "apiserver-kubelet-client" certificate and key\n\[certs\] Generating "front-proxy-ca" certificate and key\n/);
  assert.match(r.stdout, /\[certs\] Using existing etcd\/server certificate and key on disk\n/);
  for (const f of ['admin.conf', 'kubelet.conf', 'controller-manager.conf', 'scheduler.conf']) mv(n, `etc/kubernetes/${f}`, `root/k8s_backup/${f}`);
  // kubeadm writes the advertise address on :6443 unless told the API server's port (the sandbox's is another)
  r = await n.run('kubeadm', 'init', 'phase', 'kubeconfig', 'all', '--apiserver-bind-port', String(n.apiPort));
  assert.equal(r.code, 0, r.out);
  assert.equal(r.stdout, '[kubeconfig] Using kubeconfig folder "/etc/kubernetes"\n[kubeconfig] Writing "admin.conf" kubeconfig file\n[kubeconfig] Writing "kubelet.conf" kubeconfig file\n[kubeconfig] Writing "controller-manager.conf" kubeconfig file\n[kubeconfig] Writing "scheduler.conf" kubeconfig file\n');
  // reboot ≈ restart kubelet (it starts the static pods, which read the new files)
  await n.run('systemctl', 'restart', 'kubelet');
  await waitFor('kubelet active', async () => (await n.run('systemctl', 'is-active', 'kubelet')).code === 0);
  // 5. ~/.kube/config; 6. verify
  copyFileSync(join(n.root, 'etc/kubernetes/admin.conf'), join(n.root, 'root/.kube/config'));
  r = await serverVersion(n);
  assert.match(r.stdout, /Server Version: .*v1\.18\.20/);
  assert.match(await nodesReady(n), /cp1 +Ready +master/);
  r = await n.run('kubeadm', 'alpha', 'certs', 'check-expiration');
  assert.equal(r.code, 0, r.out);
  assert.doesNotMatch(r.stdout, /<invalid>/);
  assert.doesNotMatch(r.stdout, /Error reading configuration/, 'the cluster answers now');
});

test('seed2-1.11-docker: Unauthorized; .old moves, alpha phase certs/kubeconfig, docker stop, kubelet restart', async () => {
  const n = await makeNode('seed2-1.11-docker');
  await boot(n);
  await waitFor('apiserver up', () => n.status()?.apiserver.listening);
  // symptoms: kubelet fine, API answers but admin.conf's client cert is expired
  let r = await n.run('systemctl', 'is-active', 'kubelet');
  assert.equal(r.stdout, 'active\n');
  r = await n.kubectl('get', 'nodes');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error: You must be logged in to the server \((Unauthorized|the server has asked for the client to provide credentials)\)/);
  r = await n.kubectl('version');
  assert.match(r.stderr, /error: You must be logged in to the server \((Unauthorized|the server has asked for the client to provide credentials)\)/);
  r = await n.run('docker', 'ps');
  assert.match(r.stdout, /^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES\n/);
  const apiLine = r.stdout.split('\n').find((l) => /k8s_kube-apiserver_kube-apiserver-cp1_kube-system_\w+_0$/.test(l));
  assert.ok(apiLine, r.stdout);
  assert.match(r.stdout, /k8s_POD_kube-apiserver-cp1_kube-system_\w+_0\n/);
  const apiId = apiLine!.split(/\s+/)[0]!;
  r = await n.run('docker', 'logs', apiId);
  assert.match(r.stderr, /Unable to authenticate the request.*x509: certificate has expired or is not yet valid/);
  // kubeadm 1.11 refuses an expired existing certificate
  r = await n.run('kubeadm', 'alpha', 'phase', 'certs', 'apiserver-kubelet-client');
  assert.deepEqual([r.code, r.stderr], [1, 'failure loading apiserver-kubelet-client certificate: the certificate has expired\n']);

  // 2. move to .old  3. alpha phase certs
  for (const b of ['apiserver', 'apiserver-kubelet-client', 'apiserver-etcd-client']) {
    for (const ext of ['.key', '.crt']) mv(n, `etc/kubernetes/pki/${b}${ext}`, `etc/kubernetes/pki/${b}${ext}.old`);
  }
  r = await n.run('kubeadm', 'alpha', 'phase', 'certs', 'apiserver', '--apiserver-cert-extra-sans', '10.1.2.3,kube-master.example.com');
  assert.equal(r.code, 0, r.out);
  assert.equal(r.stdout, '[certificates] Generated apiserver certificate and key.\n[certificates] apiserver serving cert is signed for DNS names [cp1 kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local kube-master.example.com] and IPs [10.96.0.1 127.0.0.1 10.1.2.3]\n');
  r = await n.run('kubeadm', 'alpha', 'phase', 'certs', 'apiserver-kubelet-client');
  assert.equal(r.stdout, '[certificates] Generated apiserver-kubelet-client certificate and key.\n');
  r = await n.run('kubeadm', 'alpha', 'phase', 'certs', 'apiserver-etcd-client');
  assert.equal(r.stdout, '[certificates] Generated apiserver-etcd-client certificate and key.\n');
  // 4. kubeconfigs to .old, alpha phase kubeconfig all
  for (const f of ['admin.conf', 'kubelet.conf', 'controller-manager.conf', 'scheduler.conf']) mv(n, `etc/kubernetes/${f}`, `etc/kubernetes/${f}.old`);
  r = await n.run('kubeadm', 'alpha', 'phase', 'kubeconfig', 'all', '--apiserver-bind-port', String(n.apiPort));
  assert.equal(r.code, 0, r.out);
  assert.equal(r.stdout, ['admin.conf', 'kubelet.conf', 'controller-manager.conf', 'scheduler.conf'].map((f) => `[kubeconfig] Wrote KubeConfig file to disk: "/etc/kubernetes/${f}"\n`).join(''));
  // the running apiserver still serves the old certificate until its container is restarted
  r = await n.kubectl('version');
  assert.notEqual(n.status()!.apiserver.servingSerial, readCertFile(join(n.root, 'etc/kubernetes/pki/apiserver.crt')).serial);
  // 5. docker stop the apiserver; restart kubelet; restart controller-manager and scheduler
  r = await n.run('docker', 'stop', apiId);
  assert.deepEqual([r.code, r.stdout], [0, apiId + '\n']);
  await n.run('systemctl', 'restart', 'kubelet');
  for (const c of ['kube-controller-manager', 'kube-scheduler']) {
    const id = (await n.run('docker', 'ps', '-q', '--filter', `name=k8s_${c}_`)).stdout.trim();
    assert.equal((await n.run('docker', 'stop', id)).code, 0);
  }
  // 6. verify
  r = await serverVersion(n);
  assert.match(r.stdout, /Server Version: .*v1\.11\.10/);
  assert.match(await nodesReady(n), /cp1 +Ready +master/);
  assert.equal(n.status()!.apiserver.servingSerial, readCertFile(join(n.root, 'etc/kubernetes/pki/apiserver.crt')).serial);
  r = await n.run('docker', 'ps', '--filter', 'name=k8s_kube-apiserver');
  assert.match(r.stdout, /k8s_kube-apiserver_kube-apiserver-cp1_kube-system_\w+_1\n/, 'a new container (attempt 1)');
});

test('healthy and expiring nodes answer right away', async () => {
  const n = await makeNode('expiring-10d-1.28');
  await boot(n);
  const r = await serverVersion(n);
  assert.match(r.stdout, /Server Version: v1\.28\.15/);
  const c = await n.run('kubeadm', 'certs', 'check-expiration');
  assert.match(c.stdout, /\napiserver {18}.* {3}(9|10)d +ca/);
  assert.doesNotMatch(c.stdout, /Error reading configuration/);
});
