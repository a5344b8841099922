import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runIdTime, selectOld, selectPrunable, type PrunePolicy } from './prune.js';
import { indexRunHosts, type HostSettlement, type RunOutcome } from './run-outcome.js';

test('prune: only directories named like a run id, older than the age by the time in the id', () => {
  const now = Date.UTC(2026, 10, 30, 12, 0, 0);
  assert.equal(runIdTime('20261122T191500Z-ab12cd'), Date.UTC(2026, 10, 22, 19, 15, 0));
  assert.ok(Number.isNaN(runIdTime('backup-2026')));
  const day = 86_400_000;
  const got = selectOld(
    'cp-1',
    [
      { root: '/var/lib/runbook/kept', kind: 'kept', names: ['20261001T000000Z-aaaaaa', '20261129T000000Z-bbbbbb', 'notes'] },
      { root: '/var/backups/runbook', kind: 'backup', names: ['20261030T120000Z-cccccc', '20261030T120001Z-dddddd', '20261001T000000Z-AAAAAA', 'manual-2020'] },
    ],
    30 * day,
    now,
  );
  assert.deepEqual(
    got.map((c) => [c.path, c.kind, c.ageDays]),
    [
      ['/var/backups/runbook/20261030T120000Z-cccccc', 'backup', 31],
      ['/var/backups/runbook/20261030T120001Z-dddddd', 'backup', 30],
      ['/var/lib/runbook/kept/20261001T000000Z-aaaaaa', 'kept', 60],
    ],
  );
  // exactly the age: not older
  assert.equal(selectOld('h', [{ root: '/r', kind: 'backup', names: ['20261031T120000Z-eeeeee'] }], 30 * day, now).length, 0);
});

const day = 86_400_000;
const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);
const CP1 = { name: 'cp-1', address: '10.0.0.1', port: 22 };
const good = (how = 'completed'): HostSettlement => ({ settled: true, good: true, how });
const failed: HostSettlement = { settled: false, why: 'run R failed on it' };
const run = (id: string, s: HostSettlement): RunOutcome => ({ id, started: runIdTime(id), hosts: [CP1], of: new Map([['cp-1', s]]) });
const policy = (runs: RunOutcome[], o: Partial<PrunePolicy> = {}): PrunePolicy => ({ runs: new Map(runs.map((r) => [r.id, r])), hosts: indexRunHosts(runs), keepLast: 1, includeUnknown: false, ...o });
const A = '20260901T000000Z-aaaaaa'; // 90 days old
const B = '20260915T000000Z-bbbbbb';
const C = '20261001T000000Z-cccccc';
const D = '20261129T000000Z-dddddd'; // 1 day old
const listed = (...ids: string[]) => [
  { root: '/var/lib/runbook/kept', kind: 'kept' as const, names: ids },
  { root: '/var/backups/runbook', kind: 'backup' as const, names: ids },
];
const paths = (r: { candidates: { path: string }[] }) => r.candidates.map((c) => c.path);
const reasons = (r: { held: { path: string; reason: string }[] }) => Object.fromEntries(r.held.map((h) => [h.path, h.reason]));

test('prune: never what a failed or interrupted run may be restored or resumed from; the newest completed run stays', () => {
  // A and B completed, C failed, D (recent, not a candidate) completed and is the latest: C is held for itself
  const runs = [run(A, good()), run(B, good()), run(C, failed), run(D, good())];
  const r = selectPrunable(CP1, listed(A, B, C, D), 30 * day, NOW, policy(runs));
  assert.deepEqual(paths(r), [`/var/backups/runbook/${A}`, `/var/backups/runbook/${B}`, `/var/lib/runbook/kept/${A}`, `/var/lib/runbook/kept/${B}`]);
  assert.deepEqual(reasons(r), { [`/var/backups/runbook/${C}`]: 'run R failed on it', [`/var/lib/runbook/kept/${C}`]: 'run R failed on it' });
  // without the recent D, B is the newest completed run: kept (its backup is the last known-good state)
  const r2 = selectPrunable(CP1, listed(A, B, C), 30 * day, NOW, policy([run(A, good()), run(B, good()), run(C, good('rolled back'))]));
  assert.deepEqual(paths(r2), [`/var/backups/runbook/${A}`, `/var/backups/runbook/${B}`, `/var/lib/runbook/kept/${A}`, `/var/lib/runbook/kept/${B}`]);
  assert.match(reasons(r2)[`/var/backups/runbook/${C}`]!, /run 20261001T000000Z-cccccc is the newest run that ended rolled back on cp-1 \(--keep-last 1\)/);
  const r3 = selectPrunable(CP1, listed(A, B), 30 * day, NOW, policy([run(A, good()), run(B, good())], { keepLast: 2 }));
  assert.deepEqual(paths(r3), []);
  assert.match(reasons(r3)[`/var/lib/runbook/kept/${A}`]!, /among the 2 newest runs that completed on cp-1/);
  // --keep-last 0: every settled run's directories may go
  assert.equal(selectPrunable(CP1, listed(A, B), 30 * day, NOW, policy([run(A, good()), run(B, good())], { keepLast: 0 })).candidates.length, 4);
});

test('prune: a host whose latest run is not settled keeps everything; an unknown run is kept unless --include-unknown', () => {
  const interrupted: HostSettlement = { settled: false, why: 'run D was interrupted' };
  // D (no directory on the host: it failed before its backup) is the latest run on cp-1
  const r = selectPrunable(CP1, listed(A, B), 30 * day, NOW, policy([run(A, good()), run(B, good()), run(D, interrupted)], { keepLast: 0 }));
  assert.deepEqual(paths(r), []);
  assert.match(reasons(r)[`/var/backups/runbook/${A}`]!, /^the latest run on cp-1, 20261129T000000Z-dddddd, is not settled \(run D was interrupted\): everything on the host is kept/);
  // no journal of A here; B's journal names other hosts only
  const other: RunOutcome = { id: B, started: runIdTime(B), hosts: [{ name: 'w-1', address: '10.0.0.9', port: 22 }], of: new Map([['w-1', good()]]) };
  const u = selectPrunable(CP1, listed(A, B), 30 * day, NOW, policy([other], { keepLast: 0 }));
  assert.deepEqual(paths(u), []);
  assert.match(reasons(u)[`/var/backups/runbook/${A}`]!, /^no journal of run 20260901T000000Z-aaaaaa here: whether cp-1 still needs it is unknown \(--include-unknown prunes it\)/);
  assert.match(reasons(u)[`/var/backups/runbook/${B}`]!, /journal does not name cp-1/);
  assert.equal(selectPrunable(CP1, listed(A, B), 30 * day, NOW, policy([other], { keepLast: 0, includeUnknown: true })).candidates.length, 4);
  // the host is found in a journal by address when the inventory names it otherwise
  const byAddress = selectPrunable({ name: '10.0.0.1', address: '10.0.0.1', port: 22 }, listed(A), 30 * day, NOW, policy([run(A, failed)], { keepLast: 0 }));
  assert.deepEqual(paths(byAddress), []);
  assert.equal(reasons(byAddress)[`/var/backups/runbook/${A}`], 'run R failed on it');
});

test('prune: several hosts over several runs, each judged by its own part in each run (a host in no run, one in several, one by address)', () => {
  const E = '20260920T000000Z-eeeeee';
  const W1 = { name: 'w-1', address: '10.0.0.9', port: 22 };
  const CP2 = { name: 'cp-2', address: '10.0.0.2', port: 22 };
  const LONE = { name: 'lone', address: '10.0.0.7', port: 22 };
  const multi = (id: string, hs: [{ name: string; address: string; port: number }, HostSettlement][]): RunOutcome => ({ id, started: runIdTime(id), hosts: hs.map(([h]) => h), of: new Map(hs.map(([h, s]) => [h.name, s])) });
  // cp-1 is in A, B, C and D; w-1 in A and E; cp-2 only in B, where its journal names it by address; lone in none
  const runs = [
    multi(A, [[CP1, good()], [W1, good()]]),
    multi(B, [[CP1, good()], [{ name: '10.0.0.2', address: '10.0.0.2', port: 22 }, failed]]),
    multi(E, [[W1, good('rolled back')]]),
    multi(C, [[CP1, good()]]),
    multi(D, [[CP1, { settled: false, why: 'run D was interrupted' }]]),
  ];
  const p = policy(runs, { keepLast: 1 });
  const judge = (h: { name: string; address: string; port: number }) => {
    const r = selectPrunable(h, listed(A, B, C, E), 30 * day, NOW, p);
    return { prune: paths(r), held: reasons(r) };
  };
  const cp1 = judge(CP1);
  assert.deepEqual(cp1.prune, []);
  assert.deepEqual(Object.keys(cp1.held).sort(), [A, B, C, E].flatMap((id) => [`/var/backups/runbook/${id}`, `/var/lib/runbook/kept/${id}`]).sort());
  assert.match(cp1.held[`/var/backups/runbook/${A}`]!, /^the latest run on cp-1, 20261129T000000Z-dddddd, is not settled/);
  assert.match(cp1.held[`/var/backups/runbook/${E}`]!, /^run 20260920T000000Z-eeeeee's journal does not name cp-1/);
  const w1 = judge(W1);
  assert.deepEqual(w1.prune, [`/var/backups/runbook/${A}`, `/var/lib/runbook/kept/${A}`]);
  assert.match(w1.held[`/var/backups/runbook/${E}`]!, /^run 20260920T000000Z-eeeeee is the newest run that ended rolled back on w-1/);
  assert.match(w1.held[`/var/backups/runbook/${B}`]!, /journal does not name w-1/);
  assert.match(w1.held[`/var/backups/runbook/${C}`]!, /journal does not name w-1/);
  const cp2 = judge(CP2);
  assert.deepEqual(cp2.prune, []);
  assert.equal(cp2.held[`/var/backups/runbook/${B}`], 'run R failed on it');
  assert.equal(cp2.held[`/var/lib/runbook/kept/${B}`], 'run R failed on it');
  assert.match(cp2.held[`/var/backups/runbook/${A}`]!, /journal does not name cp-2/);
  const lone = judge(LONE);
  assert.deepEqual(lone.prune, []);
  assert.equal(Object.keys(lone.held).length, 8);
  assert.ok(Object.values(lone.held).every((why) => /journal does not name lone/.test(why)));
  // with --include-unknown, the host in no run loses everything old; the others only gain the runs that do not name them
  const all = policy(runs, { keepLast: 1, includeUnknown: true });
  assert.equal(selectPrunable(LONE, listed(A, B, C, E), 30 * day, NOW, all).candidates.length, 8);
  assert.deepEqual(paths(selectPrunable(W1, listed(A, B, C, E), 30 * day, NOW, all)), [A, B, C].flatMap((id) => [`/var/backups/runbook/${id}`]).concat([A, B, C].map((id) => `/var/lib/runbook/kept/${id}`)));
});
