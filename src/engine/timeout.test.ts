/**
 * A step that times out must not lose what it did: when it settles while being cancelled (in the
 * grace period), the timeout error carries its undo record, or says it changed nothing; and a
 * change with no record is classified against the paths the step acts on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withTimeout } from './timeout.js';
import { changedNothing, failedAfterChange, failedUnchanged, partialUndoOf } from '../actions/partial.js';
import { classifyChange } from './safety.js';

const later = <T>(ms: number, v: T) => new Promise<T>((r) => setTimeout(() => r(v), ms));

test('an apply that finishes while the timeout cancels it: the timeout error carries its undo record', async () => {
  const undo = { dest: '/etc/x', existed: false, wrote: true };
  let cancelled = false;
  // timeout 20 ms (grace 520 ms); the apply finishes only once cancel() ran
  let finish!: (v: { changed: boolean; commands: string[]; undo: typeof undo }) => void;
  const apply = new Promise<{ changed: boolean; commands: string[]; undo: typeof undo }>((r) => (finish = r));
  const e = await withTimeout(apply, 20, 'step "w"', 'h1', async () => {
    cancelled = true;
    finish({ changed: true, commands: [], undo });
  }).catch((x: unknown) => x);
  assert.ok(cancelled);
  assert.match((e as Error).message, /timed out after 20 ms/);
  assert.deepEqual(partialUndoOf(e), undo, 'the change it made is not forgotten');
});

test('an apply that fails after changing, while cancelled: its record is carried; one that changed nothing says so', async () => {
  const undo = { path: '/etc/y' };
  const failing = new Promise((_, rej) => setTimeout(() => rej(failedAfterChange(new Error('chown: killed'), undo)), 600));
  const e = await withTimeout(failing, 20, 'step "f"', 'h1', async () => undefined).catch((x: unknown) => x);
  assert.deepEqual(partialUndoOf(e), undo);
  const quiet = new Promise((_, rej) => setTimeout(() => rej(failedUnchanged(new Error('not started'))), 600));
  const q = await withTimeout(quiet, 20, 'step "q"', 'h1', async () => undefined).catch((x: unknown) => x);
  assert.equal(changedNothing(q), true);
  assert.equal(partialUndoOf(q), undefined);
  const nothing = await withTimeout(later(600, { changed: false, commands: [] }), 20, 'step "n"', 'h1', async () => undefined).catch((x: unknown) => x);
  assert.equal(changedNothing(nothing), true);
});

test('an apply that never settles: the timeout error claims nothing (the engine takes it as changed)', async () => {
  const never = new Promise(() => undefined);
  const t0 = Date.now();
  const e = await withTimeout(never, 10, 'step "n"', 'h1', async () => undefined).catch((x: unknown) => x);
  assert.ok(Date.now() - t0 >= 5_000, 'it waited for the step to settle');
  assert.equal(changedNothing(e), false);
  assert.equal(partialUndoOf(e), undefined);
});

test('a failed step with no record: not restored unless a backup covers the paths it acts on', () => {
  const base = { type: 'copy', stepName: 'w', withheld: false };
  assert.deepEqual(classifyChange({ ...base, backedUp: ['/etc/kubernetes'], touched: ['/etc/kubernetes/a.conf'] }), { cls: 'covered', notRestored: [] });
  assert.deepEqual(classifyChange({ ...base, backedUp: ['/etc/kubernetes/pki'], touched: ['/etc/kubernetes/a.conf'] }), { cls: 'irreversible', notRestored: ['/etc/kubernetes/a.conf'] });
  assert.deepEqual(classifyChange({ ...base, backedUp: [], touched: ['/etc/x'] }), { cls: 'irreversible', notRestored: ['/etc/x'] });
  // with the record it left: reversible
  assert.equal(classifyChange({ ...base, backedUp: [], undo: { dest: '/etc/x', existed: false } })?.cls, 'reversible');
});
