/** The bounded terminal summary: 2,000 hosts fit any terminal, and events do not draw frames. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { Event, HostStatus } from '../engine/events.js';
import { FleetProgress, LiveSummary, fitLine } from './live.js';

const STEPS = ['directory', 'file a', 'file b', 'marker made by a command', 'sub directory', 'read a', 'a holds alpha', 'mode of a', 'file d', 'a exists'];

function runStart(hosts: number): Event {
  return {
    kind: 'run-start',
    runId: '20261130T190000Z-abcdef',
    mode: 'apply',
    dryRun: false,
    time: new Date().toISOString(),
    operator: 'op',
    pid: 1,
    runbook: { file: '/x.yaml', name: 'x', sha256: '0' },
    inventory: { hosts: Array.from({ length: hosts }, (_, i) => ({ name: `host-${String(i).padStart(4, '0')}`, address: '127.0.0.1' })) },
    extraVars: {},
    connection: {},
    steps: STEPS.map((name, i) => ({ id: `s${i}`, name, type: 'command' })),
  } as unknown as Event;
}

/** A whole run's events: every host starts, connects, runs some steps; some fail or are unreachable. */
function* fleet(hosts: number): Generator<Event> {
  yield runStart(hosts);
  for (let h = 0; h < hosts; h++) {
    const host = `host-${String(h).padStart(4, '0')}`;
    yield { kind: 'host-start', host };
    if (h % 97 === 5) {
      yield { kind: 'host-unreachable', host, errorKind: 'connect', message: 'connect ECONNREFUSED 127.0.0.1:22\nsecond line' };
      yield { kind: 'host-end', host, status: 'unreachable', counts: { ok: 0, changed: 0, failed: 0, skipped: 0, unknown: 0 }, durationMs: 1 };
      continue;
    }
    yield { kind: 'host-connected', host, ms: 5 };
    for (let s = 1; s <= (h % 10) + 1; s++) yield { kind: 'step-start', host, step: `s${s - 1}`, name: STEPS[s - 1]!, index: s, total: STEPS.length } as Event;
    if (h < hosts / 2) continue; // still running
    const status: HostStatus = h % 31 === 0 ? 'failed' : 'ok';
    yield { kind: 'host-end', host, status, counts: { ok: 9, changed: h % 3, failed: status === 'failed' ? 1 : 0, skipped: 0, unknown: 0 }, durationMs: 10, ...(status === 'failed' ? { message: `step "file b": permission denied on ${'x'.repeat(200)}` } : {}) };
  }
}

test('2,000 hosts draw in fewer lines than the terminal has, none wider than it', () => {
  for (const size of [
    { columns: 80, rows: 24 },
    { columns: 200, rows: 60 },
    { columns: 40, rows: 6 },
    { columns: 20, rows: 2 },
  ]) {
    const p = new FleetProgress();
    for (const e of fleet(2000)) p.update(e);
    const lines = p.lines(size);
    assert.ok(lines.length >= 1 && lines.length <= size.rows - 1, `${lines.length} lines for ${size.rows} rows`);
    for (const l of lines) assert.ok(l.length <= size.columns - 1, `"${l}" wider than ${size.columns - 1}`);
    if (size.rows === 24) assert.ok(lines.some((l) => /^failed or unreachable \(\d+, newest \d+ shown; all in the recap\):/.test(l)), 'says that more failed than shown');
    if (size.columns >= 200) {
      const finished = 1000 + [...Array(1000).keys()].filter((h) => h % 97 === 5).length;
      assert.match(lines[0]!, new RegExp(`^apply: ${finished}/2000 hosts done \\(${Math.floor(finished / 20)} %\\)`));
      // 1,000 still running; unreachable hosts (h % 97 === 5) ended; failed: h % 31 === 0 among the finished half
      const unreachable = [...Array(2000).keys()].filter((h) => h % 97 === 5).length;
      const running = [...Array(1000).keys()].filter((h) => h % 97 !== 5).length;
      const failed = [...Array(2000).keys()].filter((h) => h >= 1000 && h % 97 !== 5 && h % 31 === 0).length;
      assert.match(lines[1]!, new RegExp(`failed ${failed} · unreachable ${unreachable} · running ${running} · connecting 0 · waiting 0`));
      assert.match(lines[2]!, /^now: /);
      assert.ok(lines.some((l) => l === `failed or unreachable (${failed + unreachable}):`));
      assert.ok(!lines.some((l) => l.includes('second line')), 'only the first line of a message');
    }
  }
});

test('a line keeps no control characters (a host message cannot move the cursor)', () => {
  assert.equal(fitLine('a\x1b[2Jb\r\nc', 80), 'a [2Jb c');
  assert.equal(fitLine('abcdef', 5), 'abc…');
});

test('frames are throttled: 2,000 hosts\' events draw at most one frame per interval, and the last state is drawn once events stop', async () => {
  const chunks: string[] = [];
  const out = Object.assign(new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c.toString()), cb()) }), { columns: 100, rows: 30 });
  const live = new LiveSummary(out, { intervalMs: 50 });
  let events = 0;
  const t0 = Date.now();
  for (const e of fleet(2000)) {
    live.emit(e);
    events++;
  }
  const elapsed = Date.now() - t0;
  assert.ok(events > 10_000);
  assert.ok(live.frames <= 2 + elapsed / 50, `${live.frames} frames for ${events} events in ${elapsed} ms`);
  const before = live.frames;
  await new Promise((r) => setTimeout(r, 150));
  assert.ok(live.frames <= before + 1, 'the timer draws a dirty frame once, then nothing');
  live.stop();
  assert.ok(live.frames <= before + 1);
  assert.match(chunks.at(-1)!, /apply: \d+\/2000 hosts done/);
  // every frame after the first erases exactly the previous one
  for (let i = 1; i < chunks.length; i++) {
    const previous = chunks[i - 1]!.split('\n').length - 1;
    assert.ok(chunks[i]!.startsWith(`\x1b[${previous}F\x1b[J`), `frame ${i} erases ${previous} lines`);
    assert.ok(previous <= 29);
  }
});

test('hosts that fit the terminal get a line each, in inventory order; when it shrinks, the summary', () => {
  const p = new FleetProgress({ perHost: true });
  p.update(runStart(30));
  p.update({ kind: 'host-start', host: 'host-0000' });
  p.update({ kind: 'step-start', host: 'host-0000', step: 's2', name: 'file b', index: 3, total: 10 } as Event);
  p.update({ kind: 'host-start', host: 'host-0001' });
  p.update({ kind: 'host-end', host: 'host-0001', status: 'failed', counts: { ok: 2, changed: 1, failed: 1, skipped: 0, unknown: 0 }, durationMs: 5, message: 'step "file b": permission denied\nmore' });
  p.update({ kind: 'host-start', host: 'host-0002' });
  p.update({ kind: 'host-unreachable', host: 'host-0002', errorKind: 'connect', message: 'connect ECONNREFUSED' });
  p.update({ kind: 'host-end', host: 'host-0002', status: 'unreachable', counts: { ok: 0, changed: 0, failed: 0, skipped: 0, unknown: 0 }, durationMs: 5 });
  p.update({ kind: 'host-start', host: 'host-0003' });
  p.update({ kind: 'host-end', host: 'host-0003', status: 'ok', counts: { ok: 9, changed: 0, failed: 0, skipped: 1, unknown: 0 }, durationMs: 5 });
  const lines = p.lines({ columns: 120, rows: 40 });
  assert.equal(lines.length, 31);
  assert.match(lines[0]!, /^apply: 3\/30 hosts done/);
  assert.deepEqual(lines.slice(1, 6), [
    '… host-0000: 3/10 file b',
    '✖ host-0001: failed — ok=2 changed=1 failed=1 skipped=0 — step "file b": permission denied',
    '✖ host-0002: unreachable — connect ECONNREFUSED',
    '✔ host-0003: ok=9 changed=0 failed=0 skipped=1',
    '  host-0004: waiting',
  ]);
  const small = p.lines({ columns: 120, rows: 20 });
  assert.ok(small.length <= 19);
  assert.match(small[1]!, /^ok 1 · changed 0 · failed 1 · unreachable 1 · running 1 · connecting 0 · waiting 26$/);
});
