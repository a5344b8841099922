/**
 * assert's fail_msg is rendered only for a failing assertion (Action.lazyParams): a fleet's passing
 * hosts do not each evaluate a message nobody reads, a message that cannot be rendered does not fail
 * a passing assertion, and a failing one still names its condition. Local hosts in a temp dir.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyCmd } from '../src/cli/apply.js';
import { Capture } from './support/capture.js';

const dir = mkdtempSync(join(tmpdir(), 'runbook-assert-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function apply(that: string, failMsg: string): Promise<{ exitCode: number; events: Array<Record<string, unknown>> }> {
  const root = mkdtempSync(join(dir, 'h-'));
  writeFileSync(join(root, 'inv.yaml'), `all:\n  hosts:\n    h1: { ansible_connection: local, runbook_lock_path: "${root}/.lock" }\n`);
  writeFileSync(
    join(root, 'rb.yaml'),
    `apiVersion: runbook/v1\nname: a\nhosts: all\nvars:\n  nodes: [cp1, cp2]\nsteps:\n  - name: check\n    assert:\n      that: ${JSON.stringify(that)}\n      fail_msg: ${JSON.stringify(failMsg)}\n`,
  );
  const stdout = new Capture();
  const r = await applyCmd({ runbook: join(root, 'rb.yaml'), inventory: join(root, 'inv.yaml'), stateDir: join(root, 'state'), json: true, stdout, stderr: new Capture() });
  return { exitCode: r.exitCode, events: stdout.text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const stepEnd = (events: Array<Record<string, unknown>>) => events.find((e) => e.kind === 'step-end')!;

test('assert: a passing assertion never renders fail_msg, even one that cannot be rendered', async () => {
  const r = await apply('size(nodes) == 2', "{{ int('not a number') }}");
  assert.equal(r.exitCode, 0);
  assert.equal(stepEnd(r.events).status, 'ok');
});

test('assert: a failing assertion renders fail_msg with the host variables and names the condition', async () => {
  const r = await apply('size(nodes) == 3', "{{ host.name }}: nodes are {{ nodes.join(', ') }}");
  assert.equal(r.exitCode, 4);
  assert.equal(stepEnd(r.events).status, 'failed');
  assert.equal(stepEnd(r.events).message, 'h1: nodes are cp1, cp2 (`size(nodes) == 3` is false)');
});

test('assert: a fail_msg that cannot be rendered still fails the step, saying why and which condition failed', async () => {
  const r = await apply('size(nodes) == 3', "{{ int('not a number') }}");
  assert.equal(r.exitCode, 4);
  const m = String(stepEnd(r.events).message);
  assert.match(m, /^fail_msg cannot be rendered: /);
  assert.match(m, /\(`size\(nodes\) == 3` is false\)$/);
});
