import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandAction } from './command.js';
import { shellAction } from './shell.js';
import { makeCtx, tempDir } from './testing.js';
import type { CommandParams, ShellParams } from '../runbook/schema-types.js';

test('command: unguarded → change; runs; facts', async () => {
  const ctx = makeCtx();
  const params: CommandParams = ['echo', 'hello world'];
  const p = await commandAction.probe(ctx, params);
  assert.equal(p.status, 'change');
  assert.deepEqual(p.commands, ["echo 'hello world'"]);
  assert.equal(ctx.transport.calls.length, 0, 'no round trip without a guard');
  const r = await commandAction.apply(ctx, params, p);
  assert.equal(r.failed, false);
  assert.equal(r.changed, true);
  assert.equal(r.facts!.stdout, 'hello world');
  assert.equal(r.facts!.code, 0);
  assert.equal(typeof r.facts!.duration_ms, 'number');
});

test('command: creates guard skips, idempotent after apply', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const ctx = makeCtx();
    const marker = join(dir, 'c.marker');
    const params: CommandParams = { argv: ['touch', marker], creates: marker };
    const p1 = await commandAction.probe(ctx, params);
    assert.equal(p1.status, 'change');
    const r = await commandAction.apply(ctx, params, p1);
    assert.equal(r.changed, true);
    assert.ok(existsSync(marker));
    const p2 = await commandAction.probe(ctx, params);
    assert.equal(p2.status, 'skip');
    assert.match(p2.summary!, /exists/);
  } finally {
    cleanup();
  }
});

test('command: removes, unless, only_if', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const ctx = makeCtx();
    assert.equal((await commandAction.probe(ctx, { argv: ['true'], removes: join(dir, 'nope') })).status, 'skip');
    assert.equal((await commandAction.probe(ctx, { argv: ['true'], unless: ['true'] })).status, 'skip');
    assert.equal((await commandAction.probe(ctx, { argv: ['true'], unless: ['false'] })).status, 'change');
    assert.equal((await commandAction.probe(ctx, { argv: ['true'], only_if: ['false'] })).status, 'skip');
    assert.equal((await commandAction.probe(ctx, { argv: ['true'], only_if: ['true'] })).status, 'change');
  } finally {
    cleanup();
  }
});

test('command: changed_when / failed_when over result', async () => {
  const ctx = makeCtx();
  const ro: CommandParams = { argv: ['echo', 'ok'], changed_when: false };
  const p = await commandAction.probe(ctx, ro);
  assert.equal(p.status, 'ok');
  const r = await commandAction.apply(ctx, ro, p);
  assert.equal(r.changed, false);
  assert.equal(r.facts!.stdout, 'ok');

  const expr: CommandParams = { argv: ['sh', '-c', 'echo renewed; exit 3'], changed_when: "result.stdout.contains('renewed')", failed_when: 'result.code != 3' };
  assert.equal((await commandAction.probe(ctx, expr)).status, 'unknown');
  const r2 = await commandAction.apply(ctx, expr, await commandAction.probe(ctx, expr));
  assert.equal(r2.changed, true);
  assert.equal(r2.failed, false);
  assert.equal(r2.facts!.code, 3);

  const bad = await commandAction.apply(ctx, ['false'], await commandAction.probe(ctx, ['false']));
  assert.equal(bad.failed, true);
  assert.match(bad.message!, /exit code 1/);
});

test('command: stdin, env, cwd; timeout is a failure', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const ctx = makeCtx();
    const params: CommandParams = { argv: ['sh', '-c', 'read x; echo "$x $FOO $(pwd)"'], stdin: 'in\n', env: { FOO: 'bar' }, cwd: dir };
    const r = await commandAction.apply(ctx, params, await commandAction.probe(ctx, params));
    assert.equal(r.facts!.stdout, `in bar ${dir}`);
    const slow = makeCtx({ timeoutMs: 200 });
    const t = await commandAction.apply(slow, ['sleep', '5'], await commandAction.probe(slow, ['sleep', '5']));
    assert.equal(t.failed, true);
    assert.match(t.message!, /timed out/);
  } finally {
    cleanup();
  }
});

test('command/shell: a hostile value stays one literal argument', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const pwned = join(dir, 'pwned');
    const evil = `x; touch ${pwned}`;
    const ctx = makeCtx();
    const r = await commandAction.apply(ctx, ['echo', evil], await commandAction.probe(ctx, ['echo', evil]));
    assert.equal(r.facts!.stdout, evil);
    const s: ShellParams = { script: 'printf "%s" "$1"', args: [evil] };
    const r2 = await shellAction.apply(ctx, s, await shellAction.probe(ctx, s));
    assert.equal(r2.facts!.stdout, evil);
    const g = await commandAction.probe(ctx, { argv: ['true'], creates: `${dir}/$(touch ${pwned})` });
    assert.equal(g.status, 'change');
    const evilPath = join(dir, '-rf; touch pwned');
    writeFileSync(evilPath, '');
    const rm = await commandAction.apply(ctx, ['rm', '--', evilPath], await commandAction.probe(ctx, ['rm', '--', evilPath]));
    assert.equal(rm.failed, false);
    assert.equal(existsSync(pwned), false, 'nothing was injected');
  } finally {
    cleanup();
  }
});

test('shell: string form and args; guards like command', async () => {
  const ctx = makeCtx();
  const p = await shellAction.probe(ctx, 'echo $((1+2))');
  assert.equal(p.status, 'change');
  assert.equal(p.commands[0], "sh -c 'echo $((1+2))' sh");
  const r = await shellAction.apply(ctx, 'echo $((1+2))', p);
  assert.equal(r.facts!.stdout, '3');
  const s: ShellParams = { script: 'echo "$1-$2"', args: ['a', 2], changed_when: false };
  const r2 = await shellAction.apply(ctx, s, await shellAction.probe(ctx, s));
  assert.equal(r2.facts!.stdout, 'a-2');
  assert.equal(r2.changed, false);
});

test('command: a string argv (an unexpanded template) is a clear error', async () => {
  const ctx = makeCtx();
  await assert.rejects(commandAction.probe(ctx, 'kubeadm version'), /list of arguments/);
});

test('command/shell writes: the declared paths reach the engine (a template giving a list adds each); changed_when: false declares none; a relative path is refused', async () => {
  const ctx = makeCtx();
  const p = await commandAction.probe(ctx, { argv: ['true'], writes: ['/etc/kubernetes/pki/', ['/etc/kubernetes/admin.conf', '/etc/kubernetes/scheduler.conf']] as unknown as string[] });
  assert.deepEqual(p.writes, ['/etc/kubernetes/pki', '/etc/kubernetes/admin.conf', '/etc/kubernetes/scheduler.conf']);
  assert.equal((await commandAction.probe(ctx, ['true'])).writes, undefined, 'undeclared: unknown');
  assert.deepEqual((await shellAction.probe(ctx, { script: 'true', changed_when: false })).writes, []);
  assert.deepEqual((await shellAction.probe(ctx, { script: 'true', changed_when: 'true', writes: ['/x'] })).writes, ['/x']);
  await assert.rejects(commandAction.probe(ctx, { argv: ['true'], writes: ['etc/x'] }), /command\.writes: "etc\/x" is not an absolute path/);
});
