/**
 * The shell helpers of runbooks/cert-renew.yaml, run by the real /bin/sh. Whether a static pod really
 * restarted, against a stand-in `crictl` on the PATH that lists a fixed set of containers (running, or
 * exited: `ps -a`): a container that had exited before the restart (a crash-looping pod on expired
 * certificates) must never be taken for the new one. The served-certificate check against a real
 * `openssl s_server` on IPv6 loopback ([::1]). Which runtime the kubelet is told to use. And the
 * API server URL each regenerated kubeconfig keeps. The end-to-end suite runs them against the simulator;
 * these pin down what it cannot easily provoke.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { packageRoot } from '../src/lab/sim/paths.js';
import { freePort } from '../src/lab/sim/ports.js';
import { waitFor } from '../src/lab/wait.js';
import { readVarsFiles } from '../src/runbook/vars-files.js';

let dir: string;
let vars: Record<string, string>;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-cert-shell-'));
  // the runbook's vars with its vars_files (runbooks/shared/) over them, read as the loader reads them
  const file = join(packageRoot, 'runbooks/cert-renew.yaml');
  const text = readFileSync(file, 'utf8');
  const shared = (await readVarsFiles(text, file))?.runbook ?? {};
  vars = { ...(load(text) as { vars: Record<string, string> }).vars, ...(shared as Record<string, string>) };
  mkdirSync(join(dir, 'bin'));
  mkdirSync(join(dir, 'manifests'));
  writeFileSync(join(dir, 'manifests', 'etcd.yaml'), 'kind: Pod\n');
  // crictl ps [-a] -q [--name ^NAME$]: ids from $RUNNING / $EXITED ("name:id name:id ...")
  writeFileSync(
    join(dir, 'bin', 'crictl'),
    `#!/bin/sh
all=; name=
while [ $# -gt 0 ]; do case $1 in -a) all=1;; --name) shift; name=$(printf '%s' "$1" | tr -d '^$');; esac; shift; done
for e in $RUNNING \${all:+$EXITED}; do n=\${e%%:*}; id=\${e#*:}; [ -z "$name" ] || [ "$n" = "$name" ] && echo "$id"; done
exit 0
`,
  );
  chmodSync(join(dir, 'bin', 'crictl'), 0o755);
});
after(() => rmSync(dir, { recursive: true, force: true }));

function sh(script: string, args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) =>
    execFile('/bin/sh', ['-c', script, 'sh', ...args], { env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    ),
  );
}

test('rollback onto a control plane that cannot run: an old exited container is not the new one', async () => {
  // before the restart: etcd's old container c1 exited long ago (crash loop), nothing running
  const before = { RUNNING: '', EXITED: 'etcd:c1' };
  const old = await sh(vars.sh_running_containers!, ['containerd', 'all', 'etcd'], before);
  assert.equal(old.code, 0, old.out);
  assert.equal(old.out.trim(), 'etcd c1', 'the list taken before the restart names exited containers too');
  // the kubelet has not started a new container yet: still only c1, exited
  const waiting = await sh(vars.sh_new_containers_running!, ['containerd', old.out, join(dir, 'manifests'), 'any', 'etcd'], before);
  assert.notEqual(waiting.code, 0, `c1 was taken for a new container:\n${waiting.out}`);
  assert.match(waiting.out, /no new running container yet for: etcd/);
  // the restart happened: c2 was created (and exited at once, on its expired certificates)
  const after = await sh(vars.sh_new_containers_running!, ['containerd', old.out, join(dir, 'manifests'), 'any', 'etcd'], { RUNNING: '', EXITED: 'etcd:c1 etcd:c2' });
  assert.equal(after.code, 0, after.out);
  assert.match(after.out, /etcd: new container c2/);
});

test('apply: the running list is what the restart waits on; the new container must be running', async () => {
  const old = await sh(vars.sh_running_containers!, ['containerd', 'running', 'etcd'], { RUNNING: 'etcd:r1', EXITED: 'etcd:c0' });
  assert.equal(old.out.trim(), 'etcd r1');
  const gone = await sh(vars.sh_old_containers_gone!, ['containerd', old.out], { RUNNING: 'etcd:r1' });
  assert.notEqual(gone.code, 0);
  assert.match(gone.out, /has not stopped yet: etcd\(r1\)/);
  const stopped = await sh(vars.sh_old_containers_gone!, ['containerd', old.out], { RUNNING: '' });
  assert.equal(stopped.code, 0, stopped.out);
  // an exited container is no proof of a restart in `running` mode
  const exited = await sh(vars.sh_new_containers_running!, ['containerd', old.out, join(dir, 'manifests'), 'running', 'etcd'], { RUNNING: '', EXITED: 'etcd:r1 etcd:r2' });
  assert.notEqual(exited.code, 0, exited.out);
  const running = await sh(vars.sh_new_containers_running!, ['containerd', old.out, join(dir, 'manifests'), 'running', 'etcd'], { RUNNING: 'etcd:r2', EXITED: 'etcd:r1' });
  assert.equal(running.code, 0, running.out);
});

/** A self-signed server certificate (EC: fast) in `dir`: <name>.crt, <name>.key */
function selfSigned(dir: string, name: string, cn: string): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${cn}`, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)], { stdio: 'ignore' });
}

const ipv6Loopback = (() => {
  try {
    return readFileSync('/proc/net/if_inet6', 'utf8').includes('00000000000000000000000000000001');
  } catch {
    return false;
  }
})();

test('served-certificate check on an IPv6 API server: [::1]:PORT, the serial compared with pki/apiserver.crt', { skip: ipv6Loopback ? false : 'no IPv6 loopback here' }, async () => {
  const kd = join(dir, 'v6', 'etc-kubernetes');
  mkdirSync(join(kd, 'pki'), { recursive: true });
  selfSigned(join(kd, 'pki'), 'apiserver', 'kube-apiserver');
  selfSigned(join(dir, 'v6'), 'other', 'not-the-apiserver');
  const port = await freePort('::1');
  const server = spawn('openssl', ['s_server', '-accept', `[::1]:${port}`, '-cert', join(kd, 'pki', 'apiserver.crt'), '-key', join(kd, 'pki', 'apiserver.key'), '-quiet'], { stdio: ['pipe', 'ignore', 'ignore'] });
  try {
    // listening: a TCP connection to [::1]:port succeeds
    const listening = () =>
      new Promise<boolean>((resolve) => {
        const c = connect({ host: '::1', port }, () => (c.end(), resolve(true)));
        c.on('error', () => resolve(false));
      });
    await waitFor('openssl s_server to listen on [::1]', listening, 10_000, 100);
    // the advertise address as the manifest has it (no brackets), with no local etcd
    const ok = await sh(vars.sh_served_certs_match!, ['::1', String(port), kd, '', 'strict'], {});
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, new RegExp(`kube-apiserver \\[::1\\]:${port} serves pki/apiserver.crt \\(serial [0-9A-F]+\\)`));
    // another certificate on disk than the one served: refused, naming the address as openssl takes it
    copyFileSync(join(dir, 'v6', 'other.crt'), join(kd, 'pki', 'apiserver.crt'));
    const bad = await sh(vars.sh_served_certs_match!, ['::1', String(port), kd, '', 'strict'], {});
    assert.notEqual(bad.code, 0, bad.out);
    assert.match(bad.out, new RegExp(`kube-apiserver \\[::1\\]:${port} serves serial [0-9A-F]+, pki/apiserver.crt has [0-9A-F]+`));
  } finally {
    server.kill();
  }
});

test('container runtime: what the kubelet is told wins; without it, docker before containerd as kubeadm detects', async () => {
  const cases: [string, Record<string, string>, string][] = [
    // kubeadm <= 1.23 with docker: no endpoint at all (the kubelet's default is dockershim)
    ['--container-runtime=docker', { 'kubeadm-flags.env': 'KUBELET_KUBEADM_ARGS="--cgroup-driver=systemd --container-runtime=docker --network-plugin=cni"\n' }, 'docker'],
    ['containerd endpoint', { 'kubeadm-flags.env': 'KUBELET_KUBEADM_ARGS="--container-runtime=remote --container-runtime-endpoint=unix:///run/containerd/containerd.sock"\n' }, 'containerd'],
    ['dockershim endpoint, quoted', { 'kubeadm-flags.env': "KUBELET_KUBEADM_ARGS='--container-runtime-endpoint \"unix:///var/run/dockershim.sock\"'\n" }, 'docker'],
    ['cri-dockerd (kubeadm >= 1.24 with docker)', { 'kubeadm-flags.env': 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/cri-dockerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.9"\n' }, 'docker'],
    ['CRI-O', { 'kubeadm-flags.env': 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/crio/crio.sock"\n' }, 'containerd'],
    ['containerRuntimeEndpoint in config.yaml (no flag)', { 'kubeadm-flags.env': 'KUBELET_KUBEADM_ARGS="--pod-infra-container-image=registry.k8s.io/pause:3.10"\n', 'config.yaml': 'kind: KubeletConfiguration\ncontainerRuntimeEndpoint: "unix:///var/run/cri-dockerd.sock"\n' }, 'docker'],
    ['the flag before config.yaml', { 'kubeadm-flags.env': 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/containerd/containerd.sock"\n', 'config.yaml': 'containerRuntimeEndpoint: unix:///var/run/cri-dockerd.sock\n' }, 'containerd'],
  ];
  for (const [what, files, want] of cases) {
    const kd = mkdtempSync(join(dir, 'kubelet-'));
    for (const [f, text] of Object.entries(files)) writeFileSync(join(kd, f), text);
    // no docker on this PATH; the stand-in crictl is: only what the files say decides
    const r = await sh(vars.sh_runtime!, [kd], {});
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out.trim(), want, `${what}: ${JSON.stringify(files)}`);
  }
});

test('regenerated kubeconfigs keep their API server URL byte for byte (load balancer, other port, IPv6, sed metacharacters)', async () => {
  const old = join(dir, 'keep', 'moved-aside');
  const kd = join(dir, 'keep', 'kube');
  mkdirSync(old, { recursive: true });
  mkdirSync(kd, { recursive: true });
  const conf = (server: string) => `apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0E=\n    server: ${server}\n  name: kubernetes\nkind: Config\n`;
  const before: Record<string, string> = {
    'admin.conf': 'https://k8s-lb.internal:8443',
    'kubelet.conf': 'https://[fd00::10]:6443',
    'scheduler.conf': 'https://lb.example/#a&b\\c',
    'controller-manager.conf': 'https://10.0.0.5:16443',
  };
  for (const [f, server] of Object.entries(before)) {
    writeFileSync(join(old, f), conf(server));
    // what kubeadm wrote: its default endpoint (the advertise address on the bind port); controller-manager.conf unchanged
    writeFileSync(join(kd, f), conf(f === 'controller-manager.conf' ? server : 'https://10.0.0.5:6443'), { mode: 0o600 });
  }
  const r = await sh(vars.sh_keep_servers!, [old, kd, ...Object.keys(before)], {});
  assert.equal(r.code, 0, r.out);
  for (const [f, server] of Object.entries(before)) assert.equal(readFileSync(join(kd, f), 'utf8'), conf(server), f);
  assert.match(r.out, /admin\.conf: server kept at https:\/\/k8s-lb\.internal:8443 \(kubeadm wrote https:\/\/10\.0\.0\.5:6443\)/);
  assert.match(r.out, /controller-manager\.conf: server https:\/\/10\.0\.0\.5:16443, as before/);
});

test('the API server endpoint and the etcd client URL, read from the static pod manifests as apply and rollback both read them', async () => {
  const kd = join(dir, 'endpoint');
  mkdirSync(join(kd, 'manifests'), { recursive: true });
  const apiserver = join(kd, 'manifests', 'kube-apiserver.yaml');
  const pod = (...flags: string[]) => `apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n${flags.map((f) => `    - ${f}\n`).join('')}`;
  const endpoint = async (manifest: string) => {
    writeFileSync(apiserver, manifest);
    return sh(vars.sh_api_endpoint!, [apiserver, '6443'], {});
  };
  // the manifest's --secure-port wins over the default given as $2
  let r = await endpoint(pod('--advertise-address=10.0.0.5', '--secure-port=16443'));
  assert.deepEqual([r.code, r.out], [0, '10.0.0.5 16443\n']);
  r = await endpoint(pod('--advertise-address=fd00::10'));
  assert.deepEqual([r.code, r.out], [0, 'fd00::10 6443\n']);
  // no advertise address: nothing to compare the served certificate on, the step fails
  r = await endpoint(pod('--secure-port=16443'));
  assert.deepEqual([r.code, r.out], [1, '']);

  // external etcd (no etcd manifest): no URL, not a failure
  r = await sh(vars.sh_etcd_client_url!, [kd], {});
  assert.deepEqual([r.code, r.out], [0, '']);
  writeFileSync(join(kd, 'manifests', 'etcd.yaml'), 'spec:\n  containers:\n  - command:\n    - etcd\n    - --advertise-client-urls=https://10.0.0.5:2379,https://127.0.0.1:2379\n');
  r = await sh(vars.sh_etcd_client_url!, [kd], {});
  assert.deepEqual([r.code, r.out], [0, 'https://10.0.0.5:2379\n']);
});
