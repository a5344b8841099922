import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextStepsHint } from './run.js';
import { SCENARIOS, scenarioArg } from '../lab/sim/index.js';

test('the demo closing hint names exactly the scenarios the demo accepts (not the test-only external-etcd-1.28)', () => {
  const line = nextStepsHint().find((l) => l.includes('runbook demo --scenario NAME'));
  assert.ok(line, nextStepsHint().join('\n'));
  const named = /\(([^)]*)\)\s*$/.exec(line)![1]!.split(', ');
  const accepted = SCENARIOS.filter((s) => {
    try {
      return scenarioArg(s) === s;
    } catch {
      return false;
    }
  });
  assert.deepEqual(named, accepted);
  assert.ok(!named.includes('external-etcd-1.28'));
  assert.throws(() => scenarioArg('external-etcd-1.28'), /runs in the test suite only/);
  // the refusal's hint offers only what it accepts too
  assert.throws(() => scenarioArg('nope'), (e: { diagnostic: { hint?: string } }) => e.diagnostic.hint === `one of ${accepted.join(', ')}`);
});
