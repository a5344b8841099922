import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { makeBatches } from './batches.js';

const sizes = (n: number, serial: Parameters<typeof makeBatches>[1]) => makeBatches(Array.from({ length: n }, (_, i) => i), serial).map((b) => b.length);

test('serial as a ramp (Ansible): the sizes in order, the last one repeating, percentages of all the hosts', () => {
  assert.deepEqual(sizes(10, [1, '30%', '100%']), [1, 3, 6]);
  assert.deepEqual(sizes(10, [1, 2]), [1, 2, 2, 2, 2, 1]);
  assert.deepEqual(sizes(3, [1, 5]), [1, 2]);
  assert.deepEqual(sizes(10, ['10%', '50%']), [1, 5, 4]);
  assert.deepEqual(sizes(4, [2]), [2, 2]);
  assert.deepEqual(sizes(4, 3), [3, 1]);
  assert.deepEqual(sizes(0, [1, '100%']), []);
});

test('a ramp runs every host exactly once, in order', () => {
  const size = fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 100 }).map((p) => `${p}%`));
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 60 }), fc.array(size, { minLength: 1, maxLength: 5 }), (n, ramp) => {
      const hosts = Array.from({ length: n }, (_, i) => i);
      const batches = makeBatches(hosts, ramp);
      assert.deepEqual(batches.flat(), hosts);
      assert.ok(batches.every((b) => b.length >= 1));
    }),
  );
});
