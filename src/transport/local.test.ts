import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalTransport } from './local.js';
import { secret, shellJoin } from './quote.js';

const NASTY = ['x; touch PWNED', '$(id)', '`id`', 'a\nb', '-n', "it's", '', '  spaced  ', '*', '~', 'A=b'];

test('local exec: every nasty argument arrives as one literal argument', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'local-t-'));
  try {
    const t = new LocalTransport();
    const r = await t.exec(['printf', '%s\\n', ...NASTY], { cwd: dir });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, NASTY.map((s) => s + '\n').join(''));
    assert.ok(!existsSync(join(dir, 'PWNED')));
    const s = await t.exec(['printf', '%s', secret('pa ss;word')]);
    assert.equal(s.stdout, 'pa ss;word');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('local exec: exit codes, stderr, stdin, env, cwd, constructor env', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'local-t-'));
  try {
    const t = new LocalTransport({ env: { RUNBOOK_T: 'base' } });
    const r = await t.exec(['sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [3, 'out\n', 'err\n']);
    assert.equal((await t.exec(['cat'], { stdin: 'in put' })).stdout, 'in put');
    assert.equal((await t.exec(['sh', '-c', 'echo "$X|$RUNBOOK_T"'], { env: { X: '$(id) ok' } })).stdout, '$(id) ok|base\n');
    assert.equal((await t.exec(['pwd'], { cwd: dir })).stdout.trim(), dir);
    assert.equal((await t.exec(['cat'])).stdout, ''); // no stdin: EOF, not the test runner's stdin
    await assert.rejects(t.exec(['true'], { env: { 'BAD NAME': 'x' } }), /invalid environment variable name/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('local exec: timeout kills the command', async () => {
  const t = new LocalTransport();
  const started = Date.now();
  const r = await t.exec(['sleep', '30'], { timeoutMs: 200 });
  assert.equal(r.timedOut, true);
  assert.equal(r.code, null);
  assert.ok(Date.now() - started < 5000);
});

test('local files: writeAtomic keeps or sets the mode, read, stat (lstat)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'local-t-'));
  try {
    const t = new LocalTransport();
    const p = join(dir, 'f.conf');
    await t.writeAtomic(p, 'one', { mode: 0o600 });
    assert.equal((await t.read(p)).toString(), 'one');
    assert.equal(statSync(p).mode & 0o777, 0o600);
    chmodSync(p, 0o640);
    await t.writeAtomic(p, Buffer.from('two'));
    assert.equal(statSync(p).mode & 0o777, 0o640); // an existing mode is kept
    const st = await t.stat(p);
    assert.deepEqual([st?.type, st?.size, st?.mode], ['file', 3, 0o640]);
    assert.equal(await t.stat(join(dir, 'missing')), null);
    writeFileSync(join(dir, 'target'), 'x');
    await t.exec(['ln', '-s', 'target', join(dir, 'link')]);
    assert.equal((await t.stat(join(dir, 'link')))?.type, 'symlink');
    await assert.rejects(t.read(join(dir, 'missing')), (e: Error & { kind?: string }) => e.kind === 'io');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('shellJoin quotes command words that the shell would read as assignments or keywords', async () => {
  assert.equal(shellJoin(['A=b', 'A=b']), "'A=b' A=b");
  assert.equal(shellJoin(['if']), "'if'");
  const r = await new LocalTransport().exec(['if']);
  assert.equal(r.code, 127); // "if: not found", not a syntax error
});

test('only "no such file" is absent: stat gives null for ENOENT/ENOTDIR, an I/O error with its errno otherwise', async () => {
  const { isNotFound, UserError } = await import('../errors.js');
  const { errnoOf } = await import('./ssh.js');
  const dir = mkdtempSync(join(tmpdir(), 'runbook-local-errno-'));
  try {
    const t = new LocalTransport({ host: 'h1' });
    writeFileSync(join(dir, 'file'), 'x');
    assert.equal(await t.stat(join(dir, 'missing')), null);
    assert.equal(await t.stat(join(dir, 'file', 'below')), null, 'a path through a file (ENOTDIR) is absent');
    // reading a directory is not "missing": EISDIR, with host and path in the message
    const e = await t.read(dir).then(() => undefined, (x: unknown) => x);
    assert.ok(e instanceof UserError);
    assert.equal(isNotFound(e), false);
    assert.match(e.message, new RegExp(`cannot read ${dir} on h1: .*\\(EISDIR\\)`));
    const gone = await t.read(join(dir, 'missing')).then(() => undefined, (x: unknown) => x);
    assert.equal(isNotFound(gone), true);
    // SFTP status codes and tool messages map to errno names
    assert.equal(errnoOf({ code: 2 }), 'ENOENT');
    assert.equal(errnoOf({ code: 3 }), 'EACCES');
    assert.equal(errnoOf({ code: 4 }), 'EIO');
    assert.equal(errnoOf("cat: /x: Permission denied"), 'EACCES');
    assert.equal(errnoOf('stat: cannot statx /a/b: Not a directory'), 'ENOTDIR');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
