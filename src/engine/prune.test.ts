import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runIdTime, selectOld } from './prune.js';

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
