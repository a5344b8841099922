import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { decryptAge, encryptAge, isAgeEncrypted, parseIdentities, useAgeIdentityFile, collectRecipients } from './encrypted.js';
import { loadRunbookFile } from './load.js';
import { hostScope, parseExtraVars, secretValues } from './vars.js';
import { playView } from '../engine/play-view.js';
import type { HostEntry } from '../inventory/types.js';
import { isUserError } from '../errors.js';

const haveAge = spawnSync('sh', ['-c', 'command -v age && command -v age-keygen']).status === 0;
const dirs: string[] = [];
function work(): string {
  const d = mkdtempSync(join(tmpdir(), 'runbook-age-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  useAgeIdentityFile(undefined);
  delete process.env.RUNBOOK_AGE_IDENTITY;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function keyFile(dir: string, name = 'key.txt'): Promise<{ file: string; recipient: string; key: string }> {
  const key = await generateIdentity();
  const file = join(dir, name);
  writeFileSync(file, `# created: now\n# public key: ${await identityToRecipient(key)}\n${key}\n`, { mode: 0o600 });
  return { file, recipient: await identityToRecipient(key), key };
}

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isUserError(e), String(e));
    assert.match(`${e.message} ${e.diagnostic.hint ?? ''}`, re);
    return true;
  });
}

test('round trip in memory, binary and armored; the identity from --identity-file, $RUNBOOK_AGE_IDENTITY as a file or as the key', async () => {
  const dir = work();
  const { file, recipient, key } = await keyFile(dir);
  for (const armored of [false, true]) {
    const enc = await encryptAge(Buffer.from('a: 1\n'), [recipient], armored);
    assert.ok(isAgeEncrypted(enc));
    assert.equal(enc.toString('latin1').startsWith('-----BEGIN AGE ENCRYPTED FILE-----'), armored);
    useAgeIdentityFile(file);
    assert.equal(await decryptAge('x.age', enc), 'a: 1\n');
    useAgeIdentityFile(undefined);
    process.env.RUNBOOK_AGE_IDENTITY = file;
    assert.equal(await decryptAge('x.age', enc), 'a: 1\n');
    process.env.RUNBOOK_AGE_IDENTITY = key;
    assert.equal(await decryptAge('x.age', enc), 'a: 1\n');
  }
  assert.equal(isAgeEncrypted(Buffer.from('a: 1\n')), false);
});

test('missing identity, wrong identity, a damaged file, a bad identity file, a bad recipient: clear errors naming the file', async () => {
  const dir = work();
  const { file: right, recipient } = await keyFile(dir);
  const other = await keyFile(dir, 'other.txt');
  const enc = await encryptAge(Buffer.from('a: 1\n'), [recipient], false);
  await rejects(decryptAge('secrets.yaml.age', enc), /^secrets\.yaml\.age is encrypted with age, and no identity was given.*--identity-file/);
  useAgeIdentityFile(other.file);
  await rejects(decryptAge('secrets.yaml.age', enc), /cannot decrypt secrets\.yaml\.age: it was not encrypted for the identity in .*other\.txt/);
  await rejects(decryptAge('secrets.yaml.age', enc.subarray(0, 90)), /cannot decrypt secrets\.yaml\.age: the file is damaged or not an age file/);
  useAgeIdentityFile(right);
  const flipped = Buffer.from(enc);
  flipped[flipped.length - 3]! ^= 1;
  await rejects(decryptAge('secrets.yaml.age', flipped), /cannot decrypt secrets\.yaml\.age: the file is damaged/);
  assert.throws(() => parseIdentities('ssh-ed25519 AAAA', 'id_ed25519'), /id_ed25519: not an age identity file/);
  assert.throws(() => parseIdentities('# nothing\n', 'empty.txt'), /empty\.txt: no identity/);
  useAgeIdentityFile(join(dir, 'missing.txt'));
  await rejects(decryptAge('s.age', enc), /--identity-file .*missing\.txt: cannot read it/);
  assert.throws(() => collectRecipients(['ssh-ed25519 AAAA'], []), /is not an age recipient/);
  assert.throws(() => collectRecipients([], []), /no recipients/);
});

test('interoperable with the age tool: its files decrypt here, ours decrypt there', { skip: haveAge ? false : 'the age tool is not installed' }, async () => {
  const dir = work();
  const key = join(dir, 'age-key.txt');
  assert.equal(spawnSync('age-keygen', ['-o', key]).status, 0);
  const recipient = spawnSync('age-keygen', ['-y', key], { encoding: 'utf8' }).stdout.trim();
  writeFileSync(join(dir, 'plain.yaml'), 'token: from-age-cli\n');
  for (const armor of [[], ['-a']]) {
    const out = join(dir, `cli${armor.length}.age`);
    const r = spawnSync('age', ['-r', recipient, ...armor, '-o', out, join(dir, 'plain.yaml')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    useAgeIdentityFile(key);
    assert.equal(await decryptAge(out, readFileSync(out)), 'token: from-age-cli\n');
  }
  for (const armored of [false, true]) {
    const ours = join(dir, `ours${armored}.age`);
    writeFileSync(ours, await encryptAge(Buffer.from('token: from-runbook\n'), collectRecipients([recipient], []), armored));
    const r = spawnSync('age', ['-d', '-i', key, ours], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'token: from-runbook\n');
  }
});

test('-e @file.age: decrypted in memory, its names become secrets of the runbook; vars_files (runbook and play) too, with diagnostics at the entry', async () => {
  const dir = work();
  const { file: key, recipient } = await keyFile(dir);
  writeFileSync(join(dir, 'extra.yaml.age'), await encryptAge(Buffer.from('api_token: tok-SECRET-1\n'), [recipient], false));
  writeFileSync(join(dir, 'db.yaml.age'), await encryptAge(Buffer.from('db:\n  user: app\n  password: pw-SECRET-2\n'), [recipient], true));
  writeFileSync(join(dir, 'plain.yaml'), 'region: eu\nport: 1\n');
  writeFileSync(join(dir, 'play.yaml.age'), await encryptAge(Buffer.from('play_secret: ps-SECRET-3\n'), [recipient], false));
  const rb = join(dir, 'rb.yaml');
  writeFileSync(
    rb,
    'apiVersion: runbook/v1\nname: enc\nvars: { port: 0 }\nvars_files: [plain.yaml, db.yaml.age]\nplays:\n  - name: One\n    hosts: all\n    vars_files: [play.yaml.age]\n    steps:\n      - name: Use them\n        assert: { that: "db.password != \'\' && play_secret != \'\' && api_token != \'\' && region == \'eu\' && port == 1" }\n',
  );
  useAgeIdentityFile(key);
  const extra = (await parseExtraVars([`@${join(dir, 'extra.yaml.age')}`])).values;
  assert.deepEqual(extra, { api_token: 'tok-SECRET-1' });
  const { runbook, diagnostics } = await loadRunbookFile(rb, { knownVarNames: Object.keys(extra) });
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  // (the encrypted values are Literal: used as written; JSON sees the values)
  const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;
  assert.deepEqual(json(runbook!.runbook.vars), { port: 1, region: 'eu', db: { user: 'app', password: 'pw-SECRET-2' } });
  assert.deepEqual(json(runbook!.plays[0]!.vars), { play_secret: 'ps-SECRET-3' });
  for (const n of ['api_token', 'db', 'play_secret']) assert.ok(runbook!.secrets.has(n), n);
  assert.ok(!runbook!.secrets.has('region'), 'a plain vars file is not secret');
  // inside a secret mapping, short values (`app`) are not redacted: they would mangle every `apply`
  assert.deepEqual(secretValues(runbook!, { db: { user: 'app', password: 'pw-SECRET-2', port: 543210, list: ['item-SECRET-4'] }, api_token: 'tok-SECRET-1' }).sort(), ['543210', 'item-SECRET-4', 'pw-SECRET-2', 'tok-SECRET-1']);

  // no identity, a missing file: errors at the vars_files entry, naming the file
  useAgeIdentityFile(undefined);
  writeFileSync(rb, readFileSync(rb, 'utf8').replace('[plain.yaml, db.yaml.age]', '[plain.yaml, db.yaml.age, nope.yaml]'));
  const bad = await loadRunbookFile(rb, { knownVarNames: ['api_token'] });
  assert.equal(bad.runbook, undefined);
  const at = (d: { line?: number; col?: number; message: string }) => `${d.line}:${d.col} ${d.message}`;
  const errs = bad.diagnostics.filter((d) => d.severity === 'error').map(at);
  assert.ok(errs.some((e) => /^4:26 vars_files: .*db\.yaml\.age is encrypted with age, and no identity was given/.test(e)), errs.join('\n'));
  assert.ok(errs.some((e) => /^4:39 vars_files: no such file: .*nope\.yaml$/.test(e)), errs.join('\n'));
  assert.ok(errs.some((e) => /^8:18 vars_files: .*play\.yaml\.age is encrypted/.test(e)), errs.join('\n'));
});

test('values from an encrypted vars file are literal (like Ansible\'s !unsafe): a secret holding {{ is never evaluated; plain files and vars still are', async () => {
  const dir = work();
  const { file: key, recipient } = await keyFile(dir);
  // a password that looks like a template, one that is not even a valid template, and nested ones
  const secrets = 'db_password: "p{{ run.id }}w"\nbroken: "x{{ unclosed"\ndb:\n  dsn: "{{ 6 * 7 }}"\n  list: ["{{ host.name }}"]\n';
  writeFileSync(join(dir, 'secrets.yaml.age'), await encryptAge(Buffer.from(secrets), [recipient], true));
  writeFileSync(join(dir, 'play.yaml.age'), await encryptAge(Buffer.from('play_secret: "{{ 1 + 1 }}"\n'), [recipient], false));
  writeFileSync(join(dir, 'plain.yaml'), 'plain_tpl: "{{ 1 + 1 }}"\n');
  const rb = join(dir, 'rb.yaml');
  writeFileSync(
    rb,
    `apiVersion: runbook/v1
name: literal
vars_files: [plain.yaml, secrets.yaml.age]
plays:
  - name: One
    hosts: all
    # a template over a secret inserts its value, which is not evaluated again
    vars: { conn: "user:{{ db_password }}@{{ host.name }}" }
    vars_files: [play.yaml.age]
    steps:
      - name: Look
        assert: { that: ["db_password == 'p{{ run.id }}w'"] }
`,
  );
  useAgeIdentityFile(key);
  try {
    const { runbook, diagnostics } = await loadRunbookFile(rb);
    assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
    const host: HostEntry = { name: 'cp1', address: '127.0.0.1', port: 22, become: false, connection: 'ssh', groups: ['all'], vars: {} };
    const scope = hostScope(playView(runbook!, runbook!.plays[0]!), host, {}, { id: 'r1', dry_run: true });
    assert.equal(scope.db_password, 'p{{ run.id }}w');
    assert.equal(scope.broken, 'x{{ unclosed', 'not an expression error (whose message would quote the secret)');
    assert.deepEqual(scope.db, { dsn: '{{ 6 * 7 }}', list: ['{{ host.name }}'] });
    assert.equal(scope.play_secret, '{{ 1 + 1 }}');
    assert.equal(scope.plain_tpl, 2, 'a plain vars file is templated as before');
    assert.equal(scope.conn, 'user:p{{ run.id }}w@cp1');
  } finally {
    useAgeIdentityFile(undefined);
  }
});
