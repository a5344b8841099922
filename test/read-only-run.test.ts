// A read-only run over real sshd (issue #12 item 2): `runbooks/cert-check.yaml` reads the
// certificates (over SFTP: x509's in-process path against a real sshd), reports them, and takes
// no host lock, so it runs beside a renewal that holds one; a run that may change the host is
// still refused by that lock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/paths.js';
import { EXIT } from '../src/engine/exit-codes.js';
import { lab, rbFile, runCli, useLab } from './support/lab.js';

const FOREIGN_LOCK = '{"run_id":"20261130T000000Z-renew1","operator":"alice@ops","pid":4242,"started":"2026-11-30T00:00:00Z"}\n';

function openssl(cwd: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** /etc/kubernetes on the host: a CA, two leaves (one in etcd/), a kubeconfig with an embedded client certificate and one naming a file. */
function installPki(kube: string, kubeletPki: string): void {
  const pki = join(kube, 'pki');
  mkdirSync(join(pki, 'etcd'), { recursive: true });
  mkdirSync(kubeletPki, { recursive: true });
  openssl(pki, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-subj', '/CN=kubernetes');
  const leaf = (out: string, cn: string, days: string) => {
    openssl(pki, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${out}.key`, '-out', `${out}.csr`, '-subj', cn);
    openssl(pki, 'x509', '-req', '-in', `${out}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-days', days, '-out', `${out}.crt`);
  };
  leaf('apiserver', '/CN=kube-apiserver', '365');
  leaf('etcd/server', '/CN=ro-1', '200');
  const b64 = readFileSync(join(pki, 'apiserver.crt')).toString('base64');
  writeFileSync(join(kube, 'admin.conf'), `apiVersion: v1\nkind: Config\nusers:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: ${b64}\n`, { mode: 0o600 });
  writeFileSync(join(kubeletPki, 'kubelet-client-current.pem'), readFileSync(join(pki, 'etcd', 'server.crt')), { mode: 0o600 });
  writeFileSync(join(kube, 'kubelet.conf'), `apiVersion: v1\nkind: Config\nusers:\n- name: default-auth\n  user:\n    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n`, { mode: 0o600 });
}

const skip = useLab({
  start: { count: 1, firstAddress: '127.1.253.1', namePrefix: 'ro' },
  tmp: 'runbook-read-only-',
  inventory: (l) => l.inventoryYaml() + `  children:\n    control_plane:\n      hosts:\n        ${l.hosts[0]!.name}: {}\n`,
  // a run that may change the host, for the lock to refuse
  runbook: { file: 'change.yaml', text: 'apiVersion: runbook/v1\nname: change\nhosts: all\nsteps:\n  - name: A file\n    copy: { dest: /etc/kubernetes/touched, content: "x\\n" }\n' },
  setup: () => {
    const h = lab.hosts[0]!;
    installPki(lab.hostPath(h, '/etc/kubernetes'), lab.hostPath(h, '/var/lib/kubelet/pki'));
    mkdirSync(lab.hostPath(h, '/var/lib/runbook'), { recursive: true });
    writeFileSync(lab.hostPath(h, '/var/lib/runbook/lock'), FOREIGN_LOCK);
  },
});

interface Event {
  kind: string;
  type?: string;
  status?: string;
  summary?: string;
}

test('cert-check reads every certificate over SFTP and runs beside a held lock; a changing run is refused by it', { skip }, async () => {
  const h = lab.hosts[0]!;
  const r = await runCli(['apply', join(packageRoot, 'runbooks', 'cert-check.yaml'), '--json'], 'read-only', 120_000);
  assert.equal(r.code, EXIT.ok, r.out);
  const events = r.out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Event);
  const x509 = events.find((e) => e.kind === 'step-end' && e.type === 'x509');
  assert.ok(x509, r.out);
  // every certificate: pki/ (ca, apiserver, etcd/server), admin.conf's embedded one, kubelet.conf's file
  assert.match(x509.summary ?? '', /^5 certificates \(days left: etcd\/server 19\d, kubelet\.conf 19\d, admin\.conf 36\d, apiserver 36\d, ca 36\d\d\)$/);
  assert.equal(events.find((e) => e.kind === 'host-end')?.status, 'ok');
  assert.equal(readFileSync(lab.hostPath(h, '/var/lib/runbook/lock'), 'utf8'), FOREIGN_LOCK, 'a read-only run neither takes nor touches the lock');

  const c = await runCli(['apply', rbFile], 'read-only', 120_000);
  assert.notEqual(c.code, EXIT.ok, c.out);
  assert.match(c.out, /locked by run 20261130T000000Z-renew1 by alice@ops/);
  assert.equal(readFileSync(lab.hostPath(h, '/var/lib/runbook/lock'), 'utf8'), FOREIGN_LOCK);
  assert.throws(() => readFileSync(lab.hostPath(h, '/etc/kubernetes/touched')), /ENOENT/);
});
