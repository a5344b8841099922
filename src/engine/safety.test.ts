import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actionTypes, getAction } from '../actions/registry.js';
import { isUserError } from '../errors.js';
import { classifyChange, isReadOnlyStep } from './safety.js';
import { actionFor } from './step-support.js';

test('read-only has one source, the action: every step type agrees with its action; fetch changes no host', () => {
  for (const type of actionTypes) assert.equal(isReadOnlyStep({ type, params: {} }), getAction(type)!.readOnly, type);
  assert.deepEqual(actionTypes.filter((type) => getAction(type)!.readOnly).sort(), ['assert', 'fetch', 'set_fact', 'wait_for', 'x509']);
  // a read-only step's "change" (fetch's local file) is nothing rollback has to put back
  assert.equal(classifyChange({ type: 'fetch', stepName: 'get', withheld: false, backedUp: undefined, backupsTaken: 0 }), undefined);
  assert.equal(classifyChange({ type: 'command', stepName: 'run', withheld: false, backedUp: undefined, backupsTaken: 0 })?.cls, 'irreversible');
});

test('read-only: a command or shell that declares read_only is read-only; without it, not', () => {
  for (const type of ['command', 'shell'] as const) {
    assert.equal(isReadOnlyStep({ type, params: { cmd: 'cat /etc/hostname', read_only: true } }), true, type);
    assert.equal(isReadOnlyStep({ type, params: { cmd: 'cat /etc/hostname' } }), false, type);
  }
  assert.equal(isReadOnlyStep({ type: 'copy', params: { read_only: true } }), false);
});

test('actionFor: the registry\'s action; an unknown type is an internal error, not a swallowed import failure', () => {
  assert.equal(actionFor('copy'), getAction('copy'));
  assert.throws(() => actionFor('no_such_type'), (e: unknown) => isUserError(e) && e.kind === 'internal' && /no_such_type/.test(e.diagnostic.message));
});
