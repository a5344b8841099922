/**
 * Three play/step options on `ansible_connection: local` hosts in temp dirs:
 * - `on_failure: rollback_all`: a failure on one host rolls back every host of the run that changed
 *   anything (those that finished their part, and those a later batch never reached), and the recap
 *   names the host that failed and why;
 * - `order_by`: a play's hosts run (and are batched) in the order of an expression over their facts;
 * - `verifies`: each host's time to recover, from its first change to its last verifying step.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyCmd, type ApplyOptions } from '../src/cli/apply.js';
import { planCmd } from '../src/cli/plan.js';
import type { Event } from '../src/engine/events.js';
import { Capture } from './support/capture.js';

let dir: string;
let n = 0;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-rollback-all-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function setup(count: number, runbook: string): { o: ApplyOptions & { stdout: Capture; stderr: Capture }; roots: string[] } {
  const base = join(dir, `case${++n}`);
  mkdirSync(base);
  const roots: string[] = [];
  const lines = ['all:', '  hosts:'];
  for (let i = 1; i <= count; i++) {
    const root = join(base, `h${i}`);
    mkdirSync(join(root, 'data'), { recursive: true });
    writeFileSync(join(root, 'data', 'conf'), `old h${i}\n`);
    roots.push(root);
    lines.push(`    h${i}: { ansible_connection: local, root: "${root}", runbook_lock_path: "${root}/.lock" }`);
  }
  writeFileSync(join(base, 'inv.yaml'), lines.join('\n') + '\n');
  writeFileSync(join(base, 'rb.yaml'), runbook);
  return { o: { runbook: join(base, 'rb.yaml'), inventory: join(base, 'inv.yaml'), stateDir: join(base, 'state'), stdout: new Capture(), stderr: new Capture() }, roots };
}

const events = (c: Capture): Event[] => c.text.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Event);
const conf = (root: string) => readFileSync(join(root, 'data', 'conf'), 'utf8');

const TWO_PLAYS = `apiVersion: runbook/v1
name: rollback-all
plays:
  - name: change every host
    hosts: all
    on_failure: rollback_all
    steps:
      - name: back up
        backup: { paths: ["{{ root }}/data"], to: "{{ root }}/backup/{{ run.id }}" }
      - name: write the new conf
        copy: { dest: "{{ root }}/data/conf", content: "new {{ inventory_hostname }}\\n" }
    rollback:
      - name: say so
        copy: { dest: "{{ root }}/rolled-back", content: "yes\\n" }
  - name: verify one host at a time
    hosts: all
    serial: 1
    on_failure: rollback_all
    steps:
      - name: the new conf works
        command: { argv: [sh, -c, 'test "$1" != h2', sh, "{{ inventory_hostname }}"], changed_when: false }
        verifies: true
`;

test('rollback_all: h2 fails in a serial play; h1 (done) and h3 (never reached) are rolled back too; the recap names h2 and why', async () => {
  const { o, roots } = setup(3, TWO_PLAYS);
  const r = await applyCmd({ ...o, json: true });
  assert.equal(r.exitCode, 6, o.stdout.text);
  const rows = Object.fromEntries(r.result!.recap.map((x) => [x.host, x]));
  assert.equal(rows.h2!.status, 'rolled-back');
  assert.equal(rows.h1!.status, 'aborted');
  assert.equal(rows.h3!.status, 'aborted');
  for (const h of ['h1', 'h3']) assert.match(rows[h]!.message ?? '', /^h2 failed at step "the new conf works": .*every host of the run is rolled back \(on_failure: rollback_all\); rolled back$/);
  roots.forEach((root, i) => {
    assert.equal(conf(root), `old h${i + 1}\n`, `h${i + 1} restored`);
    // the rollback steps of the plays each host took part in ran there too
    assert.equal(readFileSync(join(root, 'rolled-back'), 'utf8'), 'yes\n', `h${i + 1}'s rollback steps`);
  });
  // each host rolled back exactly once
  const starts = events(o.stdout).filter((e) => e.kind === 'rollback-start').map((e) => (e as { host: string }).host).sort();
  assert.deepEqual(starts, ['h1', 'h2', 'h3']);
  // nobody recovered: no time to recover
  assert.ok(r.result!.recap.every((x) => x.timeToRecoverMs === undefined));
});

test('rollback_all with no failure: every host finishes, each with its time to recover (first change to its verifying step)', async () => {
  const { o, roots } = setup(2, TWO_PLAYS.replace("'test \"$1\" != h2'", "'true'"));
  const r = await applyCmd({ ...o, json: true });
  assert.equal(r.exitCode, 0, o.stdout.text);
  roots.forEach((root, i) => assert.equal(conf(root), `new h${i + 1}\n`));
  const ends = events(o.stdout).filter((e) => e.kind === 'host-end') as { host: string; timeToRecoverMs?: number }[];
  for (const row of r.result!.recap) {
    assert.ok(typeof row.timeToRecoverMs === 'number' && row.timeToRecoverMs >= 0, JSON.stringify(row));
    assert.equal(ends.find((e) => e.host === row.host)?.timeToRecoverMs, row.timeToRecoverMs);
  }
  // a second run changes nothing: nothing to recover from, no time to recover
  const again = setup(1, TWO_PLAYS.replace("'test \"$1\" != h2'", "'true'"));
  writeFileSync(join(again.roots[0]!, 'data', 'conf'), 'new h1\n');
  const r2 = await applyCmd({ ...again.o, json: true });
  assert.equal(r2.exitCode, 0);
  assert.equal(r2.result!.recap[0]!.timeToRecoverMs, undefined);
});

test('order_by: the play runs (and batches) its hosts in the order of an expression over earlier facts, inventory order on ties', async () => {
  const rb = `apiVersion: runbook/v1
name: order
plays:
  - name: facts
    hosts: all
    steps:
      - name: priority
        set_fact: { prio: "{{ inventory_hostname == 'h3' ? 0 : inventory_hostname == 'h1' ? 2 : 1 }}" }
  - name: one at a time
    hosts: all
    serial: 1
    order_by: prio
    steps:
      - name: touch
        command: { argv: [touch, "{{ root }}/done"], creates: "{{ root }}/done" }
`;
  const { o } = setup(4, rb);
  const r = await applyCmd({ ...o, json: true });
  assert.equal(r.exitCode, 0, o.stdout.text);
  const batches = events(o.stdout).filter((e) => e.kind === 'batch-start').map((e) => (e as { hosts: string[] }).hosts);
  // play 1: one batch of all; play 2: h3 (0), h2 and h4 (1, inventory order), h1 (2)
  assert.deepEqual(batches, [['h1', 'h2', 'h3', 'h4'], ['h3'], ['h2'], ['h4'], ['h1']]);
  // plan shows the same order (set_fact runs in plan too)
  const p = setup(4, rb);
  await planCmd({ ...p.o, json: true });
  const planned = events(p.o.stdout).filter((e) => e.kind === 'batch-start').map((e) => (e as { hosts: string[] }).hosts);
  assert.deepEqual(planned.slice(1), [['h3'], ['h2'], ['h4'], ['h1']]);
});
