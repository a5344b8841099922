import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { HostEntry } from './types.js';
import { allSlices, clusterKey, parseSlice, sliceHosts } from './slice.js';

const host = (name: string, cluster?: string): HostEntry => ({ name, address: name, port: 22, become: false, connection: 'ssh', groups: ['all'], vars: cluster ? { cluster } : {} });

/** distinct host names, some of them in clusters */
const fleet = fc
  .uniqueArray(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/), fc.option(fc.constantFrom('c1', 'c2', 'c3', 'prod', 'dev'), { nil: undefined })), { selector: ([n]) => n, minLength: 0, maxLength: 60 })
  .map((xs) => xs.map(([n, c]) => host(n, c)));

test('--slice K/N is parsed 1-based and refused outside 1..N with a hint for 0-based indexes', () => {
  assert.deepEqual(parseSlice('2/4'), { index: 2, count: 4 });
  assert.deepEqual(parseSlice(' 1 / 1 '), { index: 1, count: 1 });
  for (const bad of ['0/4', '5/4', '1/0', '2', 'a/b', '-1/3', '1/2/3']) assert.throws(() => parseSlice(bad), /expected K\/N/, bad);
});

test('every host is in exactly one slice, slices are balanced within one host', () => {
  fc.assert(
    fc.property(fleet, fc.integer({ min: 1, max: 12 }), (hosts, n) => {
      const slices = allSlices(hosts, n);
      const names = slices.flat().map((h) => h.name).sort();
      assert.deepEqual(names, hosts.map((h) => h.name).sort());
      const sizes = slices.map((s) => s.length);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes}`);
      // sliceHosts agrees with allSlices and keeps the selection's order
      for (let k = 1; k <= n; k++) {
        const one = sliceHosts(hosts, { index: k, count: n });
        assert.deepEqual(new Set(one.map((h) => h.name)), new Set(slices[k - 1]!.map((h) => h.name)));
        assert.deepEqual(one, hosts.filter((h) => one.includes(h)));
      }
    }),
    { numRuns: 300 },
  );
});

test('slices do not depend on inventory order', () => {
  fc.assert(
    fc.property(fleet.chain((hosts) => fc.tuple(fc.constant(hosts), fc.shuffledSubarray(hosts, { minLength: hosts.length, maxLength: hosts.length }))), fc.integer({ min: 1, max: 8 }), ([hosts, shuffled], n) => {
      for (const keep of [undefined, clusterKey]) {
        const a = allSlices(hosts, n, keep).map((s) => s.map((h) => h.name));
        const b = allSlices(shuffled, n, keep).map((s) => s.map((h) => h.name));
        assert.deepEqual(a, b);
      }
    }),
    { numRuns: 300 },
  );
});

test('with keepTogether, a cluster never spans two slices, and no slice is emptier than needed', () => {
  fc.assert(
    fc.property(fleet, fc.integer({ min: 1, max: 8 }), (hosts, n) => {
      const slices = allSlices(hosts, n, clusterKey);
      for (const c of ['c1', 'c2', 'c3', 'prod', 'dev']) {
        const holding = slices.filter((s) => s.some((h) => clusterKey(h) === c));
        assert.ok(holding.length <= 1, `cluster ${c} in ${holding.length} slices`);
      }
      // greedy largest-first: the biggest slice exceeds the smallest by at most the largest unit
      const unitSizes = new Map<string, number>();
      for (const h of hosts) unitSizes.set(clusterKey(h) ?? `h:${h.name}`, (unitSizes.get(clusterKey(h) ?? `h:${h.name}`) ?? 0) + 1);
      const largest = Math.max(0, ...unitSizes.values());
      const sizes = slices.map((s) => s.length);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= largest);
    }),
    { numRuns: 300 },
  );
});
