import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRunbookText } from '../runbook/load.js';
import type { JournalLine } from './journal.js';
import { HandlerQueue } from './handlers.js';
import { pendingNotifications, rearm } from './resume-handlers.js';

const { runbook: rb, diagnostics } = loadRunbookText(
  `apiVersion: runbook/v1
name: handlers
hosts: all
steps:
  - { name: One, copy: { dest: /tmp/one, content: "1" }, notify: Reload }
  - { name: Two, copy: { dest: /tmp/two, content: "2" }, notify: [Reload, Restart] }
  - { name: Three, copy: { dest: /tmp/three, content: "3" }, notify: Rotate }
handlers:
  - { name: Reload, command: { argv: ["true"], changed_when: true }, notify: Restart }
  - { name: Restart, command: { argv: ["true"], changed_when: true } }
  - { name: Rotate, command: { argv: [echo, "{{ item }}"], changed_when: true }, loop: [1, 2] }
`,
  '/tmp/handlers.yaml',
);
const t = '2026-11-30T00:00:00Z';
const start = { kind: 'run-start', t, mode: 'apply' } as unknown as JournalLine;
const stepStart = (host: string, step: string) => ({ kind: 'step-start', t, host, step }) as unknown as JournalLine;
const stepEnd = (host: string, step: string, status: string) => ({ kind: 'step-end', t, host, step, status }) as unknown as JournalLine;
const ran = (host: string, step: string, status = 'changed') => [stepStart(host, step), stepEnd(host, step, status)];
const plain = (p: ReturnType<typeof pendingNotifications>) => Object.fromEntries([...p].map(([h, m]) => [h, Object.fromEntries(m)]));

test('resume: the handlers done steps notified and the run had not run yet, by notifying step', () => {
  assert.ok(rb, JSON.stringify(diagnostics));
  const lines = [start, ...ran('a', 'steps[0]'), ...ran('a', 'steps[1]', 'ok'), ...ran('b', 'steps[0]', 'ok'), ...ran('b', 'steps[1]'), ...ran('c', 'steps[0]'), stepStart('c', 'steps[1]')];
  assert.deepEqual(plain(pendingNotifications(lines, rb)), {
    a: { 'steps[0]': ['handlers[0]'] },
    b: { 'steps[1]': ['handlers[0]', 'handlers[1]'] },
    c: { 'steps[0]': ['handlers[0]'] },
  });
});

test('resume: a handler that ran is not due; what it notified is; one the runner died in is due again; a rolled-back host has none', () => {
  assert.ok(rb);
  // a: Reload ran (and notified Restart), the runner died before Restart
  const a = [start, ...ran('a', 'steps[0]'), ...ran('a', 'steps[1]', 'ok'), ...ran('a', 'handlers[0]')];
  assert.deepEqual(plain(pendingNotifications(a, rb)), { a: { 'handlers[0]': ['handlers[1]'] } });
  // b: the runner died in Reload (no step-end), or between two items of Rotate's loop: due again, by the step that notified it
  const b = [start, ...ran('b', 'steps[0]'), ...ran('b', 'steps[1]', 'ok'), stepStart('b', 'handlers[0]')];
  assert.deepEqual(plain(pendingNotifications(b, rb)), { b: { 'steps[0]': ['handlers[0]'] } });
  const loop = [start, ...ran('b', 'steps[2]'), ...ran('b', 'handlers[2]')];
  assert.deepEqual(plain(pendingNotifications(loop, rb)), { b: { 'steps[2]': ['handlers[2]'] } });
  assert.deepEqual(plain(pendingNotifications([...loop, ...ran('b', 'handlers[2]'), stepStart('b', 'steps[3]')], rb)), {}, 'past it: done');
  // c: both ran; notified again later (a resumed part re-journals done steps as ok: no notification)
  const c = [start, ...ran('c', 'steps[0]'), ...ran('c', 'handlers[0]', 'ok'), start, ...ran('c', 'steps[0]', 'ok'), stepStart('c', 'steps[1]')];
  assert.deepEqual(plain(pendingNotifications(c, rb)), {});
  // d: rolled back: its rollback runs no handler
  const d = [start, ...ran('d', 'steps[0]'), { kind: 'rollback-start', t, host: 'd' } as unknown as JournalLine, ...ran('d', 'steps[1]')];
  assert.deepEqual(plain(pendingNotifications(d, rb)), { d: { 'steps[0]': ['handlers[0]'] } }, 'only what the run did before its rollback');
});

test('resume: rearm notifies the queue in the notifying step\'s name', () => {
  assert.ok(rb);
  const q = new HandlerQueue(rb.plays[0]!.handlers.map((h) => h.name));
  const pending = new Map([['steps[1]', ['handlers[1]', 'handlers[0]']]]);
  rearm(q, rb.plays[0]!.handlers, pending, rb.plays[0]!.steps[0]!);
  assert.equal(q.pending, false, 'steps[0] notified nothing still due');
  rearm(q, rb.plays[0]!.handlers, pending, rb.plays[0]!.steps[1]!);
  assert.deepEqual(q.next(-1), { index: 0, by: ['Two'] });
  assert.deepEqual(q.next(0), { index: 1, by: ['Two'] });
});
