import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actionTypes, getAction } from '../actions/registry.js';
import { isUserError } from '../errors.js';
import { classifyChange, irreversibleInPlan, isReadOnlyStep } from './safety.js';
import { actionFor } from './step-support.js';

test('read-only has one source, the action: every step type agrees with its action; fetch changes no host', () => {
  for (const type of actionTypes) assert.equal(isReadOnlyStep({ type, params: {} }), getAction(type)!.readOnly, type);
  assert.deepEqual(actionTypes.filter((type) => getAction(type)!.readOnly).sort(), ['assert', 'fetch', 'set_fact', 'wait_for', 'x509']);
  // a read-only step's "change" (fetch's local file) is nothing rollback has to put back
  assert.equal(classifyChange({ type: 'fetch', stepName: 'get', withheld: false, backedUp: undefined }), undefined);
  assert.equal(classifyChange({ type: 'command', stepName: 'run', withheld: false, backedUp: undefined })?.cls, 'irreversible');
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

test('a command is covered only by backups holding every path it declares it writes; undeclared, no backup stands for it', () => {
  const cmd = { type: 'command', stepName: 'Raise maxPods', withheld: false, backedUp: ['/etc/kubernetes/admin.conf'] };
  // the audit's case: a backup of admin.conf, then a command changing the kubelet's config
  assert.deepEqual(classifyChange(cmd), { cls: 'irreversible', notRestored: ['what step "Raise maxPods" (command) changed'] });
  assert.deepEqual(classifyChange({ ...cmd, writes: ['/var/lib/kubelet/config.yaml'] }), { cls: 'irreversible', notRestored: ['/var/lib/kubelet/config.yaml'] });
  assert.deepEqual(classifyChange({ ...cmd, backedUp: ['/etc/kubernetes', '/var/lib/kubelet'], writes: ['/etc/kubernetes/pki', '/var/lib/kubelet/config.yaml'] }), { cls: 'covered', notRestored: [] });
  // only what is not covered is listed
  assert.deepEqual(classifyChange({ ...cmd, backedUp: ['/etc/kubernetes/pki'], writes: ['/etc/kubernetes/pki', '/etc/kubernetes/admin.conf'] })?.notRestored, ['/etc/kubernetes/admin.conf']);
  // `writes: []` (or changed_when: false): it changes no file, nothing to put back
  assert.deepEqual(classifyChange({ ...cmd, type: 'shell', backedUp: [], writes: [] }), { cls: 'covered', notRestored: [] });
  // a restore's units (its probe's writes) under this run's backup
  assert.equal(classifyChange({ ...cmd, type: 'restore', backedUp: ['/etc/kubernetes'], writes: ['/etc/kubernetes'] })?.cls, 'covered');
  assert.equal(classifyChange({ ...cmd, type: 'restore', backedUp: ['/etc/kubernetes'] })?.cls, 'irreversible');
});

test('plan: a changing command is irreversible unless a planned backup holds every path it writes', () => {
  const p = { type: 'command', changes: true, hasUndo: false, writes: undefined, plannedRoots: ['/etc/kubernetes'], backupsBefore: 1 };
  assert.deepEqual(irreversibleInPlan(p), [], 'undeclared: what it changes is unknown, whatever the backups');
  assert.deepEqual(irreversibleInPlan({ ...p, writes: ['/etc/kubernetes/pki', '/var/lib/kubelet/config.yaml'] }), ['/var/lib/kubelet/config.yaml']);
  assert.equal(irreversibleInPlan({ ...p, writes: ['/etc/kubernetes/pki'] }), undefined);
  assert.equal(irreversibleInPlan({ ...p, changes: false }), undefined);
  assert.equal(irreversibleInPlan({ ...p, type: 'copy', hasUndo: true }), undefined);
  // a step type without `writes:` whose paths the plan does not know (a restore before its backup exists): a backup before it stands for it
  assert.equal(irreversibleInPlan({ ...p, type: 'restore' }), undefined);
  assert.deepEqual(irreversibleInPlan({ ...p, type: 'restore', backupsBefore: 0 }), []);
});
