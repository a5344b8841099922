// `apply --profile FILE` (issue #12 item 4) on real loopback sshd hosts: every host's phases are
// there, the waits and the backup land in their own phases, and the phases add up to roughly
// the host's wall time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dir, rbFile, runCli, useLab } from './support/lab.js';
import type { RunProfile } from '../src/engine/profile.js';

const RUNBOOK = `apiVersion: runbook/v1
name: profile-me
hosts: all
vars:
  app: /etc/kubernetes/profiled
steps:
  - name: Back up
    backup: { paths: ["{{ app }}"], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Directory
    file: { path: "{{ app }}", state: directory, mode: "0755" }
  - name: A file
    copy: { dest: "{{ app }}/conf", content: "x\\n" }
  - name: Count until the third try (two waits of 300 ms)
    command: { argv: [sh, -c, 'n=$(cat "$1" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$1"; printf %s $n', sh, "{{ app }}/count"] }
    register: counted
    until: "result.stdout == '3'"
    retries: 3
    delay: 300ms
`;

const skip = useLab({
  start: { count: 2, firstAddress: '127.1.241.1', namePrefix: 'pf' },
  tmp: 'runbook-profile-',
  runbook: { file: 'rb.yaml', text: RUNBOOK },
});

test('apply --profile writes per host and phase timings that add up to the host wall time', { skip }, async () => {
  const file = join(dir, 'profile.json');
  const r = await runCli(['apply', rbFile, '--profile', file], 'profile', 120_000);
  assert.equal(r.code, 0, r.out);
  const p = JSON.parse(readFileSync(file, 'utf8')) as RunProfile;
  assert.equal(p.kind, 'runbook-profile');
  assert.equal(p.mode, 'apply');
  assert.match(p.runId ?? '', /^\d{8}T\d{6}Z-/);
  assert.ok(p.beforeRunMs > 0 && p.wallMs > p.beforeRunMs, JSON.stringify(p));
  assert.deepEqual(p.hosts.map((h) => h.host).sort(), ['pf-01', 'pf-02']);
  for (const h of p.hosts) {
    const ph = h.phases;
    assert.ok(ph.connect > 0 && ph.auth > 0, `${h.host}: connect ${ph.connect}, auth ${ph.auth}`);
    assert.ok(ph.lock > 0 && ph.probe > 0 && ph.apply > 0 && ph.journal > 0, JSON.stringify(h));
    assert.ok(ph.backup > 0, `${h.host}: the backup step is backup time`);
    assert.ok(ph.wait >= 2 * 300 - 20 && ph.wait < 2 * 300 + 500, `${h.host}: two 300 ms waits, got ${ph.wait}`);
    const sum = Object.values(ph).reduce((a, b) => a + b, 0);
    assert.ok(sum <= h.wallMs + 1, `${h.host}: phases ${sum} ms exceed the wall time ${h.wallMs} ms`);
    assert.ok(sum >= 0.8 * h.wallMs, `${h.host}: phases ${sum} ms explain less than 80% of the wall time ${h.wallMs} ms: ${JSON.stringify(h)}`);
    assert.ok(Math.abs(sum + h.otherMs - h.wallMs) <= 1, `${h.host}: phases + other = wall`);
  }
  const plan = join(dir, 'plan-profile.json');
  const pr = await runCli(['plan', rbFile, '--profile', plan], 'profile', 120_000);
  assert.ok(pr.code === 0 || pr.code === 2, pr.out);
  const pp = JSON.parse(readFileSync(plan, 'utf8')) as RunProfile;
  assert.equal(pp.mode, 'plan');
  assert.equal(pp.hosts.length, 2);
  for (const h of pp.hosts) assert.equal(h.phases.apply, 0, 'plan applies nothing');
});
