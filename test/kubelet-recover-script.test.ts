/**
 * The kubelet.conf maker of runbooks/kubelet-recover.yaml (vars.sh_make_kubelet_conf), run as the
 * runbook runs it on a control-plane node, against the emulated kubeadm of each version branch:
 * 1.11 (`alpha phase kubeconfig user`), 1.18 (`alpha kubeconfig user`), 1.20 (`alpha kubeconfig
 * user --config`), 1.24 (`kubeconfig user`, --config required), 1.28 and 1.31 (v1beta4 config).
 * Each must print a kubeconfig for system:node:w1 in system:nodes, signed by the node's CA, naming the
 * server the worker used before, and leave no configuration file behind.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { packageRoot } from '../src/lab/sim/paths.js';
import { cleanupAll, makeNode } from '../src/lab/sim/testkit.js';
import { sandboxEnv, type ScenarioName } from '../src/lab/sim/index.js';
import { parseCert, parseKubeconfig, readCertFile, signedBy } from '../src/lab/sim/pki.js';

after(async () => {
  await cleanupAll();
});

const runbook = load(readFileSync(join(packageRoot, 'runbooks/kubelet-recover.yaml'), 'utf8')) as { vars: Record<string, string> };
const SCRIPT = runbook.vars.sh_make_kubelet_conf!;

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
