// Which client certificate the kubelet's certificate manager starts with, and what it writes into its
// store (kubelet-files.ts: client-go getCurrentCertificateOrBootstrap and fileStore.Update), on
// simulated nodes' real files (openssl-made PKI), without an agent; and how a start that fails on those
// files ends (kubelet-start.ts).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupAll, makeNode, type SimNode } from '../testkit.js';
import type { ScenarioName } from '../scenarios.js';
import { DAY, issue, kubeconfigYaml, parseCert, readPem, type Pem } from '../pki.js';
import { createNodeAgentState } from './state.js';
import { managerCert, startCertificateManager } from './kubelet-files.js';
import { startKubelet } from './kubelet-start.js';

const copies: string[] = [];
after(async () => {
  for (const dir of copies) rmSync(dir, { recursive: true, force: true });
  await cleanupAll();
});

/** one installed node per scenario (its PKI is ~40 openssl runs); each case works on a copy of it */
const templates = new Map<ScenarioName, Promise<SimNode>>();
async function node(scenario: ScenarioName = 'healthy-1.28'): Promise<SimNode> {
  if (!templates.has(scenario)) templates.set(scenario, makeNode(scenario));
  const t = await templates.get(scenario)!;
  const root = mkdtempSync(join(tmpdir(), 'sim-kubelet-files-'));
  copies.push(root);
  cpSync(t.root, root, { recursive: true, verbatimSymlinks: true });
  return { ...t, root };
}

const STORE = 'var/lib/kubelet/pki';
const CURRENT = join(STORE, 'kubelet-client-current.pem');
const STORED = /^kubelet-client-\d{4}(-\d\d){5}\.pem$/;

/** A client pair of cp1 signed by the node's CA, valid from `from` to `to` days from now. */
function nodePair(n: SimNode, from: number, to: number): Promise<Pem> {
  const ca = readPem(join(n.root, 'etc/kubernetes/pki'), 'ca');
  return issue({ cn: 'system:node:cp1', orgs: ['system:nodes'], usage: 'client', notBefore: new Date(Date.now() + from * DAY), notAfter: new Date(Date.now() + to * DAY) }, ca);
}

/** The store's current pair: `file` holding `pem`, kubelet-client-current.pem a link to it. */
function storePair(n: SimNode, file: string, pem: Pem): void {
  writeFileSync(join(n.root, STORE, file), pem.cert + pem.key, { mode: 0o600 });
  rmSync(join(n.root, CURRENT), { force: true });
  symlinkSync(file, join(n.root, CURRENT));
}

/** kubelet.conf embedding `pem` (as `kubeadm init phase kubeconfig kubelet` writes it). */
function embedConf(n: SimNode, pem: Pem): void {
  const caCert = readPem(join(n.root, 'etc/kubernetes/pki'), 'ca').cert;
  writeFileSync(join(n.root, 'etc/kubernetes/kubelet.conf'), kubeconfigYaml({ server: `https://127.0.0.1:${n.apiPort}`, caCert, user: 'system:node:cp1', client: pem }), { mode: 0o600 });
}

/** kubelet.conf naming /etc/kubernetes/pki/kubelet-client.crt and .key, which hold `pem`. */
function fileConf(n: SimNode, pem: Pem): void {
  writeFileSync(join(n.root, 'etc/kubernetes/pki/kubelet-client.crt'), pem.cert);
  writeFileSync(join(n.root, 'etc/kubernetes/pki/kubelet-client.key'), pem.key, { mode: 0o600 });
  const caCert = readPem(join(n.root, 'etc/kubernetes/pki'), 'ca').cert;
  const conf = kubeconfigYaml({ server: 'https://127.0.0.1:6443', caCert, user: 'system:node:cp1', clientFile: '/etc/kubernetes/pki/kubelet-client.crt' }).replace('client-key: /etc/kubernetes/pki/kubelet-client.crt', 'client-key: /etc/kubernetes/pki/kubelet-client.key');
  writeFileSync(join(n.root, 'etc/kubernetes/kubelet.conf'), conf, { mode: 0o600 });
}

const fingerprint = (pem: string) => parseCert(pem).fingerprint256;
const stored = (n: SimNode) => readdirSync(join(n.root, STORE)).filter((f) => STORED.test(f)).sort();

test("the certificate manager's pair at kubelet start, and the bootstrap pair it stores", { concurrency: true }, async (t) => {
  await t.test('a valid store pair is held, whatever kubelet.conf embeds; nothing is written', async () => {
    const n = await node();
    const current = readFileSync(join(n.root, CURRENT), 'utf8');
    embedConf(n, await nodePair(n, -1, 30));
    const before = stored(n);
    const held = startCertificateManager(createNodeAgentState(n.root, {}));
    assert.equal(held?.bootstrapped, false);
    assert.equal(fingerprint(held!.cert), fingerprint(current));
    assert.deepEqual(stored(n), before);
  });

  await t.test('an expired store pair: kubelet.conf\'s embedded pair is held and written into the store, current linked to it', async () => {
    const n = await node();
    storePair(n, 'kubelet-client-2020-01-01-00-00-00.pem', await nodePair(n, -400, -35));
    const embedded = await nodePair(n, -1, 365);
    embedConf(n, embedded);
    const held = startCertificateManager(createNodeAgentState(n.root, {}));
    assert.equal(held?.bootstrapped, true);
    assert.equal(fingerprint(held!.cert), fingerprint(embedded.cert));
    const link = readlinkSync(join(n.root, CURRENT));
    assert.match(link, STORED);
    assert.notEqual(link, 'kubelet-client-2020-01-01-00-00-00.pem');
    assert.ok(stored(n).includes('kubelet-client-2020-01-01-00-00-00.pem'), 'the expired pair stays in the store');
    const file = readFileSync(join(n.root, STORE, link), 'utf8');
    assert.equal(fingerprint(file), fingerprint(embedded.cert));
    assert.ok(file.includes(embedded.key.trim()), 'the store file holds the key');
    assert.equal(statSync(join(n.root, STORE, link)).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(join(n.root, STORE)).filter((f) => f.includes('updated')), [], 'the rename left no kubelet-client-updated.pem');
    // the next start finds the stored pair valid: nothing more is written
    const again = startCertificateManager(createNodeAgentState(n.root, {}));
    assert.equal(again?.bootstrapped, false);
  });

  await t.test('an expired store pair and nothing embedded (kubelet.conf names another, valid file): no certificate, the store\'s comes first', async () => {
    const n = await node();
    storePair(n, 'kubelet-client-2020-01-01-00-00-00.pem', await nodePair(n, -400, -35));
    fileConf(n, await nodePair(n, -1, 30));
    assert.equal(managerCert(createNodeAgentState(n.root, {})), undefined);
  });

  await t.test('no store pair and nothing named: kubelet-client.crt and .key in the store directory', async () => {
    const n = await node();
    rmSync(join(n.root, CURRENT));
    const pem = await nodePair(n, -1, 30);
    writeFileSync(join(n.root, STORE, 'kubelet-client.crt'), pem.cert);
    writeFileSync(join(n.root, STORE, 'kubelet-client.key'), pem.key, { mode: 0o600 });
    embedConf(n, await nodePair(n, -1, 365));
    const held = managerCert(createNodeAgentState(n.root, {}));
    assert.equal(held?.bootstrapped, false);
    assert.equal(fingerprint(held!.cert), fingerprint(pem.cert));
  });

  await t.test('a store pair whose key is not its certificate\'s stops the manager', async () => {
    const n = await node();
    const a = await nodePair(n, -1, 30);
    const b = await nodePair(n, -1, 30);
    storePair(n, 'kubelet-client-2026-01-01-00-00-00.pem', { cert: a.cert, key: b.key });
    assert.throws(() => managerCert(createNodeAgentState(n.root, {})), /could not convert data from "\/var\/lib\/kubelet\/pki\/kubelet-client-current\.pem" into cert\/key pair: tls: private key does not match public key/);
  });

  await t.test('no store pair: the files kubelet.conf names', async () => {
    const n = await node();
    rmSync(join(n.root, CURRENT));
    const pem = await nodePair(n, -1, 30);
    fileConf(n, pem);
    const held = managerCert(createNodeAgentState(n.root, {}));
    assert.equal(held?.bootstrapped, false);
    assert.equal(fingerprint(held!.cert), fingerprint(pem.cert));
    assert.equal(held!.key, pem.key);
  });

  await t.test('a current that is a plain file: the embedded pair is held and written, but current is not relinked; the kubelet logs why', async () => {
    const n = await node();
    const expired = await nodePair(n, -400, -35);
    rmSync(join(n.root, CURRENT));
    writeFileSync(join(n.root, CURRENT), expired.cert + expired.key, { mode: 0o600 });
    const embedded = await nodePair(n, -1, 365);
    embedConf(n, embedded);
    const before = stored(n);
    const st = createNodeAgentState(n.root, {});
    const held = startCertificateManager(st);
    assert.equal(fingerprint(held!.cert), fingerprint(embedded.cert));
    assert.equal(lstatSync(join(n.root, CURRENT)).isSymbolicLink(), false);
    assert.equal(stored(n).length, before.length + 1, 'fileStore.Update writes the pair before it links it');
    assert.match(readFileSync(st.journalFile, 'utf8'), /unable to set the cert\/key pair to the bootstrap certificate: expected "\/var\/lib\/kubelet\/pki\/kubelet-client-current\.pem" to be a symlink but it is a file/);
  });

  await t.test('a store pair that is not a certificate stops the manager', async () => {
    const n = await node();
    storePair(n, 'kubelet-client-2020-01-01-00-00-00.pem', { cert: 'not a certificate\n', key: '' });
    assert.throws(() => managerCert(createNodeAgentState(n.root, {})));
  });

  await t.test('1.11 too: the embedded pair is stored (the manager is as old as rotateCertificates); with rotateCertificates false nothing is written', async () => {
    const old = await node('seed2-1.11-docker');
    embedConf(old, await nodePair(old, -1, 365));
    const before = stored(old);
    assert.equal(startCertificateManager(createNodeAgentState(old.root, {}))?.bootstrapped, true);
    assert.equal(stored(old).length, before.length + 1);
    const off = await node();
    const config = join(off.root, 'var/lib/kubelet/config.yaml');
    writeFileSync(config, readFileSync(config, 'utf8').replace('rotateCertificates: true', 'rotateCertificates: false'));
    storePair(off, 'kubelet-client-2020-01-01-00-00-00.pem', await nodePair(off, -1, 30));
    const embedded = await nodePair(off, -1, 365);
    embedConf(off, embedded);
    const unchanged = stored(off);
    const held = startCertificateManager(createNodeAgentState(off.root, {}));
    assert.equal(fingerprint(held!.cert), fingerprint(embedded.cert), 'no manager: kubelet.conf\'s own pair');
    assert.deepEqual(stored(off), unchanged);
  });
});

/** A copy of `scenario`'s node that says it runs `version` (node.json), as the kubelet reads it at start. */
async function nodeAt(scenario: ScenarioName, version?: string): Promise<SimNode> {
  const n = await node(scenario);
  if (version) {
    const file = join(n.root, 'var/lib/sim/node.json');
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), version }));
  }
  return n;
}

test('a kubelet start that fails on its files exits as its version exits (kubelet-start.ts)', { concurrency: true }, async (t) => {
  const failedStart = (n: SimNode) => {
    const st = createNodeAgentState(n.root, {});
    assert.equal(startKubelet(st), undefined);
    assert.equal(st.kubelet.state, 'activating');
    return { st, journal: readFileSync(st.journalFile, 'utf8') };
  };
  const noBootstrap = 'failed to run Kubelet: unable to load bootstrap kubeconfig: stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory';
  /** a 1.28 node (or one saying it runs `version`) whose kubelet.conf names a store pair that expired yesterday */
  const expiredStore = async (version?: string) => {
    const n = await nodeAt('healthy-1.28', version);
    storePair(n, 'kubelet-client-2020-01-01-00-00-00.pem', await nodePair(n, -400, -1));
    return n;
  };

  await t.test('1.18, expired kubelet.conf: bootstrap.go:265, then klog.Fatal (F server.go:274) and exit status 255; 1.20 at server.go:269', async () => {
    const { st, journal } = failedStart(await nodeAt('seed1-1.18'));
    assert.match(journal, /E\d{4} [\d:.]+ +\d+ bootstrap\.go:265\] part of the existing bootstrap client certificate is expired: /);
    assert.ok(journal.includes(`server.go:274] ${noBootstrap}\n`), journal);
    assert.match(journal, /kubelet\.service: Main process exited, code=exited, status=255\/EXCEPTION\n/);
    assert.equal(st.kubelet.lastExit, 'code=exited, status=255/EXCEPTION');
    assert.equal(st.kubelet.lastError, noBootstrap);
    assert.ok(failedStart(await expiredStore('v1.20.15')).journal.includes(`server.go:269] ${noBootstrap}\n`));
  });

  await t.test('1.28: the structured bootstrap.go:266 line, then cli.Run\'s "command failed" (run.go:74, :72 from 1.31) and exit status 1', async () => {
    const { st, journal } = failedStart(await expiredStore());
    assert.match(journal, /bootstrap\.go:266\] "Part of the existing bootstrap client certificate in kubeconfig is expired" path="\/etc\/kubernetes\/kubelet\.conf" expirationDate="/);
    assert.ok(journal.includes(`run.go:74] "command failed" err="${noBootstrap}"\n`), journal);
    assert.doesNotMatch(journal, /server\.go:274/);
    assert.equal(st.kubelet.lastExit, 'code=exited, status=1/FAILURE');
    // component-base v0.31 moved the line: 1.30 still at :74, 1.31 on at :72
    assert.ok(failedStart(await expiredStore('v1.30.14')).journal.includes(`run.go:74] "command failed" err="${noBootstrap}"\n`));
    const later = failedStart(await expiredStore('v1.31.0')).journal;
    assert.ok(later.includes(`run.go:72] "command failed" err="${noBootstrap}"\n`), later);
  });

  await t.test('1.22: "Failed to run kubelet" (server.go:294) and exit status 1; 1.24: the error returned, printed by cobra from 1.24.4', async () => {
    const { journal } = failedStart(await expiredStore('v1.22.17'));
    assert.ok(journal.includes(`server.go:294] "Failed to run kubelet" err="${noBootstrap}"\n`), journal);
    assert.match(journal, /status=1\/FAILURE\n/);
    const early = failedStart(await expiredStore('v1.24.3')).journal;
    assert.doesNotMatch(early, /failed to run Kubelet/);
    assert.match(early, /status=1\/FAILURE\n/);
    assert.match(failedStart(await expiredStore('v1.24.17')).journal, new RegExp(`kubelet\\[\\d+\\]: Error: ${noBootstrap}\n`));
  });

  await t.test('a store pair whose key is another one\'s: bootstrap.go reads its certificate, the certificate manager refuses the pair (quoted as klog quotes it)', async () => {
    const n = await nodeAt('healthy-1.28');
    const [pair, other] = await Promise.all([nodePair(n, -1, 365), nodePair(n, -1, 365)]);
    storePair(n, 'kubelet-client-2020-01-01-00-00-00.pem', { cert: pair.cert, key: other.key });
    const { journal } = failedStart(n);
    assert.ok(journal.includes('run.go:74] "command failed" err="failed to run Kubelet: failed to initialize client certificate manager: could not convert data from \\"/var/lib/kubelet/pki/kubelet-client-current.pem\\" into cert/key pair: tls: private key does not match public key"\n'), journal);
  });

  await t.test('a healthy node: kubelet.conf and the config read once, the store pair held, no exit', async () => {
    const n = await nodeAt('healthy-1.28');
    const st = createNodeAgentState(n.root, {});
    const started = startKubelet(st);
    assert.ok(started?.held && !started.held.bootstrapped);
    assert.equal(started.files.rotates, true);
    assert.ok(started.files.kc?.server.startsWith('https://'));
    assert.equal(st.kubelet.lastExit, undefined);
    assert.match(readFileSync(st.journalFile, 'utf8'), /server\.go:417\] Kubelet version kubeletVersion="v1\.28\.\d+"\n/);
  });
});
