// The emulated kubeadm and the scenarios' files, without a running node agent.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, renameSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeNode, cleanupAll, type SimNode } from './testkit.js';
import { installCluster, freePort } from './index.js';
import { parseCert, parseKubeconfig, readCertFile, signedBy } from './pki.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { nodeHandle } from './testkit.js';

after(async () => {
  await cleanupAll();
});

const cert = (n: SimNode, p: string) => readCertFile(join(n.root, 'etc/kubernetes/pki', p));
const confCert = (n: SimNode, f: string) => parseCert(parseKubeconfig(n.file(`etc/kubernetes/${f}`)).clientCert!);

test('scenario files: subjects, SANs, lifetimes and kubelet.conf modes like kubeadm', async () => {
  const n = await makeNode('all-expired-1.28');
  const ca = cert(n, 'ca.crt');
  assert.equal(ca.cn, 'kubernetes');
  assert.ok(ca.isCA);
  assert.ok(ca.notAfter.getTime() - ca.notBefore.getTime() >= 10 * 365 * 86400_000 - 1000, 'CA lives 10 years');
  const api = cert(n, 'apiserver.crt');
  assert.equal(api.cn, 'kube-apiserver');
  assert.deepEqual(api.dns, ['cp1', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local']);
  assert.deepEqual(api.ips, ['10.96.0.1', '127.0.0.1']);
  assert.equal(api.notBefore.getTime(), ca.notBefore.getTime(), 'leaves keep the CA NotBefore');
  assert.ok(api.notAfter.getTime() < Date.now(), 'expired');
  assert.ok(signedBy(api, ca));
  assert.deepEqual(cert(n, 'apiserver-kubelet-client.crt').orgs, ['system:masters']);
  assert.equal(cert(n, 'etcd/server.crt').cn, 'cp1');
  assert.deepEqual(cert(n, 'etcd/server.crt').ips, ['127.0.0.1', '::1']);
  assert.ok(signedBy(cert(n, 'front-proxy-client.crt'), cert(n, 'front-proxy-ca.crt')));
  assert.ok(existsSync(join(n.root, 'etc/kubernetes/pki/sa.pub')));
  const admin = confCert(n, 'admin.conf');
  assert.equal(admin.cn, 'kubernetes-admin');
  assert.deepEqual(admin.orgs, ['system:masters']);
  assert.equal(parseKubeconfig(n.file('etc/kubernetes/admin.conf')).server, `https://127.0.0.1:${n.apiPort}`);
  // >= 1.20: kubelet.conf points at the rotated client certificate
  const kc = parseKubeconfig(n.file('etc/kubernetes/kubelet.conf'));
  assert.equal(kc.clientCertFile, '/var/lib/kubelet/pki/kubelet-client-current.pem');
  const kcur = parseCert(readFileSync(join(n.root, 'var/lib/kubelet/pki/kubelet-client-current.pem')));
  assert.equal(kcur.cn, 'system:node:cp1');
  assert.deepEqual(kcur.orgs, ['system:nodes']);
  assert.equal(n.sha('root/.kube/config'), n.sha('etc/kubernetes/admin.conf'));
  assert.match(n.file('etc/kubernetes/manifests/kube-apiserver.yaml'), /--advertise-address=127\.0\.0\.1/);
  assert.ok(!existsSync(join(n.root, 'etc/kubernetes/super-admin.conf')));
  assert.ok(existsSync(join(n.root, 'usr/local/sbin/crictl')) && !existsSync(join(n.root, 'usr/local/sbin/docker')));
  const launcher = n.file('usr/local/sbin/kubeadm');
  assert.ok(launcher.includes(process.execPath) && !launcher.includes('/usr/bin/env'));

  const sa = await makeNode('super-admin-1.30');
  assert.deepEqual(confCert(sa, 'admin.conf').orgs, ['kubeadm:cluster-admins']);
  assert.deepEqual(confCert(sa, 'super-admin.conf').orgs, ['system:masters']);
  assert.deepEqual(cert(sa, 'apiserver-kubelet-client.crt').orgs, ['kubeadm:cluster-admins']);

  const s1 = await makeNode('seed1-1.18');
  const k1 = parseKubeconfig(s1.file('etc/kubernetes/kubelet.conf'));
  assert.ok(k1.clientCert, '1.18 embeds the kubelet client cert');
  assert.ok(parseCert(k1.clientCert!).notAfter.getTime() < Date.now());
});

test('kubeadm: commands that do not exist in a version fail like cobra', async () => {
  const n18 = await makeNode('seed1-1.18');
  let r = await n18.run('kubeadm', 'certs', 'renew', 'all');
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'unknown command "certs" for "kubeadm"\nTo see the stack trace of this error execute with --v=5 or higher\n');
  r = await n18.run('kubeadm', 'version', '-o', 'short');
  assert.deepEqual([r.code, r.stdout], [0, 'v1.18.20\n']);
  r = await n18.run('kubeadm', 'alpha', 'certs', 'check-expiration', '-o', 'json');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^unknown shorthand flag: 'o' in -o\n/);
  r = await n18.run('kubeadm', 'init', 'phase', 'certs', 'all', '--bogus');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^unknown flag: --bogus\n/);

  const n28 = await makeNode('healthy-1.28');
  r = await n28.run('kubeadm', 'alpha', 'certs', 'renew', 'all');
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `invalid subcommand "certs renew all"\nSee 'kubeadm alpha -h' for help and examples\n`);
  r = await n28.run('kubeadm', 'alpha', 'phase', 'certs', 'all');
  assert.equal(r.code, 1);

  const n11 = await makeNode('seed2-1.11-docker');
  r = await n11.run('kubeadm', 'certs', 'renew', 'all');
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `Error: unknown command "certs" for "kubeadm"\nRun 'kubeadm --help' for usage.\n`);
  r = await n11.run('kubeadm', 'init', 'phase', 'certs', 'all');
  assert.equal(r.code, 2, 'kubeadm 1.11 has no init phases: init runs its preflight checks and fails');
  assert.match(r.stderr, /FileAvailable--etc-kubernetes-manifests-kube-apiserver\.yaml/);
  r = await n11.run('kubeadm', 'version', '-o', 'short');
  assert.equal(r.stdout, 'v1.11.10\n');
});

test('kubeadm: init phases reuse existing files; expired ones are reused with a warning (>= 1.20) or refused (< 1.20)', async () => {
  const n = await makeNode('all-expired-1.28');
  const before = n.sha('etc/kubernetes/pki/apiserver.crt');
  let r = await n.run('kubeadm', 'init', 'phase', 'certs', 'all');
  assert.equal(r.code, 0, r.out);
  assert.match(r.stdout, /^\[certs\] Using certificateDir folder "\/etc\/kubernetes\/pki"\n\[certs\] Using existing ca certificate authority\n\[certs\] Using existing apiserver certificate and key on disk\n/);
  assert.match(r.stdout, /\[certs\] Using the existing "sa" key\n$/);
  assert.match(r.stderr, /WARNING: could not validate bounds for certificate apiserver: the certificate has expired: NotBefore: .* \+0000 UTC, NotAfter: .* \+0000 UTC/);
  assert.equal(n.sha('etc/kubernetes/pki/apiserver.crt'), before);
  r = await n.run('kubeadm', 'init', 'phase', 'kubeconfig', 'all');
  assert.equal(r.code, 0, r.out);
  assert.equal(r.stdout, [
    '[kubeconfig] Using kubeconfig folder "/etc/kubernetes"',
    '[kubeconfig] Using existing kubeconfig file: "/etc/kubernetes/admin.conf"',
    '[kubeconfig] Using existing kubeconfig file: "/etc/kubernetes/kubelet.conf"',
    '[kubeconfig] Using existing kubeconfig file: "/etc/kubernetes/controller-manager.conf"',
    '[kubeconfig] Using existing kubeconfig file: "/etc/kubernetes/scheduler.conf"', ''].join('\n'));

  // moved aside → generated, same CA, SANs from the flags
  renameSync(join(n.root, 'etc/kubernetes/pki/apiserver.crt'), join(n.root, 'etc/kubernetes/pki/apiserver.crt.old'));
  renameSync(join(n.root, 'etc/kubernetes/pki/apiserver.key'), join(n.root, 'etc/kubernetes/pki/apiserver.key.old'));
  r = await n.run('kubeadm', 'init', 'phase', 'certs', 'apiserver', '--apiserver-advertise-address', '127.0.0.1', '--apiserver-cert-extra-sans', 'lb.example.com,10.0.0.9');
  assert.equal(r.code, 0, r.out);
  assert.equal(r.stdout, '[certs] Generating "apiserver" certificate and key\n[certs] apiserver serving cert is signed for DNS names [cp1 kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local lb.example.com] and IPs [10.96.0.1 127.0.0.1 10.0.0.9]\n');
  const api = cert(n, 'apiserver.crt');
  assert.ok(api.notAfter.getTime() > Date.now() + 364 * 86400_000);
  assert.ok(signedBy(api, cert(n, 'ca.crt')));

  // 1.18: the same expired file is an error (TryLoadCertFromDisk checked the period before kubernetes#94504)
  const o = await makeNode('seed1-1.18');
  r = await o.run('kubeadm', 'init', 'phase', 'certs', 'all');
  assert.equal(r.code, 1);
  assert.match(r.stdout, /\[certs\] Using existing ca certificate authority\n$/);
  assert.equal(r.stderr, 'error execution phase certs/apiserver: failure loading apiserver certificate: failed to load certificate: the certificate has expired\nTo see the stack trace of this error execute with --v=5 or higher\n');
  // ... unless the node is told to behave the other way (DOMAIN.md: test both outcomes)
  const o2 = await makeNode('seed1-1.18', { expiredInitCerts: 'reuse' });
  r = await o2.run('kubeadm', 'init', 'phase', 'certs', 'all');
  assert.equal(r.code, 0, r.out);
  assert.match(r.stdout, /Using existing apiserver certificate and key on disk/);
});

test('kubeadm certs renew all: same subject and SANs, same CA, kubelet.conf untouched; check-expiration tables', async () => {
  const n = await makeNode('super-admin-1.30', { certSANs: ['lb.example.com'] });
  const caSha = n.sha('etc/kubernetes/pki/ca.crt');
  const kubeletConf = n.sha('etc/kubernetes/kubelet.conf');
  const apiBefore = cert(n, 'apiserver.crt');
  let r = await n.run('kubeadm', 'certs', 'check-expiration');
  assert.equal(r.code, 0, r.out);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], '[check-expiration] Reading configuration from the cluster...');
  assert.ok(lines.includes('CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED'));
  assert.match(r.stdout, /\nadmin\.conf {17}\w{3} \d\d, \d{4} \d\d:\d\d UTC {3}<invalid> {7}ca {22}no {6}\n/);
  assert.match(r.stdout, /\nsuper-admin\.conf .*<invalid>/);
  assert.match(r.stdout, /\nCERTIFICATE AUTHORITY {3}EXPIRES {18}RESIDUAL TIME {3}EXTERNALLY MANAGED\nca {22}.* {3}\dy {14}no {6}\n/);
  r = await n.run('kubeadm', 'certs', 'check-expiration', '-o', 'json');
  const info = JSON.parse(r.stdout) as { kind: string; certificates: Array<{ name: string; residualTime: number }> };
  assert.equal(info.kind, 'CertificateExpirationInfo');
  assert.ok(info.certificates.find((c) => c.name === 'super-admin.conf')!.residualTime < 0);

  r = await n.run('kubeadm', 'certs', 'renew', 'all');
  assert.equal(r.code, 0, r.out);
  assert.match(r.stdout, /\n\ncertificate embedded in the kubeconfig file for the admin to use and for kubeadm itself renewed\ncertificate for serving the Kubernetes API renewed\n/);
  assert.match(r.stdout, /certificate embedded in the kubeconfig file for the scheduler manager to use renewed\ncertificate embedded in the kubeconfig file for the super-admin renewed\n\nDone renewing certificates\. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates\.\n$/);
  assert.equal(n.sha('etc/kubernetes/pki/ca.crt'), caSha, 'CA unchanged');
  assert.equal(n.sha('etc/kubernetes/kubelet.conf'), kubeletConf, 'kubelet.conf untouched');
  const api = cert(n, 'apiserver.crt');
  assert.deepEqual([api.cn, api.dns, api.ips], [apiBefore.cn, apiBefore.dns, apiBefore.ips]);
  assert.ok(api.dns.includes('lb.example.com'));
  assert.notEqual(api.serial, apiBefore.serial);
  assert.ok(api.notAfter.getTime() > Date.now() + 364 * 86400_000);
  assert.deepEqual(confCert(n, 'admin.conf').orgs, ['kubeadm:cluster-admins']);
  r = await n.run('kubeadm', 'certs', 'check-expiration');
  assert.match(r.stdout, /\napiserver {18}.* {3}364d {12}ca/);
  assert.doesNotMatch(r.stdout, /<invalid>/);

  // a single renewal
  r = await n.run('kubeadm', 'certs', 'renew', 'apiserver-etcd-client');
  assert.equal(r.code, 0, r.out);
  assert.match(r.stdout, /\ncertificate the apiserver uses to access etcd renewed\n$/);
  assert.doesNotMatch(r.stdout, /Done renewing/);

  // 1.18: alpha certs renew, no "Done" line (added in 1.20)
  const o = await makeNode('seed1-1.18');
  r = await o.run('kubeadm', 'alpha', 'certs', 'renew', 'all');
  assert.equal(r.code, 0, r.out);
  assert.match(r.stdout, /kubeadm-config -oyaml'\n\[renew\] Error reading configuration from the Cluster\. Falling back to default configuration\n\ncertificate embedded/);
  assert.match(r.stdout, /scheduler manager to use renewed\n$/);
  assert.ok(parseCert(parseKubeconfig(o.file('etc/kubernetes/kubelet.conf')).clientCert!).notAfter.getTime() < Date.now(), 'kubelet.conf still expired');
});

test('kubeadm kubeconfig user prints a kubeconfig for the node (kubelet.conf recovery)', async () => {
  const n = await makeNode('healthy-1.28');
  const r = await n.run('kubeadm', 'kubeconfig', 'user', '--org', 'system:nodes', '--client-name', 'system:node:cp1');
  assert.equal(r.code, 0, r.out);
  const kc = parseKubeconfig(r.stdout);
  const c = parseCert(kc.clientCert!);
  assert.deepEqual([c.cn, c.orgs], ['system:node:cp1', ['system:nodes']]);
  const o = await makeNode('seed1-1.18');
  const r2 = await o.run('kubeadm', 'alpha', 'kubeconfig', 'user', '--client-name', 'x');
  assert.equal(r2.code, 0, r2.out);
  const r3 = await o.run('kubeadm', 'kubeconfig', 'user', '--client-name', 'x');
  assert.equal(r3.code, 1);
});

test('HA: three nodes share one CA set, each has its own leaves and SANs', async () => {
  const dirs = [0, 1, 2].map(() => mkdtempSync(join(tmpdir(), 'sim-ha-')));
  const ports = await Promise.all([0, 1, 2].map(() => freePort()));
  const nodes = await installCluster(
    dirs.map((root, i) => ({ root, nodeName: `cp${i + 1}`, advertiseAddress: `127.0.0.${i + 1}`, apiPort: ports[i] })),
    'ha-expired-1.28',
  );
  assert.deepEqual(nodes.map((x) => x.initNode), [true, false, false]);
  const h = dirs.map((d, i) => nodeHandle(d, ports[i]!, 2379));
  for (const f of ['ca.crt', 'ca.key', 'etcd/ca.crt', 'front-proxy-ca.crt', 'sa.key']) {
    assert.equal(h[1]!.sha(`etc/kubernetes/pki/${f}`), h[0]!.sha(`etc/kubernetes/pki/${f}`), f);
  }
  const sans = h.map((x) => cert(x, 'apiserver.crt').ips);
  assert.deepEqual(sans, [['10.96.0.1', '127.0.0.1'], ['10.96.0.1', '127.0.0.2'], ['10.96.0.1', '127.0.0.3']]);
  assert.notEqual(h[1]!.sha('etc/kubernetes/pki/apiserver.key'), h[0]!.sha('etc/kubernetes/pki/apiserver.key'));
  assert.ok(signedBy(cert(h[2]!, 'apiserver.crt'), cert(h[0]!, 'ca.crt')));
});

test('kubeconfig user: each version takes only its own flags (1.11 phase, 1.18 alpha, 1.20-1.26 need --config)', async () => {
  const ids = (out: string) => { const c = parseCert(parseKubeconfig(out).clientCert!); return [c.cn, c.orgs]; };
  const s2 = await makeNode('seed2-1.11-docker');
  const a = await s2.run('kubeadm', 'alpha', 'phase', 'kubeconfig', 'user', '--client-name', 'system:node:w1', '--org', 'system:nodes', '--cert-dir', '/etc/kubernetes/pki');
  assert.equal(a.code, 0, a.out);
  assert.deepEqual(ids(a.stdout), ['system:node:w1', ['system:nodes']]);
  assert.match((await s2.run('kubeadm', 'alpha', 'phase', 'kubeconfig', 'user', '--client-name', 'x', '--config', '/tmp/c.yaml')).out, /unknown flag: --config/);
  const s1 = await makeNode('healthy-1.18');
  const b = await s1.run('kubeadm', 'alpha', 'kubeconfig', 'user', '--client-name', 'system:node:w1', '--org', 'system:nodes', '--apiserver-advertise-address', '127.0.0.1', '--apiserver-bind-port', '6443');
  assert.equal(b.code, 0, b.out);
  assert.equal(parseKubeconfig(b.stdout).server, 'https://127.0.0.1:6443');
  assert.match((await s1.run('kubeadm', 'alpha', 'kubeconfig', 'user', '--client-name', 'x', '--config', '/tmp/c.yaml')).out, /unknown flag: --config/);
  // 1.28 (>= 1.27): --config optional; 1.24 would refuse without it (required flag, kubernetes#116074)
  const n = await makeNode('healthy-1.28');
  const cfg = join(n.root, 'tmp/kubeadm.yaml');
  writeFileSync(cfg, 'apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\ncertificatesDir: /etc/kubernetes/pki\ncontrolPlaneEndpoint: lb.example:8443\n');
  const c = await n.run('kubeadm', 'kubeconfig', 'user', '--config', cfg, '--client-name', 'system:node:w1', '--org', 'system:nodes');
  assert.equal(c.code, 0, c.out);
  assert.equal(parseKubeconfig(c.stdout).server, 'https://lb.example:8443');
  assert.match((await n.run('kubeadm', 'kubeconfig', 'user', '--client-name', 'x', '--cert-dir', '/etc/kubernetes/pki')).out, /unknown flag: --cert-dir/);
  const old = await makeNode('healthy-1.28');
  const j = join(old.root, 'var/lib/sim/node.json');
  writeFileSync(j, readFileSync(j, 'utf8').replace('"v1.28.15"', '"v1.24.17"'));
  const d = await old.run('kubeadm', 'kubeconfig', 'user', '--client-name', 'x');
  assert.equal(d.code, 1);
  assert.match(d.out, /required flag\(s\) "config" not set/);
});

test('kubeconfig phases: default port 6443, the wrong-URL error up to 1.19.2 (a warning after), one phase per file, flags by version', async () => {
  const setVersion = (n: SimNode, from: string, to: string) => {
    const j = join(n.root, 'var/lib/sim/node.json');
    writeFileSync(j, readFileSync(j, 'utf8').replace(`"${from}"`, `"${to}"`));
  };
  const server = (n: SimNode, f: string) => parseKubeconfig(n.file(`etc/kubernetes/${f}`)).server;
  const setServer = (n: SimNode, f: string, url: string) => writeFileSync(join(n.root, 'etc/kubernetes', f), n.file(`etc/kubernetes/${f}`).replace(/^( *server:).*$/m, `$1 ${url}`));
  const aside = (n: SimNode, f: string) => renameSync(join(n.root, 'etc/kubernetes', f), join(n.root, 'tmp', f));

  // 1.11: an HA cluster behind a load balancer; the node's API server on a port of its own (the sandbox's)
  const n = await makeNode('seed2-1.11-docker');
  for (const f of ['admin.conf', 'kubelet.conf', 'controller-manager.conf', 'scheduler.conf']) setServer(n, f, 'https://k8s-lb.internal:6443');
  aside(n, 'admin.conf');
  // `all` checks kubelet.conf, which stays: refused (createKubeConfigFileIfNotExists, kubeadm <= 1.19.2)
  let r = await n.run('kubeadm', 'alpha', 'phase', 'kubeconfig', 'all', '--apiserver-advertise-address', '127.0.0.1', '--node-name', 'cp1');
  assert.equal(r.code, 1, r.out);
  assert.equal(r.stderr, 'a kubeconfig file "/etc/kubernetes/kubelet.conf" exists already but has got the wrong API Server URL\n');
  // ... after writing admin.conf, the first of its files
  assert.equal(r.stdout, '[kubeconfig] Wrote KubeConfig file to disk: "/etc/kubernetes/admin.conf"\n');
  aside(n, 'admin.conf');
  // the admin phase alone: writes kubeadm's default endpoint, the advertise address on 6443 (no --apiserver-bind-port)
  r = await n.run('kubeadm', 'alpha', 'phase', 'kubeconfig', 'admin', '--apiserver-advertise-address', '127.0.0.1');
  assert.equal(r.code, 0, r.out);
  assert.equal(r.stdout, '[kubeconfig] Wrote KubeConfig file to disk: "/etc/kubernetes/admin.conf"\n');
  assert.equal(server(n, 'admin.conf'), 'https://127.0.0.1:6443');
  aside(n, 'admin.conf');
  r = await n.run('kubeadm', 'alpha', 'phase', 'kubeconfig', 'admin', '--apiserver-advertise-address', '127.0.0.1', '--apiserver-bind-port', String(n.apiPort));
  assert.equal(server(n, 'admin.conf'), `https://127.0.0.1:${n.apiPort}`);
  // --node-name only for all and kubelet; no --control-plane-endpoint before 1.16
  assert.match((await n.run('kubeadm', 'alpha', 'phase', 'kubeconfig', 'scheduler', '--node-name', 'cp1')).out, /unknown flag: --node-name/);
  assert.match((await n.run('kubeadm', 'alpha', 'phase', 'kubeconfig', 'kubelet', '--control-plane-endpoint', 'lb:6443')).out, /unknown flag: --control-plane-endpoint/);

  // 1.18 and 1.19.2: still an error, as a phase error; 1.19.3 (kubernetes#94890): a warning, the file is kept
  setVersion(n, 'v1.11.10', 'v1.15.12');
  assert.match((await n.run('kubeadm', 'init', 'phase', 'kubeconfig', 'all', '--control-plane-endpoint', 'k8s-lb.internal:6443')).out, /unknown flag: --control-plane-endpoint/);
  setVersion(n, 'v1.15.12', 'v1.18.20');
  aside(n, 'admin.conf');
  r = await n.run('kubeadm', 'init', 'phase', 'kubeconfig', 'all', '--apiserver-advertise-address', '127.0.0.1');
  assert.equal(r.code, 1, r.out);
  assert.equal(r.stderr, 'error execution phase kubeconfig/kubelet: a kubeconfig file "/etc/kubernetes/kubelet.conf" exists already but has got the wrong API Server URL\nTo see the stack trace of this error execute with --v=5 or higher\n');
  setVersion(n, 'v1.18.20', 'v1.19.3');
  r = await n.run('kubeadm', 'init', 'phase', 'kubeconfig', 'kubelet', '--apiserver-advertise-address', '127.0.0.1', '--node-name', 'cp1');
  assert.equal(r.code, 0, r.out);
  assert.match(r.stderr, /^W\d{4} [\d:.]+ +\d+ kubeconfig\.go:249\] a kubeconfig file "\/etc\/kubernetes\/kubelet\.conf" exists already but has an unexpected API Server URL: expected: https:\/\/127\.0\.0\.1:6443, got: https:\/\/k8s-lb\.internal:6443\n$/);
  assert.equal(r.stdout, '[kubeconfig] Using existing kubeconfig file: "/etc/kubernetes/kubelet.conf"\n');
  assert.equal(server(n, 'kubelet.conf'), 'https://k8s-lb.internal:6443');

  // from 1.19.1 controller-manager.conf and scheduler.conf get the local endpoint, the others the control-plane endpoint
  const cfg = join(n.root, 'tmp/kubeadm.yaml');
  writeFileSync(cfg, 'apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: k8s-lb.internal:8443\n---\napiVersion: kubeadm.k8s.io/v1beta2\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: "::1"\n  bindPort: 16443\n');
  for (const f of ['scheduler.conf', 'kubelet.conf']) aside(n, f);
  for (const p of ['scheduler', 'kubelet']) assert.equal((await n.run('kubeadm', 'init', 'phase', 'kubeconfig', p, '--config', cfg)).code, 0);
  assert.equal(server(n, 'scheduler.conf'), 'https://[::1]:16443');
  assert.equal(server(n, 'kubelet.conf'), 'https://k8s-lb.internal:8443');
});
