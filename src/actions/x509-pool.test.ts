/** The x509 parse worker answers as the inline parser does, and never holds the process open. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './testing.js';
import { parseCerts, parseKubeconfigs, parserThreadId } from './x509-pool.js';
import { parseRequest, type CertMeta } from './x509-parse.js';

function cert(dir: string, cn: string): Buffer {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, `${cn}.key`), '-out', join(dir, `${cn}.crt`), '-days', '30', '-subj', `/CN=${cn}`], { stdio: 'ignore' });
  return readFileSync(join(dir, `${cn}.crt`));
}

test('the worker thread gives what the inline parser gives: facts, errors as step errors, kubeconfigs', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const now = Date.now();
    const good = cert(dir, 'a');
    const meta = (name: string): CertMeta => ({ name, path: `/pki/${name}.crt`, source: 'file' });
    const items = [
      { data: good, meta: meta('a') },
      { data: Buffer.from('not a certificate'), meta: meta('b') },
    ];
    const viaWorker = await parseCerts(items, now);
    assert.ok(parserThreadId(), 'the certificates were parsed on the worker thread, not inline');
    const inline = parseRequest({ op: 'certs', items, now });
    assert.equal(inline.op, 'certs');
    assert.deepEqual(viaWorker, inline.op === 'certs' ? inline.results : undefined);
    assert.equal(viaWorker[0]!.ok && viaWorker[0]!.value.cn, 'a');
    assert.ok(!viaWorker[1]!.ok && !viaWorker[1]!.internal && /\/pki\/b\.crt is not a certificate/.test(viaWorker[1]!.message));

    const kc = Buffer.from(`apiVersion: v1\nusers:\n- name: admin\n  user:\n    client-certificate-data: ${good.toString('base64')}\n- name: file\n  user:\n    client-certificate: ../pki/x.crt\n`);
    const kcs = [
      { data: kc, kc: '/etc/kubernetes/admin.conf' },
      { data: Buffer.from('users: [unclosed'), kc: '/k.conf' },
    ];
    const [k, bad] = await parseKubeconfigs(kcs, now);
    const kInline = parseRequest({ op: 'kubeconfigs', items: kcs, now });
    assert.deepEqual([k, bad], kInline.op === 'kubeconfigs' ? kInline.results : undefined);
    assert.ok(k?.ok);
    assert.deepEqual(
      k.value.map((c) => [c.name, c.file, c.embedded?.ok && c.embedded.value.cn]),
      [
        ['admin.conf', undefined, 'a'],
        ['admin.conf:file', '/etc/pki/x.crt', undefined],
      ],
    );
    assert.ok(bad && !bad.ok && /\/k\.conf is not a valid kubeconfig/.test(bad.message));
    // a mapping where the users' list belongs is a step error too, not an internal one
    const [notList] = await parseKubeconfigs([{ data: Buffer.from('users: {a: 1}'), kc: '/m.conf' }], now);
    assert.deepEqual(notList, { ok: false, message: 'x509: /m.conf is not a valid kubeconfig: its users are not a list' });
  } finally {
    cleanup();
  }
});

test('a process whose parsing is done exits: the idle worker holds nothing open', () => {
  const pool = fileURLToPath(new URL('./x509-pool.js', import.meta.url));
  const script = `import { parseKubeconfigs } from ${JSON.stringify(pool)}; const [r] = await parseKubeconfigs([{ data: Buffer.from('users: []'), kc: '/k.conf' }], Date.now()); console.log(JSON.stringify(r));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr || 'killed: the process did not exit');
  assert.deepEqual(JSON.parse(r.stdout), { ok: true, value: [] });
});
