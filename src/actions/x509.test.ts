import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { x509Action, type CertFacts } from './x509.js';
import { parseInline } from './x509-pool.js';
import { makeCtx, tempDir } from './testing.js';
import { LocalTransport } from '../transport/local.js';

function openssl(cwd: string, ...args: string[]) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A kubeadm-like pki/: a CA (10 years), apiserver with SANs (400 days), etcd/server (10 days), an expired one. */
function makePki(dir: string): string {
  const pki = join(dir, 'pki');
  mkdirSync(join(pki, 'etcd'), { recursive: true });
  openssl(pki, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-subj', '/CN=kubernetes');
  const leaf = (name: string, cn: string, days: string, extra: string[] = []) => {
    openssl(pki, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', cn, ...extra);
    openssl(pki, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-days', days, '-out', `${name}.crt`, '-copy_extensions', 'copy');
  };
  leaf('apiserver', '/CN=kube-apiserver', '400', ['-addext', 'subjectAltName=DNS:kubernetes,DNS:kubernetes.default,IP:10.96.0.1']);
  leaf('etcd/server', '/CN=cp-1', '10');
  leaf('apiserver-kubelet-client', '/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client', '-1'); // notAfter a day ago
  return pki;
}

test('x509 dir: names, fields, expiring, expired; one exec; probe = apply facts', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const pki = makePki(dir);
    const ctx = makeCtx({ dryRun: true });
    const p = await x509Action.probe(ctx, { dir: pki });
    assert.equal(p.status, 'ok');
    assert.equal(ctx.transport.calls.length, 1, 'one exec for the whole directory');
    const facts = p.facts as { certs: CertFacts[]; expiring: string[]; expired: string[] };
    assert.deepEqual(facts.certs.map((c) => c.name), ['apiserver-kubelet-client', 'etcd/server', 'apiserver', 'ca'], 'sorted by not_after');
    const api = facts.certs.find((c) => c.name === 'apiserver')!;
    assert.deepEqual(api.sans, ['kubernetes', 'kubernetes.default', '10.96.0.1']);
    assert.equal(api.cn, 'kube-apiserver');
    assert.equal(api.issuer, 'CN=kubernetes');
    assert.equal(api.is_ca, false);
    assert.ok(api.days_left >= 398 && api.days_left <= 400, String(api.days_left));
    assert.equal(api.path, join(pki, 'apiserver.crt'));
    assert.match(api.fingerprint_sha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.match(api.not_after, /^\d{4}-\d\d-\d\dT/);
    const ca = facts.certs.find((c) => c.name === 'ca')!;
    assert.equal(ca.is_ca, true);
    const exp = facts.certs.find((c) => c.name === 'apiserver-kubelet-client')!;
    assert.equal(exp.expired, true);
    assert.ok(exp.days_left < 0);
    assert.equal(exp.subject, 'O=kubeadm:cluster-admins, CN=kube-apiserver-kubelet-client');
    assert.deepEqual(facts.expiring, ['apiserver-kubelet-client', 'etcd/server']);
    assert.deepEqual(facts.expired, ['apiserver-kubelet-client']);
    const c2 = makeCtx();
    const r = await x509Action.apply(c2, { dir: pki, within: '500d' }, await x509Action.probe(c2, { dir: pki, within: '500d' }));
    assert.deepEqual((r.facts as { expiring: string[] }).expiring, ['apiserver', 'apiserver-kubelet-client', 'etcd/server']);
    assert.equal(r.changed, false);
  } finally {
    cleanup();
  }
});

test('x509 paths and kubeconfigs (embedded data, a referenced file, a missing one)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const pki = makePki(dir);
    const b64 = readFileSync(join(pki, 'apiserver-kubelet-client.crt')).toString('base64');
    writeFileSync(
      join(dir, 'admin.conf'),
      `apiVersion: v1\nkind: Config\nusers:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: ${b64}\n    client-key-data: eA==\n`,
    );
    writeFileSync(join(dir, 'kubelet.conf'), `apiVersion: v1\nusers:\n- name: default-auth\n  user:\n    client-certificate: pki/etcd/server.crt\n    client-key: pki/etcd/server.key\n`);
    const ctx = makeCtx();
    const p = await x509Action.probe(ctx, {
      paths: [join(pki, 'ca.crt')],
      kubeconfigs: [join(dir, 'admin.conf'), join(dir, 'kubelet.conf'), join(dir, 'super-admin.conf')],
    });
    const facts = p.facts as { certs: CertFacts[]; expiring: string[]; missing: string[] };
    assert.deepEqual(facts.certs.map((c) => c.name).sort(), ['admin.conf', 'ca', 'kubelet.conf']);
    const admin = facts.certs.find((c) => c.name === 'admin.conf')!;
    assert.equal(admin.embedded, true);
    assert.equal(admin.expired, true);
    const kubelet = facts.certs.find((c) => c.name === 'kubelet.conf')!;
    assert.equal(kubelet.embedded, false);
    assert.equal(kubelet.path, join(pki, 'etcd/server.crt'));
    assert.equal(kubelet.cn, 'cp-1');
    assert.deepEqual(facts.expiring, ['admin.conf', 'kubelet.conf']);
    assert.deepEqual(facts.missing, [join(dir, 'super-admin.conf')]);
    assert.equal(ctx.transport.calls.length, 2, 'kubeconfigs + the referenced file');
  } finally {
    cleanup();
  }
});

test('x509 dir and kubeconfigs in one exec; a path with a line break; apply reuses the probe', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const pki = makePki(dir);
    writeFileSync(join(pki, 'odd\nname.crt'), readFileSync(join(pki, 'ca.crt')));
    const b64 = readFileSync(join(pki, 'ca.crt')).toString('base64');
    writeFileSync(join(dir, 'admin.conf'), `apiVersion: v1\nusers:\n- name: a\n  user:\n    client-certificate-data: ${b64}\n`);
    const ctx = makeCtx();
    const params = { dir: pki, kubeconfigs: [join(dir, 'admin.conf'), join(dir, 'missing.conf')] };
    const p = await x509Action.probe(ctx, params);
    assert.equal(ctx.transport.calls.length, 1, 'the directory and the kubeconfigs in one exec');
    const facts = p.facts as { certs: CertFacts[]; missing: string[] };
    assert.deepEqual(facts.certs.map((c) => c.name).sort(), ['admin.conf', 'apiserver', 'apiserver-kubelet-client', 'ca', 'etcd/server', 'odd\nname']);
    assert.equal(facts.certs.find((c) => c.name === 'odd\nname')!.path, join(pki, 'odd\nname.crt'));
    assert.deepEqual(facts.missing, [join(dir, 'missing.conf')]);
    const r = await x509Action.apply(ctx, params, p);
    assert.equal(ctx.transport.calls.length, 1, 'apply reads nothing again');
    assert.deepEqual(r.facts, p.facts);
  } finally {
    cleanup();
  }
});

test('x509 over SFTP-like reads (no process on the host) gives the same facts as the exec path', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const pki = makePki(dir);
    symlinkSync('ca.crt', join(pki, 'linked.crt')); // a symlinked certificate counts, as find -type l
    mkdirSync(join(dir, 'elsewhere'));
    writeFileSync(join(dir, 'elsewhere', 'hidden.crt'), readFileSync(join(pki, 'ca.crt')));
    symlinkSync(join(dir, 'elsewhere'), join(pki, 'linkdir')); // find does not descend into it
    writeFileSync(join(pki, 'odd\nname.crt'), readFileSync(join(pki, 'ca.crt')));
    writeFileSync(join(dir, 'kubelet.conf'), `apiVersion: v1\nusers:\n- name: default-auth\n  user:\n    client-certificate: pki/etcd/server.crt\n`);
    const params = { dir: pki, kubeconfigs: [join(dir, 'kubelet.conf'), join(dir, 'missing.conf')] };
    const viaExec = makeCtx();
    const local = new LocalTransport();
    assert.equal(local.filesInProcess, true);
    const inProcess = { ...makeCtx(), transport: local };
    const a = (await x509Action.probe(viaExec, params)).facts as { certs: CertFacts[]; missing: string[] };
    const b = (await x509Action.probe(inProcess, params)).facts as { certs: CertFacts[]; missing: string[] };
    assert.ok(viaExec.transport.calls.length > 0);
    assert.deepEqual(b.certs.map((c) => c.name).sort(), ['apiserver', 'apiserver-kubelet-client', 'ca', 'etcd/server', 'kubelet.conf', 'linked', 'odd\nname']);
    const strip = (cs: CertFacts[]) => cs.map(({ days_left: _d, ...c }) => c).sort((x, y) => (x.name < y.name ? -1 : 1));
    assert.deepEqual(strip(b.certs), strip(a.certs));
    assert.deepEqual(b.missing, a.missing);
    await assert.rejects(x509Action.probe(inProcess, { dir: join(dir, 'nope') }), /not a directory/);
  } finally {
    cleanup();
  }
});

test('x509: a directory that does not exist, a file that is no certificate, an empty or truncated kubeconfig', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await assert.rejects(x509Action.probe(makeCtx(), { dir: join(dir, 'nope') }), /not a directory/);
    writeFileSync(join(dir, 'bad.crt'), 'not a cert');
    await assert.rejects(x509Action.probe(makeCtx(), { dir }), /bad\.crt is not a certificate/);
    // a truncated admin.conf must fail the check, not pass it with nothing read
    writeFileSync(join(dir, 'empty.conf'), '# nothing but a comment\n');
    await assert.rejects(x509Action.probe(makeCtx(), { kubeconfigs: [join(dir, 'empty.conf')] }), /empty\.conf is not a valid kubeconfig: it is empty/);
    writeFileSync(join(dir, 'list.conf'), '- a\n- b\n');
    await assert.rejects(x509Action.probe(makeCtx(), { kubeconfigs: [join(dir, 'list.conf')] }), /list\.conf is not a valid kubeconfig: it is not a mapping/);
    writeFileSync(join(dir, 'broken.conf'), 'users: [\n');
    await assert.rejects(x509Action.probe(makeCtx(), { kubeconfigs: [join(dir, 'broken.conf')] }), /broken\.conf is not a valid kubeconfig/);
  } finally {
    cleanup();
  }
});

/**
 * A LocalTransport whose reads and listings complete in rounds, as round trips to a remote host
 * do: everything asked for in one round is answered together. `rounds()` lists what each asked.
 */
class RoundTripTransport extends LocalTransport {
  private pending: { op: string; ready: Promise<unknown>; open: () => void }[] = [];

  private async roundTrip<T>(op: string, work: Promise<T>): Promise<T> {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const settled = work.then(
      (value) => ({ value }),
      (failed: unknown) => ({ failed }),
    );
    this.pending.push({ op, ready: settled, open });
    const r = await settled;
    await gate;
    if ('failed' in r) throw r.failed;
    return r.value;
  }

  override read(path: string) {
    return this.roundTrip(`read ${path}`, super.read(path));
  }

  override list(dir: string) {
    return this.roundTrip(`list ${dir}`, super.list(dir));
  }

  /** Answers round after round until `work` settles: what each round asked for. */
  async rounds(work: Promise<unknown>): Promise<string[][]> {
    let settled = false;
    void work.finally(() => (settled = true)).catch(() => undefined);
    const idle = async () => {
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    };
    const asked: string[][] = [];
    for (await idle(); !settled; await idle()) {
      const now = this.pending.splice(0);
      assert.ok(now.length > 0, 'the step waits on nothing it asked for');
      await Promise.all(now.map((p) => p.ready));
      now.forEach((p) => p.open());
      asked.push(now.map((p) => p.op).sort());
    }
    return asked;
  }
}

test('x509 over SFTP asks for each file as soon as its path is known: a host costs its longest chain of round trips', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const pki = makePki(dir);
    // the kubelet's rotated certificate, as kubeadm >= 1.17's kubelet.conf points at it
    writeFileSync(join(dir, 'kubelet-client-current.pem'), readFileSync(join(pki, 'apiserver-kubelet-client.crt')));
    writeFileSync(join(dir, 'kubelet.conf'), `apiVersion: v1\nusers:\n- name: default-auth\n  user:\n    client-certificate: kubelet-client-current.pem\n`);
    const t = new RoundTripTransport();
    // the rounds are told apart by idle turns of this thread's event loop: a parse on the worker thread is no turn
    parseInline(true);
    const probe = x509Action.probe({ ...makeCtx(), transport: t }, { dir: pki, kubeconfigs: [join(dir, 'kubelet.conf')] });
    // one after another, it would be 4: list, list, read everything, read the referenced file
    const crts = ['apiserver', 'apiserver-kubelet-client', 'ca'].map((c) => `read ${join(pki, `${c}.crt`)}`);
    assert.deepEqual(await t.rounds(probe), [
      [`list ${pki}`, `read ${join(dir, 'kubelet.conf')}`],
      [`list ${join(pki, 'etcd')}`, ...crts, `read ${join(dir, 'kubelet-client-current.pem')}`].sort(),
      [`read ${join(pki, 'etcd', 'server.crt')}`],
    ]);
    const facts = (await probe).facts as { certs: CertFacts[] };
    assert.deepEqual(facts.certs.map((c) => c.name).sort(), ['apiserver', 'apiserver-kubelet-client', 'ca', 'etcd/server', 'kubelet.conf']);
  } finally {
    parseInline(false);
    cleanup();
  }
});

test('x509: a step that fails ends with every read it started, and reports the first failure in its own order', async () => {
  const { dir, cleanup } = tempDir();
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => void unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const pki = makePki(dir);
    // a user naming a file that is no certificate, then one embedding garbage
    writeFileSync(join(dir, 'bad.pem'), 'not a certificate');
    writeFileSync(join(dir, 'two.conf'), `users:\n- name: a\n  user:\n    client-certificate: bad.pem\n- name: b\n  user:\n    client-certificate-data: Z2FyYmFnZQ==\n`);
    for (const ctx of [makeCtx(), { ...makeCtx(), transport: new LocalTransport() }]) {
      await assert.rejects(x509Action.probe(ctx, { kubeconfigs: [join(dir, 'two.conf')] }), /bad\.pem is not a certificate/);
    }
    // a listing that fails while the directory's reads are queued: none starts after the step ends
    for (let i = 0; i < 40; i++) writeFileSync(join(pki, `extra-${i}.crt`), readFileSync(join(pki, 'ca.crt')));
    let ended = false;
    let lateReads = 0;
    class BrokenListing extends LocalTransport {
      override read(path: string) {
        if (ended) lateReads++;
        return super.read(path);
      }
      override async list(d: string) {
        if (d.endsWith('/etcd')) throw new Error('connection lost');
        return super.list(d);
      }
    }
    await assert.rejects(x509Action.probe({ ...makeCtx(), transport: new BrokenListing() }, { dir: pki }), /connection lost/);
    ended = true;
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    assert.equal(lateReads, 0);
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    cleanup();
  }
});

test('x509 through sudo: the files kubeconfigs point at come in one more exec, however many kubeconfigs', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const pki = makePki(dir);
    const conf = (cert: string) => `apiVersion: v1\nusers:\n- name: u\n  user:\n    client-certificate: ${cert}\n`;
    writeFileSync(join(dir, 'kubelet.conf'), conf('pki/etcd/server.crt'));
    writeFileSync(join(dir, 'other.conf'), conf('pki/apiserver.crt'));
    writeFileSync(join(dir, 'third.conf'), conf('pki/gone.crt'));
    const ctx = makeCtx();
    const facts = (await x509Action.probe(ctx, { kubeconfigs: ['kubelet.conf', 'other.conf', 'third.conf'].map((f) => join(dir, f)) })).facts as { certs: CertFacts[]; missing: string[] };
    assert.equal(ctx.transport.calls.length, 2, 'the kubeconfigs, then the three files they name');
    assert.deepEqual(facts.certs.map((c) => `${c.name} ${c.path}`).sort(), [`kubelet.conf ${join(pki, 'etcd/server.crt')}`, `other.conf ${join(pki, 'apiserver.crt')}`]);
    assert.deepEqual(facts.missing, [join(pki, 'gone.crt')]);
  } finally {
    cleanup();
  }
});
