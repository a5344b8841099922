/**
 * `runbook show ID --html`: a real run on sshd hosts (one host fails and is rolled back, then the
 * whole run is rolled back by id) drawn as a timeline page, opened in the real Chromium: one chart
 * per journal section, failures and rollbacks present, the secret nowhere in the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/lab/sim/paths.js';
import { runProcess } from './support/run.js';
import { dir, stateDir, useLab } from './support/lab.js';
import { renderedDom, screenshot } from './support/browser.js';
import type { Timeline } from '../src/report/timeline/model.js';

const CLI = join(packageRoot, 'dist/src/cli/main.js');
const SECRET = 'tl-Secret-7f3a9c';

const run = (cmd: string, args: string[], timeout = 120_000) => runProcess(cmd, args, { cwd: dir, timeout });
const cli = (args: string[]) => run(process.execPath, [CLI, ...args]);

const RUNBOOK = `apiVersion: runbook/v1
name: timeline
hosts: all
serial: 1
on_failure: rollback
vars:
  token: ${SECRET}
secrets: [token]
steps:
  - name: Back up
    backup: { paths: [/etc/kubernetes], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Write config
    copy: { dest: /etc/kubernetes/tl.conf, content: "token={{ token }}\\n" }
  - name: Wait for the file
    wait_for: { path: /etc/kubernetes/tl.conf, retries: 3, delay: 100ms }
  - name: Fails on the second host, with the secret as an argument
    command: { argv: [sh, -c, 'test "$1" != tl-02', sh, "{{ inventory_hostname }}", "{{ token }}"], changed_when: false }
`;

const skip = useLab({
  start: { count: 2, firstAddress: '127.1.238.1', namePrefix: 'tl' },
  tmp: 'runbook-timeline-',
  runbook: { file: 'timeline.yaml', text: RUNBOOK },
});

async function render(id: string, state: string, file: string): Promise<{ tl: Timeline; dom: string; html: string }> {
  const show = await cli(['show', id, '--state-dir', state, '--html', file]);
  assert.equal(show.code, 0, show.out);
  const html = readFileSync(file, 'utf8');
  const tl = JSON.parse(/<script type="application\/json" id="timeline-data">([^]*?)<\/script>/.exec(html)![1]!) as Timeline;
  const dom = await renderedDom(file, dir);
  return { tl, dom: dom.out, html };
}

test('show --html: a run with a failure and rollbacks as a timeline the browser draws; no secret in it', { skip, timeout: 240_000 }, async () => {
  const applied = await cli(['apply', 'timeline.yaml', '-i', 'inventory.yaml', '--state-dir', stateDir]);
  assert.equal(applied.code, 6, applied.out); // tl-02 failed and was rolled back
  const id = /run (\d{8}T\d{6}Z-[0-9a-f]{6})/.exec(applied.out)![1]!;

  const first = await render(id, stateDir, join(dir, 'run.html'));
  assert.equal(first.tl.sections.length, 1);
  const s = first.tl.sections[0]!;
  assert.deepEqual(s.hosts, ['tl-01', 'tl-02']);
  assert.deepEqual(s.status, { 'tl-01': 'ok', 'tl-02': 'rolled-back' });
  const kinds = (h: string) => s.spans.filter((x) => x.host === h).map((x) => x.kind);
  assert.deepEqual(kinds('tl-01'), ['connect', 'changed', 'changed', 'wait', 'ok']);
  assert.deepEqual(kinds('tl-02').slice(0, 5), ['connect', 'changed', 'changed', 'wait', 'failed']);
  assert.ok(kinds('tl-02').includes('restore') && kinds('tl-02').includes('rollback'), kinds('tl-02').join());
  assert.deepEqual(s.batches.map((b) => b.label), ['batch 1/2', 'batch 2/2']);
  // serial 1: the second host starts after the first one ends
  const endOf1 = Math.max(...s.spans.filter((x) => x.host === 'tl-01').map((x) => x.end));
  assert.ok(Math.min(...s.spans.filter((x) => x.host === 'tl-02').map((x) => x.start)) >= endOf1 - 5);
  for (const x of s.spans) assert.ok(x.end >= x.start && x.start >= 0, JSON.stringify(x));
  const failedCommands = s.spans.find((x) => x.kind === 'failed')!.commands;
  assert.ok(failedCommands.some((c) => c.includes('test "$1" != tl-02') && c.endsWith(' tl-02 ***')), failedCommands.join('\n'));
  assert.match(first.dom, /<html lang="en" data-rendered="1">/, first.dom.slice(0, 1500));
  assert.doesNotMatch(first.dom, /data-error=/);
  assert.ok(!first.html.includes(SECRET), 'the secret is in the page');

  // rollback by id appends a section to the same journal
  const rb = await cli(['rollback', id, '--state-dir', stateDir]);
  assert.equal(rb.code, 0, rb.out);
  const second = await render(id, stateDir, join(dir, 'run2.html'));
  assert.deepEqual(second.tl.sections.map((x) => x.mode), ['apply', 'rollback']);
  // what an operator sees (README's docs/img/run-timeline.png is one)
  const shot = await screenshot(join(dir, 'run2.html'), dir, 'run-timeline.png', { width: 1400, height: 700 });
  assert.deepEqual([shot.width, shot.height], [1400, 700], shot.out);
  assert.ok(shot.bytes > 10_000, `a drawn page, not a blank one: ${shot.bytes} bytes`);
  assert.ok(second.tl.sections[1]!.spans.some((x) => x.host === 'tl-01' && x.kind === 'restore'));
  assert.match(second.dom, /<html lang="en" data-rendered="2">/);
  assert.ok(!second.html.includes(SECRET));
});
