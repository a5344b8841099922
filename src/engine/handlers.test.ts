import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HandlerQueue } from './handlers.js';

const NAMES = ['h0', 'h1', 'h2', 'h3', 'h4', 'h5'];

/** Drain a queue the way a flush does: each due handler once, in definition order. */
function drain(q: HandlerQueue): number[] {
  const out: number[] = [];
  for (let at = -1, d = q.next(at); d; at = d.index, d = q.next(at)) out.push(d.index);
  return out;
}

test('a flush runs each notified handler exactly once, in definition order, and nothing else', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: NAMES.length - 1 }), fc.string({ maxLength: 3 })), { maxLength: 40 }), (notes) => {
      const q = new HandlerQueue(NAMES);
      for (const [i, by] of notes) q.notify(NAMES[i]!, by);
      const ran = drain(q);
      const expected = [...new Set(notes.map(([i]) => i))].sort((a, b) => a - b);
      assert.deepEqual(ran, expected);
      assert.equal(q.pending, false);
      assert.deepEqual(drain(q), [], 'a second flush runs nothing');
    }),
  );
});

test('a handler notified during a flush runs in it when it comes later, at the next flush when earlier', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: NAMES.length - 1 }), fc.integer({ min: 0, max: NAMES.length - 1 }), (first, chained) => {
      const q = new HandlerQueue(NAMES);
      q.notify(NAMES[first]!, 'a step');
      const d = q.next(-1)!;
      assert.equal(d.index, first);
      q.notify(NAMES[chained]!, NAMES[first]!);
      const rest = drain2(q, d.index);
      if (chained > first) assert.deepEqual(rest, [chained]);
      else {
        assert.deepEqual(rest, []);
        assert.deepEqual(drain(q), [chained]);
      }
    }),
  );
});

function drain2(q: HandlerQueue, after: number): number[] {
  const out: number[] = [];
  for (let at = after, d = q.next(at); d; at = d.index, d = q.next(at)) out.push(d.index);
  return out;
}

test('the notifiers are kept once each, in order; unknown names are ignored', () => {
  const q = new HandlerQueue(NAMES);
  q.notify('h2', 'Config A');
  q.notify('h2', 'Config B');
  q.notify('h2', 'Config A');
  q.notify('nope', 'Config A');
  assert.deepEqual(q.next(-1), { index: 2, by: ['Config A', 'Config B'] });
  assert.equal(q.next(-1), undefined);
});
