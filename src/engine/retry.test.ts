/** retries: the undo record kept is the first attempt's that made one; an attempt that throws is a failed attempt. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApplyResult, ProbeResult, StepContext } from '../actions/types.js';
import { evaluate } from '../runbook/expressions.js';
import { applyWithRetries } from './retry.js';

const ctx = { evaluate: (e: string, extra?: Record<string, unknown>) => evaluate(e, extra ?? {}) } as unknown as StepContext;
const probe: ProbeResult<unknown> = { status: 'change', commands: [], state: {} };

/** apply() answering from a script of attempts (a function throws). */
function script(attempts: (ApplyResult | (() => never))[]) {
  let i = 0;
  return async (): Promise<ApplyResult> => {
    const a = attempts[i++]!;
    return typeof a === 'function' ? a() : a;
  };
}

test('a later attempt that throws keeps the first attempt\'s undo record, and the step fails', async () => {
  const res = await applyWithRetries(
    { retries: 3, delayMs: 1 },
    ctx,
    probe,
    script([{ changed: true, commands: ['write'], failed: true, message: 'bad', undo: { path: '/f', existed: false } }, () => { throw new Error('connection lost'); }, () => { throw new Error('connection lost'); }, () => { throw new Error('connection lost'); }]),
    async () => probe,
  );
  assert.equal(res.failed, true);
  assert.deepEqual(res.undo, { path: '/f', existed: false });
  assert.equal(res.changed, true);
  assert.match(res.message ?? '', /still failing after 4 attempts: connection lost/);
});

test('the undo record is the first one any attempt made, not a later one', async () => {
  const res = await applyWithRetries(
    { retries: 3, delayMs: 1 },
    ctx,
    probe,
    script([
      { changed: false, commands: [], failed: true, message: 'not yet' },
      { changed: true, commands: [], failed: true, message: 'half', undo: { path: '/f', before: 'original' } },
      { changed: true, commands: [], undo: { path: '/f', before: 'half' } },
    ]),
    async () => probe,
  );
  assert.equal(res.failed, undefined);
  assert.deepEqual(res.undo, { path: '/f', before: 'original' });
});

test('an until that cannot be evaluated is a failed attempt, not an exception', async () => {
  const res = await applyWithRetries({ retries: 1, delayMs: 1, until: 'result.nope.deeper == 1' }, ctx, probe, script([{ changed: true, commands: [], facts: {}, undo: { path: '/f' } }, { changed: false, commands: [], facts: {} }]), async () => probe);
  assert.equal(res.failed, true);
  assert.deepEqual(res.undo, { path: '/f' });
  assert.match(res.message ?? '', /until `result.nope.deeper == 1`/);
});
