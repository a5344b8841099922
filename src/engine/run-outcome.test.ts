import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HostStatus, RecapRow } from './events.js';
import type { JournalLine } from './journal.js';
import { hostInRun, runOutcome, type HostSettlement } from './run-outcome.js';

const ID = '20261001T000000Z-aaaaaa';
const t = '2026-10-01T00:00:00Z';
const start = (mode: 'apply' | 'rollback', dryRun = false) =>
  ({ kind: 'run-start', t, runId: ID, mode, dryRun, inventory: { hosts: [{ name: 'cp-1', address: '10.0.0.1', port: 22 }, { name: 'cp-2', address: '10.0.0.2', port: 22 }] } }) as unknown as JournalLine;
const row = (host: string, status: HostStatus, message?: string): RecapRow => ({ host, status, ok: 0, changed: 0, failed: 0, skipped: 0, unknown: 0, unreachable: 0, ...(message ? { message } : {}) });
const hostEnd = (host: string, status: HostStatus, message?: string) => ({ kind: 'host-end', t, host, status, counts: {}, durationMs: 1, ...(message ? { message } : {}) }) as unknown as JournalLine;
const end = (mode: 'apply' | 'rollback', rows: RecapRow[]) => ({ kind: 'run-end', t, runId: ID, mode, exitCode: 0, recap: rows }) as unknown as JournalLine;

function states(lines: JournalLine[]): Record<string, string> {
  const o = runOutcome(ID, lines)!;
  const show = (s: HostSettlement) => (s.settled ? `${s.good ? 'good' : 'settled'}: ${s.how}` : `unsettled: ${s.why}`);
  return Object.fromEntries([...o.of].map(([h, s]) => [h, show(s)]));
}

test('run outcome: completed and rolled-back hosts are settled; failed, aborted, unreachable ones are not', () => {
  const s = states([start('apply'), hostEnd('cp-1', 'ok'), hostEnd('cp-2', 'failed', 'step "x" failed'), end('apply', [row('cp-1', 'ok'), row('cp-2', 'failed', 'step "x" failed')])]);
  assert.equal(s['cp-1'], 'good: completed');
  assert.match(s['cp-2']!, /^unsettled: run 20261001T000000Z-aaaaaa failed on it \(step "x" failed\): runbook rollback 20261001T000000Z-aaaaaa may still need/);
  const r = states([start('apply'), end('apply', [row('cp-1', 'rolled-back'), row('cp-2', 'aborted')])]);
  assert.equal(r['cp-1'], 'good: rolled back');
  assert.match(r['cp-2']!, /^unsettled: run \S+ was aborted on it/);
  const u = states([start('apply'), end('apply', [row('cp-1', 'rollback-failed'), row('cp-2', 'unreachable')])]);
  assert.match(u['cp-1']!, /failed and its rollback failed/);
  assert.match(u['cp-2']!, /was unreachable/);
});

test('run outcome: an interrupted run is unsettled on every host, even one that had finished; resumed to the end, it is settled', () => {
  const killed = [start('apply'), hostEnd('cp-1', 'ok')];
  const s = states(killed);
  assert.match(s['cp-1']!, /^unsettled: run \S+ was interrupted .*runbook resume 20261001T000000Z-aaaaaa continues it/);
  assert.match(s['cp-2']!, /interrupted/);
  // the resumed part's recap names only the hosts it ran: cp-1 keeps the word of its host-end
  const resumed = states([...killed, start('apply'), hostEnd('cp-2', 'ok'), end('apply', [row('cp-2', 'ok')])]);
  assert.deepEqual(resumed, { 'cp-1': 'good: completed', 'cp-2': 'good: completed' });
});

test('run outcome: a later runbook rollback settles a failed host when it put it back, not when it failed; a dry run counts for nothing', () => {
  const failed = [start('apply'), end('apply', [row('cp-1', 'failed'), row('cp-2', 'ok')])];
  const s = states([...failed, start('rollback'), hostEnd('cp-1', 'ok'), hostEnd('cp-2', 'ok'), end('rollback', [row('cp-1', 'ok'), row('cp-2', 'ok')])]);
  assert.deepEqual(s, { 'cp-1': 'good: rolled back by runbook rollback 20261001T000000Z-aaaaaa', 'cp-2': 'good: rolled back by runbook rollback 20261001T000000Z-aaaaaa' });
  const bad = states([...failed, start('rollback'), hostEnd('cp-1', 'rollback-failed', 'restore: sha256 mismatch')]);
  assert.match(bad['cp-1']!, /^unsettled: runbook rollback \S+ did not put it back \(rollback-failed: restore: sha256 mismatch\)/);
  assert.match(bad['cp-2']!, /^good: completed/);
  // an interrupted run rolled back by hand is settled
  assert.match(states([start('apply'), start('rollback'), hostEnd('cp-1', 'ok')])['cp-1']!, /^good: rolled back by runbook rollback/);
  // plans and dry runs made nothing
  assert.equal(runOutcome(ID, [start('apply', true), end('apply', [row('cp-1', 'ok')])]), undefined);
});

test('run outcome: a host is found by inventory name, else by address and port', () => {
  const o = runOutcome(ID, [start('apply'), end('apply', [row('cp-1', 'ok')])])!;
  assert.equal(hostInRun(o, { name: 'cp-1', address: '192.0.2.1', port: 22 }), 'cp-1');
  assert.equal(hostInRun(o, { name: '10.0.0.2', address: '10.0.0.2', port: 22 }), 'cp-2');
  assert.equal(hostInRun(o, { name: '10.0.0.2', address: '10.0.0.2', port: 2222 }), undefined);
});
