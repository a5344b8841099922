/** The terminal view past the listr2 tree: a line per host, or the summary, and what is shown after the progress. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { Event, HostStatus } from '../engine/events.js';
import { ListrReporter } from './listr.js';

const counts = { ok: 2, changed: 1, failed: 0, skipped: 0, unknown: 0 };
const row = (host: string, status: HostStatus) => ({ host, status, ...counts, unreachable: 0 });

function run(hosts: number, mode: 'apply' | 'plan'): Event[] {
  const names = Array.from({ length: hosts }, (_, i) => `host-${String(i).padStart(2, '0')}`);
  return [
    { kind: 'run-start', runId: '20261130T190000Z-abcdef', mode, dryRun: mode === 'plan', time: new Date().toISOString(), operator: 'op', pid: 1, runbook: { file: '/x.yaml', name: 'x', sha256: '0' }, inventory: { hosts: names.map((name) => ({ name, address: '127.0.0.1', port: 22 })) }, extraVars: {}, connection: {}, steps: [{ id: 's0', name: 'one', type: 'command' }] },
    ...names.flatMap((host, i): Event[] => [
      { kind: 'host-start', host },
      { kind: 'step-start', host, step: 's0', name: 'one', index: 1, total: 1 },
      ...(i === 1 ? [{ kind: 'host-unreachable', host, errorKind: 'connect', message: 'connect ECONNREFUSED' } as Event] : []),
      { kind: 'host-end', host, status: i === 1 ? 'unreachable' : i === 2 ? 'failed' : 'ok', counts, durationMs: 1, ...(i === 2 ? { message: 'step "one" failed' } : {}) },
    ]),
    { kind: 'run-end', runId: '20261130T190000Z-abcdef', mode, time: new Date().toISOString(), durationMs: 5, exitCode: 2, changesPending: false, recap: names.map((h, i) => row(h, i === 1 ? 'unreachable' : i === 2 ? 'failed' : 'ok')) },
  ] as Event[];
}

async function shown(hosts: number, rows: number, mode: 'apply' | 'plan' = 'apply'): Promise<string> {
  const chunks: string[] = [];
  const out = Object.assign(new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c.toString()), cb()) }), { columns: 200, rows });
  const r = new ListrReporter(out);
  for (const e of run(hosts, mode)) r.emit(e);
  await r.close();
  return chunks.join('');
}

test('more hosts than a step tree fits: a line per host while they fit, else the summary; failures and the recap after the progress', async () => {
  const perHost = await shown(30, 60);
  assert.match(perHost, /✔ host-00: ok=2 changed=1 failed=0 skipped=0/);
  assert.match(perHost, /✖ host-02: failed — ok=2 changed=1 failed=0 skipped=0 — step "one" failed/);
  assert.match(perHost, /✖ host-01: unreachable — connect ECONNREFUSED/);
  const summary = await shown(30, 20);
  assert.doesNotMatch(summary, /✔ host-00/);
  assert.match(summary, /apply: 30\/30 hosts done \(100 %\)/);
  assert.match(summary, /ok 0 · changed 28 · failed 1 · unreachable 1/);
  for (const text of [perHost, summary]) {
    const after = text.slice(text.lastIndexOf('hosts done'));
    assert.match(after, /\[host-02\]\s+failed\s+ok=2 .* — step "one" failed\napply finished with exit code 2/, 'a host that did not end ok, then the run\'s end, after the progress');
    assert.match(after, /\nhost-29\s+ok\s+2\s+1/, 'the recap');
  }
  // plan: the counts say what would change
  assert.match(await shown(30, 60, 'plan'), /✔ host-00: ok=2 change=1 failed=0/);
});
