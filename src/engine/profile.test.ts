import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inHost, phase, profileReport, profileSink, startProfile, writeProfile } from './profile.js';
import type { Event } from './events.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

test('phases are exclusive per host, concurrent hosts keep their own clocks, and add up to the host wall time', async (t) => {
  startProfile();
  const dir = mkdtempSync(join(tmpdir(), 'profile-'));
  // profiling stops even when an assertion fails (the next test needs none running)
  t.after(() => {
    writeProfile(join(dir, 'after.json'));
    rmSync(dir, { recursive: true, force: true });
  });
  const seen: Event[] = [];
  const sink = profileSink({ emit: (e) => void seen.push(e) });
  sink.emit({ kind: 'run-start' } as Event);
  const host = (name: string, applyMs: number) =>
    inHost(name, async () => {
      sink.emit({ kind: 'host-start', host: name });
      await phase('connect', () => sleep(30));
      // a wait inside an apply counts as wait, not apply
      await phase('apply', async () => {
        await sleep(applyMs);
        await phase('wait', () => sleep(40));
      });
      phase('journal', () => undefined); // synchronous phases work too
      sink.emit({ kind: 'host-end', host: name } as Event);
    });
  await Promise.all([host('a', 20), host('b', 60)]);
  sink.emit({ kind: 'run-end' } as Event);
  assert.equal(seen.length, 6, 'the sink still sees every event');
  const r = profileReport()!;
  const [a, b] = ['a', 'b'].map((n) => r.hosts.find((h) => h.host === n)!);
  // lower bounds only: a loaded machine makes every sleep longer, never shorter. That the wait is
  // not also in the apply shows in the sum: phases counted twice would add up to more than the wall
  for (const [h, applyMs] of [[a!, 20], [b!, 60]] as const) {
    assert.ok(h.phases.connect >= 25, `${h.host} connect ${h.phases.connect}`);
    assert.ok(h.phases.wait >= 35, `${h.host} wait ${h.phases.wait}`);
    assert.ok(h.phases.apply >= applyMs - 5, `${h.host} apply ${h.phases.apply}`);
    const sum = Object.values(h.phases).reduce((x, y) => x + y, 0);
    // the phases follow each other with no timer between them: they cover the host's time
    assert.ok(sum <= h.wallMs + 1 && sum >= h.wallMs * 0.9, `${h.host}: phases ${sum} vs wall ${h.wallMs}`);
  }
  assert.ok(r.totals.hostWallMs >= a!.wallMs + b!.wallMs - 1);
  writeProfile(join(dir, 'p.json'));
  const written = JSON.parse(readFileSync(join(dir, 'p.json'), 'utf8'));
  assert.equal(written.kind, 'runbook-profile');
  assert.equal(written.hosts.length, 2);
});

test('without --profile, phase() runs the work and records nothing', async () => {
  assert.equal(profileReport(), undefined);
  assert.equal(await phase('apply', async () => 7), 7);
  assert.equal(phase('journal', () => 8), 8);
  assert.throws(() => phase('probe', () => { throw new Error('boom'); }), /boom/);
});
