/**
 * set_fact: its keys become variables of the host for the later steps (apply and dry run), the
 * last loop item wins, a skipped set_fact sets nothing, and in a dry run a set_fact over unknowable
 * results makes its names unknown (not undefined). Local hosts in a temp dir.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyCmd } from '../src/cli/apply.js';
import { planCmd } from '../src/cli/plan.js';
import { Capture } from './support/capture.js';


const dir = mkdtempSync(join(tmpdir(), 'runbook-set-fact-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const RUNBOOK = `apiVersion: runbook/v1
name: facts
hosts: all
steps:
  - name: a command whose output a dry run cannot know
    command: { argv: [echo, "1.18"], changed_when: false }
    register: out
  - name: facts from vars
    set_fact: { greeting: "hello", n: 2 }
  - name: facts from the command
    set_fact: { version: "{{ out.stdout.trim() }}" }
  - name: loop, last wins
    loop: [a, b, c]
    set_fact: { letter: "{{ item }}" }
  - name: skipped
    set_fact: { greeting: "overwritten" }
    when: n > 5
  - name: use them
    copy: { dest: "{{ root }}/out.txt", content: "{{ greeting }} {{ n * 2 }} {{ letter }} {{ version }}\\n" }
`;

function setup(): { inventory: string; runbook: string; stateDir: string; root: string } {
  const root = mkdtempSync(join(dir, 'h-'));
  writeFileSync(join(root, 'inv.yaml'), `all:\n  hosts:\n    h1: { ansible_connection: local, root: "${root}", runbook_lock_path: "${root}/.lock" }\n`);
  writeFileSync(join(root, 'rb.yaml'), RUNBOOK);
  return { inventory: join(root, 'inv.yaml'), runbook: join(root, 'rb.yaml'), stateDir: join(root, 'state'), root };
}

test('set_fact: apply makes its keys variables (last loop item wins, skipped sets nothing)', async () => {
  const s = setup();
  const stdout = new Capture();
  const stderr = new Capture();
  const r = await applyCmd({ runbook: s.runbook, inventory: s.inventory, stateDir: s.stateDir, stdout, stderr });
  assert.equal(r.exitCode, 0, stdout.text + stderr.text);
  assert.equal(readFileSync(join(s.root, 'out.txt'), 'utf8'), 'hello 4 c 1.18\n');
});

test('set_fact: a dry run knows facts from known values and marks the rest unknown', async () => {
  const s = setup();
  const stdout = new Capture();
  const stderr = new Capture();
  const r = await planCmd({ runbook: s.runbook, inventory: s.inventory, stateDir: s.stateDir, stdout, stderr });
  assert.notEqual(r.exitCode, 4, stdout.text + stderr.text); // nothing failed: unknown, not an undefined variable
  assert.doesNotMatch(stdout.text, /failed +\d+\/\d+/);
  assert.match(stdout.text, /unknown +6\/6 use them/);
  assert.doesNotMatch(stdout.text, /undefined variable `(greeting|n|letter)`/);
});
