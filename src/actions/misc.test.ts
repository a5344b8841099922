import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serviceAction } from './service.js';
import { waitForAction } from './wait_for.js';
import { assertAction } from './assert.js';
import { setFactAction } from './set_fact.js';
import { fetchAction } from './fetch.js';
import { actionTypes, getAction } from './registry.js';
import { ACTION_TYPES } from '../runbook/model.js';
import { makeCtx, tempDir } from './testing.js';
import type { Transport, ExecResult } from '../transport/types.js';
import type { Arg } from '../transport/quote.js';

/** systemctl on a pretend host: never the machine's real services. */
class FakeSystemd implements Transport {
  readonly host = 'fake';
  readonly ran: string[] = [];
  constructor(public units: Record<string, string>) {}
  async exec(argv: readonly Arg[]): Promise<ExecResult> {
    const a = argv.map(String);
    this.ran.push(a.join(' '));
    const res = (code: number, stdout = ''): ExecResult => ({ code, stdout, stderr: '', durationMs: 1 });
    if (a[0] !== 'systemctl') return res(127);
    const name = a[a.length - 1]!;
    const state = this.units[name] ?? 'inactive';
    switch (a[1]) {
      case 'is-active':
        return res(state === 'active' ? 0 : 3, `${state}\n`);
      case 'start':
      case 'restart':
      case 'reload':
        this.units[name] = 'active';
        return res(0);
      case 'stop':
        this.units[name] = 'inactive';
        return res(0);
    }
    return res(1);
  }
  async read(): Promise<Buffer> {
    throw new Error('no');
  }
  async writeAtomic(): Promise<void> {}
  async stat() {
    return null;
  }
  async close() {}
}

test('service: started/stopped idempotent via is-active; activating counts as not started; undo', async () => {
  const fake = new FakeSystemd({ kubelet: 'activating', etcd: 'active' });
  const ctx = makeCtx({ transport: fake });
  const p = await serviceAction.probe(ctx, { name: 'kubelet', state: 'started' });
  assert.equal(p.status, 'change');
  assert.deepEqual(p.commands, ['systemctl start -- kubelet']);
  const r = await serviceAction.apply(ctx, { name: 'kubelet', state: 'started' }, p);
  assert.equal(r.changed, true);
  assert.equal((await serviceAction.probe(ctx, { name: 'kubelet', state: 'started' })).status, 'ok');
  await serviceAction.undo!(ctx, r.undo!);
  assert.equal(fake.units.kubelet, 'inactive');
  assert.equal((await serviceAction.probe(ctx, { name: 'kubelet', state: 'stopped' })).status, 'ok');
  assert.equal((await serviceAction.probe(ctx, { name: 'etcd', state: 'stopped' })).status, 'change');
  const before = fake.ran.length;
  const rs = await serviceAction.probe(ctx, { name: 'kubelet', state: 'restarted' });
  assert.equal(rs.status, 'change');
  assert.equal(fake.ran.length, before, 'restarted needs no probe round trip');
  await serviceAction.apply(ctx, { name: 'kubelet', state: 'restarted' }, rs);
  assert.equal((await serviceAction.probe(ctx, { name: 'kubelet', state: 'restarted' })).status, 'change', 'restarted always changes');
  await assert.rejects(serviceAction.probe(ctx, { name: '--now', state: 'started' }), /not a unit name/);
});

test('wait_for path: probe ok when true (no waiting), unknown in dry run; apply waits', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const f = join(dir, 'ready');
    const dry = makeCtx({ dryRun: true });
    const p = await waitForAction.probe(dry, { path: f, retries: 3, delay: '1s' });
    assert.equal(p.status, 'unknown');
    assert.equal(dry.transport.calls.length, 1);
    setTimeout(() => writeFileSync(f, ''), 150);
    const ctx = makeCtx();
    const r = await waitForAction.apply(ctx, { path: f, retries: 20, delay: '50ms' }, await waitForAction.probe(ctx, { path: f, retries: 20, delay: '50ms' }));
    assert.equal(r.failed, undefined);
    assert.equal(r.changed, false);
    assert.ok((r.facts!.attempts as number) > 1);
    assert.equal((await waitForAction.probe(dry, { path: f })).status, 'ok');
    const gone = await waitForAction.apply(ctx, { path: f, state: 'absent', retries: 2, delay: '10ms' }, await waitForAction.probe(ctx, { path: f, state: 'absent', retries: 2, delay: '10ms' }));
    assert.equal(gone.failed, true);
    assert.equal(gone.facts!.attempts, 3);
    assert.match(gone.message!, /still not true after 3 tries/);
  } finally {
    cleanup();
  }
});

test('wait_for command + stdout_contains; facts of the last try', async () => {
  const ctx = makeCtx();
  const params = { command: ['echo', 'Server Version: v1.30'] as [string, ...string[]], stdout_contains: 'Server Version' };
  const p = await waitForAction.probe(ctx, params);
  assert.equal(p.status, 'ok');
  assert.equal(p.facts!.stdout, 'Server Version: v1.30');
  const r = await waitForAction.apply(ctx, { command: ['echo', 'nope'], stdout_contains: 'Server Version', retries: 1, delay: '10ms' }, await waitForAction.probe(ctx, { command: ['echo', 'nope'], stdout_contains: 'Server Version' }));
  assert.equal(r.failed, true);
  assert.equal(r.facts!.stdout, 'nope');
});

test('wait_for port, from the host', async () => {
  const server = createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const ctx = makeCtx({ dryRun: true });
    assert.equal((await waitForAction.probe(ctx, { port })).status, 'ok');
  } finally {
    server.close();
  }
  const ctx = makeCtx({ dryRun: true });
  assert.equal((await waitForAction.probe(ctx, { port })).status, 'unknown');
  await assert.rejects(waitForAction.probe(ctx, { port, address: '-x; rm' }), /not a host name/);
});

test('assert: ok, false, undefined variable in dry run', async () => {
  const ctx = makeCtx({ vars: { a: { stdout: 'alpha' } } });
  const ok = await assertAction.probe(ctx, { that: "a.stdout.contains('alpha')" });
  assert.equal(ok.status, 'ok');
  const unknown = await assertAction.probe(ctx, { that: ['later.code == 0'] });
  assert.equal(unknown.status, 'unknown');
  const bad = { that: ["a.stdout == 'alpha'", "a.stdout == 'beta'"] as [string, ...string[]], fail_msg: 'not beta' };
  assert.equal((await assertAction.probe(ctx, bad)).status, 'unknown');
  const r = await assertAction.apply(ctx, bad, await assertAction.probe(ctx, bad));
  assert.equal(r.failed, true);
  assert.match(r.message!, /not beta/);
  assert.equal((await assertAction.apply(ctx, { that: 'true' }, ok)).failed, undefined);
});

test('set_fact: facts in probe and apply', async () => {
  const ctx = makeCtx();
  const p = await setFactAction.probe(ctx, { renew: true, names: ['a'] });
  assert.deepEqual(p.facts, { renew: true, names: ['a'] });
  assert.deepEqual((await setFactAction.apply(ctx, { x: 1 }, p)).facts, { x: 1 });
});

test('fetch: new file 0600 with dirs; ok again; a different file is kept as .bak; undo', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const src = join(dir, 'admin.conf');
    writeFileSync(src, 'v1\n');
    const ctx = makeCtx({ localDir: join(dir, 'local') });
    const params = { src, dest: 'out/kubeconfig-cp1.conf' };
    const p1 = await fetchAction.probe(ctx, params);
    assert.equal(p1.status, 'change');
    assert.equal(existsSync(join(dir, 'local')), false, 'probe writes nothing');
    const r1 = await fetchAction.apply(ctx, params, p1);
    const dest = join(dir, 'local/out/kubeconfig-cp1.conf');
    assert.equal(readFileSync(dest, 'utf8'), 'v1\n');
    assert.equal(statSync(dest).mode & 0o777, 0o600);
    assert.equal((await fetchAction.probe(ctx, params)).status, 'ok');
    writeFileSync(src, 'v2\n');
    const r2 = await fetchAction.apply(ctx, params, await fetchAction.probe(ctx, params));
    assert.equal(readFileSync(dest, 'utf8'), 'v2\n');
    const baks = readdirSync(join(dir, 'local/out')).filter((n) => /^kubeconfig-cp1\.conf\.\d{8}T\d{6}Z\.bak$/.test(n));
    assert.equal(baks.length, 1);
    await fetchAction.undo!(ctx, r2.undo!);
    assert.equal(readFileSync(dest, 'utf8'), 'v1\n');
    await fetchAction.undo!(ctx, r1.undo!);
    assert.equal(existsSync(dest), false);
  } finally {
    cleanup();
  }
});

test('registry: every schema step type has an action with that type', () => {
  assert.deepEqual([...actionTypes].sort(), [...ACTION_TYPES].sort());
  for (const t of ACTION_TYPES) assert.equal(getAction(t)!.type, t);
  assert.equal(getAction('kubeadm'), undefined);
  assert.equal(getAction('toString'), undefined);
  for (const t of ['wait_for', 'assert', 'x509', 'set_fact']) assert.equal(getAction(t)!.readOnly, true);
});

test('dry run: what an earlier step would create is unknown, not a failure', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const dry = makeCtx({ dryRun: true });
    const { moveAction } = await import('./move.js');
    const { copyAction } = await import('./copy.js');
    const { fileAction } = await import('./file.js');
    assert.equal((await moveAction.probe(dry, { src: join(dir, 'a'), dest: join(dir, 'b') })).status, 'unknown');
    assert.equal((await copyAction.probe(dry, { remote_src: join(dir, 'a'), dest: join(dir, 'b') })).status, 'unknown');
    assert.equal((await fetchAction.probe(dry, { src: join(dir, 'a'), dest: join(dir, 'b') })).status, 'unknown');
    assert.equal((await fileAction.probe(dry, { path: join(dir, 'a'), mode: '0600' })).status, 'unknown');
    await assert.rejects(fileAction.probe(makeCtx(), { path: join(dir, 'a'), mode: '0600' }), /does not exist/);
  } finally {
    cleanup();
  }
});
