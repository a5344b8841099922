/** Heap pacing: runbook sets V8's growing factor unless the operator gave one. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { paceHeap } from './heap.js';

test("an operator's --heap-growing-percent, in node's flags or NODE_OPTIONS, is left alone", () => {
  assert.equal(paceHeap(['--heap-growing-percent=0'], ''), false);
  assert.equal(paceHeap([], '--max-old-space-size=4096 --heap_growing_percent=80'), false);
});

test('V8 knows the flag it is given (an unknown flag would only print "unrecognized flag" and do nothing)', () => {
  const code = `import(${JSON.stringify(new URL('./heap.js', import.meta.url).href)}).then((m) => console.log(m.paceHeap([], '')))`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout.trim(), 'true');
});
