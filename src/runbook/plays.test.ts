import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRunbookText } from './load.js';
import { playView, rollbackView, playOfStepId } from '../engine/play-view.js';

const TEXT = `apiVersion: runbook/v1
name: two-plays
become: true
timeout: 1m
vars: { a: 1 }
plays:
  - name: First
    hosts: control_plane
    serial: 1
    vars: { b: "{{ a + 1 }}" }
    steps:
      - name: One
        assert: { that: "b == 2" }
      - name: Two
        command: { argv: [id], read_only: true }
        become: false
    rollback:
      - name: Undo first
        assert: { that: "true" }
  - name: Second
    hosts: workers
    become: false
    steps:
      - name: Three
        assert: { that: "a == 1" }
        notify: H
    handlers:
      - name: H
        assert: { that: "true" }
    rollback:
      - name: Undo second
        assert: { that: "true" }
`;

test('plays: ids, settings and the play views the engine runs', () => {
  const r = loadRunbookText(TEXT, 'two-plays.yaml');
  assert.deepEqual(r.diagnostics.filter((d) => d.severity === 'error'), []);
  const rb = r.runbook!;
  assert.equal(rb.multiPlay, true);
  assert.equal(rb.hostsPattern, 'control_plane,workers');
  assert.deepEqual(rb.steps.map((s) => s.id), ['plays[0].steps[0]', 'plays[0].steps[1]', 'plays[1].steps[0]']);
  assert.deepEqual(rb.plays[1]!.handlers.map((s) => s.id), ['plays[1].handlers[0]']);
  // the play's become/timeout are its steps' defaults; the step's own wins
  assert.equal(rb.steps[0]!.raw.become, true);
  assert.equal(rb.steps[1]!.raw.become, false);
  assert.equal(rb.steps[2]!.raw.become, false);
  assert.equal(rb.steps[0]!.raw.timeout, '1m');
  const v = playView(rb, rb.plays[0]!);
  assert.equal(v.runbook.serial, 1);
  assert.deepEqual(v.runbook.vars, { a: 1, b: '{{ a + 1 }}' });
  assert.deepEqual(v.steps.map((s) => s.name), ['One', 'Two']);
  assert.deepEqual(rollbackView(rb, [0, 1, 0]).rollback.map((s) => s.name), ['Undo second', 'Undo first']);
  assert.deepEqual(rollbackView(rb, [0]).rollback.map((s) => s.name), ['Undo first']);
  assert.equal(playOfStepId('plays[1].steps[0]'), 1);
  assert.equal(playOfStepId('steps[4]'), 0);
});

test('the single-play form is one play with the old step ids', () => {
  const r = loadRunbookText('apiVersion: runbook/v1\nname: one\nhosts: all\nserial: 2\nsteps:\n  - name: A\n    assert: { that: "true" }\n', 'one.yaml');
  const rb = r.runbook!;
  assert.equal(rb.multiPlay, false);
  assert.equal(rb.plays.length, 1);
  assert.equal(rb.plays[0]!.settings.serial, 2);
  assert.deepEqual(rb.steps.map((s) => s.id), ['steps[0]']);
  assert.equal(playView(rb, rb.plays[0]!), rb);
});

test('validate warns about a name only an earlier play with other hosts registered (undefined on a host that did not run it)', () => {
  const text = `apiVersion: runbook/v1
name: cross-play
plays:
  - name: Read on the control plane
    hosts: control_plane
    steps:
      - name: Version
        command: { argv: [kubeadm, version, -o, short], read_only: true }
        register: ver
  - name: Use on the workers
    hosts: workers
    steps:
      - name: Same version
        assert: { that: "ver.stdout != ''" }
      - name: Through hostvars is fine
        assert: { that: "hostvars[groups['control_plane'][0]].ver.stdout != ''" }
  - name: Same hosts again
    hosts: control_plane
    steps:
      - name: Fine here
        assert: { that: "ver.stdout != ''" }
`;
  const { runbook, diagnostics } = loadRunbookText(text, 'x.yaml');
  assert.ok(runbook, diagnostics.map((d) => d.message).join('\n'));
  const warnings = diagnostics.filter((d) => d.severity === 'warning');
  assert.equal(warnings.length, 1, warnings.map((d) => d.message).join('\n'));
  assert.equal(warnings[0]!.line, 13);
  assert.match(warnings[0]!.message, /`ver` is registered in play 1, which may select other hosts than this play/);
});

test("a step's own become is kept apart from the play's (a delegated step uses only its own)", () => {
  const { runbook, diagnostics } = loadRunbookText(TEXT, 'x.yaml');
  assert.ok(runbook, diagnostics.map((d) => d.message).join('\n'));
  const steps = runbook.plays[0]!.steps;
  assert.equal(steps[0]!.raw.become, true, 'inherited for the step itself');
  assert.equal(steps[0]!.ownBecome, undefined, 'but not its own');
});
