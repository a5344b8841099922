// The kubelet's client-certificate rotation at its rotation deadline (agent/kubelet-rotation.ts), against
// running node agents: the deadline a kubelet sets at start and after each rotation (notBefore + 70–90 %
// of the lifetime), a rotation once it has passed and the control plane serves, none before, none
// with rotateCertificates false; a bootstrap pair stored and rotated at once. Lifetimes are chosen so
// that the jitter cannot change any outcome.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupAll, makeNode, waitFor, alive, type SimNode } from './testkit.js';
import { DAY, goTime, issue, kubeconfigYaml, parseCert, readCertFile, readPem, signedBy } from './pki.js';
import { goDuration } from './format.js';

after(async () => {
  const started = await cleanupAll();
  for (const p of started) assert.equal(alive(p), false, `agent ${p} left running`);
});

const SECOND = 1000;
const STORE = 'var/lib/kubelet/pki';
const ROTATED = /^kubelet-client-\d{4}(-\d\d){5}\.pem$/;

interface Window {
  nb: number;
  na: number;
}

/** Puts a client certificate for cp1 valid over `w` into the kubelet's store, as its current one. */
async function storeCert(n: SimNode, w: Window): Promise<string> {
  const ca = readPem(join(n.root, 'etc/kubernetes/pki'), 'ca');
  const pem = await issue({ cn: 'system:node:cp1', orgs: ['system:nodes'], usage: 'client', notBefore: new Date(w.nb), notAfter: new Date(w.na) }, ca);
  const stamp = new Date(w.nb).toISOString().slice(0, 19).replace(/[T:]/g, '-');
  const file = `kubelet-client-${stamp}.pem`;
  writeFileSync(join(n.root, STORE, file), pem.cert + pem.key, { mode: 0o600 });
  rmSync(join(n.root, STORE, 'kubelet-client-current.pem'), { force: true });
  symlinkSync(file, join(n.root, STORE, 'kubelet-client-current.pem'));
  return file;
}

/** A window of `lifeMs` of which `usedFraction` has passed, on whole seconds (as certificates have them). */
function windowAt(usedFraction: number, lifeMs: number): Window {
  const nb = Math.floor((Date.now() - usedFraction * lifeMs) / SECOND) * SECOND;
  return { nb, na: nb + lifeMs };
}

const rotatedFiles = (n: SimNode) => readdirSync(join(n.root, STORE)).filter((f) => ROTATED.test(f)).sort();
const current = (n: SimNode) => readlinkSync(join(n.root, STORE, 'kubelet-client-current.pem'));
const journal = (n: SimNode) => readFileSync(join(n.root, 'var/log/sim/kubelet.journal'), 'utf8');

/** What a rotation needs: the API server serving, the controller-manager (csrsigning) running. */
function controlPlaneServes(n: SimNode): Promise<unknown> {
  return waitFor('the API server to serve and the controller-manager to run', () => {
    const s = n.status();
    return s?.apiserver.listening && s.pods.some((p) => p.component === 'kube-controller-manager' && p.container?.state === 'running');
  }, 60_000, 100);
}

/** The certificate manager's "Certificate expiration is X, rotation deadline is Y" lines, in order. */
function deadlines(text: string): { expiration: number; deadline: number }[] {
  const goDate = (s: string) => Date.parse(s.replace(' ', 'T') + 'Z');
  return [...text.matchAll(/Certificate expiration is (\S+ \S+) \+0000 UTC, rotation deadline is (\S+ \S+) \+0000 UTC\n/g)]
    .map((m) => ({ expiration: goDate(m[1]!), deadline: goDate(m[2]!) }));
}

/** The deadline lies in the certificate's 70–90 % (1 ms of rounding either side). */
function assertInWindow(deadline: number, w: Window, what: string): void {
  const life = w.na - w.nb;
  assert.ok(deadline >= w.nb + 0.7 * life - 1 && deadline <= w.nb + 0.9 * life + 1, `${what}: deadline ${new Date(deadline).toISOString()} outside 70–90 % of ${new Date(w.nb).toISOString()}..${new Date(w.na).toISOString()}`);
}

test("Go's time and duration strings, as the certificate manager's log lines print them", () => {
  assert.equal(goTime(new Date('2025-06-30T02:55:19Z')), '2025-06-30 02:55:19 +0000 UTC');
  assert.equal(goTime(new Date('2025-06-25T17:17:56.860Z')), '2025-06-25 17:17:56.86 +0000 UTC');
  assert.equal(goDuration(614 * 3_600_000 + 17 * 60_000 + 36_737), '614h17m36.737s');
  assert.equal(goDuration(3_600_000), '1h0m0s');
  assert.equal(goDuration(2_500), '2.5s');
  assert.equal(goDuration(61_000), '1m1s');
  assert.equal(goDuration(300), '300ms');
  assert.equal(goDuration(0), '0s');
});

test('the kubelet rotates its client certificate at its rotation deadline', { concurrency: true }, async (t) => {
  const rotatesPastDeadline = t.test('1.28, store certificate at 95 % of its life: rotated once the control plane serves; the new deadline in its 70–90 %', async () => {
    const n = await makeNode('healthy-1.28');
    const old = windowAt(0.95, 100 * DAY);
    const oldFile = await storeCert(n, old);
    const before = rotatedFiles(n);
    const kubeletConf = n.sha('etc/kubernetes/kubelet.conf');
    await n.start();
    await controlPlaneServes(n);
    await waitFor('the kubelet to rotate its client certificate', () => current(n) !== oldFile, 30_000, 100);
    const added = rotatedFiles(n).filter((f) => !before.includes(f));
    assert.deepEqual(added, [current(n)], 'one new file, the current one');
    assert.ok(rotatedFiles(n).includes(oldFile), 'the old certificate stays in the store');
    const pem = readFileSync(join(n.root, STORE, current(n)), 'utf8');
    const cert = parseCert(pem);
    assert.equal(cert.cn, 'system:node:cp1');
    assert.deepEqual(cert.orgs, ['system:nodes']);
    assert.equal(cert.usage, 'client');
    assert.ok(signedBy(cert, readCertFile(join(n.root, 'etc/kubernetes/pki/ca.crt'))), 'signed by the cluster CA');
    assert.match(pem, /-----BEGIN (RSA |EC )?PRIVATE KEY-----/, 'the store file holds its key');
    assert.equal(n.sha('etc/kubernetes/kubelet.conf'), kubeletConf, 'kubelet.conf (pointing at kubelet-client-current.pem) untouched');

    // the journal: the old certificate's deadline (already past at start), the rotation, the new deadline
    await waitFor('the new deadline in the journal', () => deadlines(journal(n)).length === 2, 10_000, 100);
    const text = journal(n);
    const [atStart, afterRotation] = deadlines(text);
    assert.equal(atStart!.expiration, old.na);
    assertInWindow(atStart!.deadline, old, 'at start');
    assert.match(text, /kubelet\[\d+\]: I\d{4} [\d:.]+ +\d+ certificate_manager\.go:356\] kubernetes\.io\/kube-apiserver-client-kubelet: Certificate expiration is /);
    assert.match(text, /Rotating certificates: wrote \/var\/lib\/kubelet\/pki\/kubelet-client-\d{4}(-\d\d){5}\.pem\n/);
    const fresh = { nb: cert.notBefore.getTime(), na: cert.notAfter.getTime() };
    assert.equal(afterRotation!.expiration, fresh.na);
    assertInWindow(afterRotation!.deadline, fresh, 'after the rotation');
    assert.match(text, /kubernetes\.io\/kube-apiserver-client-kubelet: Waiting \d+h\d+m[\d.]+s for next certificate rotation\n/);
    // rotated once: the new certificate's deadline is months away
    await new Promise((res) => setTimeout(res, 2000));
    assert.equal(rotatedFiles(n).length, before.length + 1);
  });

  const keepsBeforeDeadline = t.test('1.28, store certificate at 50 % of its life: no rotation; a kubelet restart draws a new deadline', async () => {
    const n = await makeNode('healthy-1.28');
    const w = windowAt(0.5, 100 * DAY);
    const file = await storeCert(n, w);
    const before = rotatedFiles(n);
    await n.start();
    await controlPlaneServes(n);
    await new Promise((res) => setTimeout(res, 3000));
    assert.deepEqual([rotatedFiles(n), current(n)], [before, file]);
    const [first] = deadlines(journal(n));
    assert.equal(first!.expiration, w.na);
    assertInWindow(first!.deadline, w, 'at start');
    assert.ok(first!.deadline > Date.now() + 10 * DAY);
    assert.match(journal(n), /Waiting \d+h\d+m[\d.]+s for next certificate rotation\n/);

    const r = await n.run('systemctl', 'restart', 'kubelet');
    assert.equal(r.code, 0, r.out);
    await waitFor('the restarted kubelet\'s deadline', () => deadlines(journal(n)).length === 2, 10_000, 100);
    assertInWindow(deadlines(journal(n))[1]!.deadline, w, 'after the restart');
    await new Promise((res) => setTimeout(res, 1500));
    assert.deepEqual([rotatedFiles(n), current(n)], [before, file]);
  });

  const rotatesWhileRunning = t.test('1.28, the deadline passes while the kubelet runs: no rotation before it, one after it', async () => {
    const n = await makeNode('healthy-1.28');
    await n.start();
    await controlPlaneServes(n);
    // with the control plane serving, a 20 s certificate 1 s into its life; the kubelet restarted on it
    // (its static pods keep running): the deadline lies 13–17 s ahead
    const w = windowAt(0, 20 * SECOND);
    w.nb -= SECOND;
    w.na -= SECOND;
    const file = await storeCert(n, w);
    const r = await n.run('systemctl', 'restart', 'kubelet');
    assert.equal(r.code, 0, r.out);
    await waitFor('the restarted kubelet\'s rotation deadline', () => deadlines(journal(n))[1], 10_000, 100);
    const { expiration, deadline } = deadlines(journal(n))[1]!;
    assert.equal(expiration, w.na);
    assertInWindow(deadline, w, 'at start');
    assert.match(journal(n), /Waiting \d+(\.\d+)?s for next certificate rotation\n/, 'not yet due at start');
    await waitFor('half a second before the deadline', () => Date.now() >= deadline - 500, 20_000, 50);
    assert.equal(n.status()?.apiserver.listening, true);
    assert.equal(current(n), file, 'no rotation before the deadline');
    await waitFor('the rotation after the deadline', () => current(n) !== file, 20_000, 100);
    const cert = readCertFile(join(n.root, STORE, current(n)));
    // requested at notBefore + 60 s (whole seconds)
    assert.ok(cert.notBefore.getTime() + 60 * SECOND >= Math.floor(deadline / SECOND) * SECOND, 'requested at or after the deadline');
    await waitFor('the new deadline in the journal', () => deadlines(journal(n)).length === 3, 10_000, 100);
    assertInWindow(deadlines(journal(n))[2]!.deadline, { nb: cert.notBefore.getTime(), na: cert.notAfter.getTime() }, 'after the rotation');
  });

  const olderNever = t.test('rotateCertificates false (1.11): no rotation, not even at 95 % of the certificate\'s life', async () => {
    const n = await makeNode('seed2-1.11-docker');
    const config = join(n.root, 'var/lib/kubelet/config.yaml');
    writeFileSync(config, readFileSync(config, 'utf8').replace('rotateCertificates: true', 'rotateCertificates: false'));
    const file = await storeCert(n, windowAt(0.95, 100 * DAY));
    const before = rotatedFiles(n);
    await n.start();
    await controlPlaneServes(n);
    await new Promise((res) => setTimeout(res, 3000));
    assert.deepEqual([rotatedFiles(n), current(n)], [before, file]);
    assert.doesNotMatch(journal(n), /certificate_manager\.go/);
  });
  const bootstraps = t.test('1.28, kubelet.conf embeds a valid pair, the store\'s has expired: the kubelet stores the embedded pair, reports with it, and rotates at once', async () => {
    const n = await makeNode('healthy-1.28');
    const expiredFile = await storeCert(n, windowAt(1.2, 100 * DAY));
    const before = rotatedFiles(n);
    const ca = readPem(join(n.root, 'etc/kubernetes/pki'), 'ca');
    const embedded = await issue({ cn: 'system:node:cp1', orgs: ['system:nodes'], usage: 'client', notBefore: new Date(Date.now() - DAY), notAfter: new Date(Date.now() + 365 * DAY) }, ca);
    writeFileSync(join(n.root, 'etc/kubernetes/kubelet.conf'), kubeconfigYaml({ server: `https://127.0.0.1:${n.apiPort}`, caCert: ca.cert, user: 'system:node:cp1', client: embedded }), { mode: 0o600 });
    await n.start();
    await waitFor('the kubelet to store the embedded pair', () => current(n) !== expiredFile, 30_000, 100);
    const bootstrap = current(n);
    assert.match(bootstrap, ROTATED);
    assert.equal(readCertFile(join(n.root, STORE, bootstrap)).fingerprint256, parseCert(embedded.cert).fingerprint256);
    await controlPlaneServes(n);
    await waitFor('the rotation that follows a bootstrap pair', () => current(n) !== bootstrap, 30_000, 100);
    const rotated = readCertFile(join(n.root, STORE, current(n)));
    assert.notEqual(rotated.fingerprint256, parseCert(embedded.cert).fingerprint256);
    assert.equal(rotated.cn, 'system:node:cp1');
    assert.deepEqual(rotatedFiles(n).filter((f) => !before.includes(f)), [bootstrap, current(n)].sort(), 'two new files: the bootstrap pair and the rotated one');
    await waitFor('the node reported by the kubelet', () => !!n.status()?.lastHeartbeat && !n.status()?.lastHeartbeatError, 30_000, 100);
  });
  // concurrently: each its own node
  await Promise.all([rotatesPastDeadline, keepsBeforeDeadline, rotatesWhileRunning, olderNever, bootstraps]);
});
