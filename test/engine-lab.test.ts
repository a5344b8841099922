/**
 * The engine against real OpenSSH hosts on loopback (the lab): plan changes nothing, apply then
 * re-apply changes nothing, rollback on failure and by id restores byte-identical trees, host
 * keys are enforced, variables reach commands as one argument, locks refuse, a killed runner
 * leaves a journal that rollback restores from.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabHost } from '../src/lab/hosts.js';
import { applyCmd } from '../src/cli/apply.js';
import { planCmd } from '../src/cli/plan.js';
import { rollbackCmd } from '../src/cli/rollback.js';
import { connectCmd } from '../src/cli/connect.js';
import { showCmd } from '../src/cli/show.js';
import { historyCmd } from '../src/cli/history.js';
import { parseJournal } from '../src/engine/journal.js';
import { isUserError } from '../src/errors.js';
import { Capture } from './support/capture.js';
import { cmdOptions as opts, dir, inv, lab, rbFile, snapshot as treesOf, stateDir, useLab } from './support/lab.js';

const RUNBOOK = `apiVersion: runbook/v1
name: engine-lab
hosts: all
on_failure: rollback
vars:
  app: /etc/kubernetes/app
  greeting: hello
  payload: "x; touch /tmp/pwned"
  fail_host: ""
  slow_host: ""
steps:
  - name: Back up the app tree
    backup: { paths: ["{{ app }}"], to: "/var/backups/runbook/{{ run.id }}" }
  - name: App directory
    file: { path: "{{ app }}", state: directory, mode: "0755" }
  - name: Main config
    copy: { dest: "{{ app }}/a.conf", content: "{{ greeting }} from {{ inventory_hostname }}\\n" }
    register: a
  - name: Second config
    copy: { dest: "{{ app }}/b.conf", content: "static\\n", mode: "0600" }
  - name: Sub directory
    file: { path: "{{ app }}/sub", state: directory, mode: "0750" }
  - name: Nested config
    copy: { dest: "{{ app }}/sub/c.conf", content: "{{ greeting }}\\n" }
  # read-only steps are wait_for (read-only by contract): a quiet command after the backup would
  # make every apply take the backup first (a command may change anything)
  - name: Echo the payload
    wait_for: { command: [printf, "%s", "{{ payload }}"], retries: 0 }
    register: echo
  - name: The payload arrived as one argument
    assert: { that: ["echo.stdout == payload"] }
  - name: Restart only when the main config changed
    command: { argv: [sh, -c, 'date >> "$1"', sh, "{{ app }}/restarts"], writes: ["{{ app }}/restarts"] }
    when: changed(a)
  - name: Fail or wait where asked
    wait_for: { command: [sh, -c, 'if [ "$1" = "$2" ]; then exit 7; fi; if [ "$1" = "$3" ]; then sleep 30; fi', sh, "{{ inventory_hostname }}", "{{ fail_host }}", "{{ slow_host }}"], retries: 0 }
rollback:
  - name: Note the rollback
    command: { argv: [touch, /root/rolled-back], creates: /root/rolled-back }
`;

/** sha256 + mode of every entry under a host's trees (seen from outside); by default every tree a run may change */
function snapshot(h: LabHost, roots = ['/etc/kubernetes', '/root', '/tmp', '/var/lib/runbook', '/var/backups']): Map<string, string> {
  return treesOf(h, roots);
}

const skip = useLab({
  start: { count: 3, firstAddress: '127.1.210.1', namePrefix: 'eng' },
  tmp: 'runbook-engine-lab-',
  runbook: { file: 'runbook.yaml', text: RUNBOOK },
});

let firstApplyId = '';

test('plan changes nothing on any host, lists the commands, exits 2', { skip }, async () => {
  const before = lab.hosts.map((h) => snapshot(h));
  const o = opts({ out: join(dir, 'plan.json') });
  const r = await planCmd(o);
  assert.equal(r.exitCode, 2, o.stdout.text + o.stderr.text);
  lab.hosts.forEach((h, i) => assert.deepEqual(snapshot(h), before[i], `${h.name} changed during plan`));
  assert.match(o.stdout.text, /write \/etc\/kubernetes\/app\/a\.conf/);
  // the read-only echo runs in the plan too: the payload arrives as one argument
  assert.match(o.stdout.text, /ok +8\/10 The payload arrived as one argument/);
  const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8'));
  assert.equal(Object.keys(plan.hosts).length, 3);
  assert.equal(plan.hosts['eng-01'].steps.find((s: { step: string }) => s.step === 'steps[2]').status, 'change');
});

test('apply changes the 3 hosts; the payload is one literal argument', { skip }, async () => {
  const o = opts();
  const r = await applyCmd(o);
  assert.equal(r.exitCode, 0, o.stdout.text + o.stderr.text);
  firstApplyId = r.result!.runId;
  for (const row of r.result!.recap) {
    assert.equal(row.status, 'ok');
    assert.ok(row.changed >= 6, `${row.host} changed ${row.changed}`);
  }
  for (const h of lab.hosts) {
    assert.equal(readFileSync(lab.hostPath(h, '/etc/kubernetes/app/a.conf'), 'utf8'), `hello from ${h.name}\n`);
    assert.equal(existsSync(lab.hostPath(h, '/tmp/pwned')), false);
    assert.equal(existsSync(lab.hostPath(h, '/var/lib/runbook/lock')), false, 'lock released');
  }
  // the journal records the runbook, its sha256, the inventory and every step per host
  const lines = parseJournal(readFileSync(join(stateDir, 'runs', `${firstApplyId}.jsonl`), 'utf8'));
  const start = lines[0]!;
  assert.equal(start.kind, 'run-start');
  if (start.kind === 'run-start') {
    assert.match(start.runbook.sha256, /^[0-9a-f]{64}$/);
    assert.equal(start.inventory.hosts.length, 3);
  }
  assert.equal(lines.filter((l) => l.kind === 'step-end').length, 30);
});

test('a second apply reports changed=0 on every host; plan then exits 0', { skip }, async () => {
  const o = opts();
  const r = await applyCmd(o);
  assert.equal(r.exitCode, 0, o.stdout.text);
  for (const row of r.result!.recap) assert.equal(row.changed, 0, `${row.host}: ${o.stdout.text}`);
  const p = opts();
  assert.equal((await planCmd(p)).exitCode, 0, p.stdout.text);
});

let failedRunId = '';
let beforeFailure: Map<string, string>[] = [];

test('on_failure rollback: the failing host is restored byte-identical, the others complete', { skip }, async () => {
  beforeFailure = lab.hosts.map((h) => snapshot(h, ['/etc/kubernetes']));
  const o = opts({ extraVars: ['greeting=bye', 'fail_host=eng-02'] });
  const r = await applyCmd(o);
  failedRunId = r.result!.runId;
  assert.equal(r.exitCode, 6, o.stdout.text);
  const rows = Object.fromEntries(r.result!.recap.map((x) => [x.host, x]));
  assert.equal(rows['eng-02']!.status, 'rolled-back');
  assert.equal(rows['eng-01']!.status, 'ok');
  assert.equal(rows['eng-03']!.status, 'ok');
  assert.deepEqual(snapshot(lab.hosts[1]!, ['/etc/kubernetes']), beforeFailure[1]);
  assert.ok(existsSync(lab.hostPath(lab.hosts[1]!, '/root/rolled-back')), 'rollback steps ran');
  assert.equal(readFileSync(lab.hostPath(lab.hosts[0]!, '/etc/kubernetes/app/a.conf'), 'utf8'), 'bye from eng-01\n');
  assert.ok(existsSync(lab.hostPath(lab.hosts[0]!, '/etc/kubernetes/app/restarts')));
});

test('runbook rollback ID restores every host of a finished run, and is idempotent', { skip }, async () => {
  // -i: the run's hosts reached through another inventory, by name: a wrong port there proves it is
  // used (unreachable, nothing restored); one that lacks a host of the run is refused outright
  const wrong = join(dir, 'inventory-wrong-port.yaml');
  writeFileSync(wrong, lab.inventoryYaml().replace(/ansible_port: \d+/g, 'ansible_port: 1'));
  assert.match(readFileSync(wrong, 'utf8'), /ansible_port: 1\b/);
  const unreachable = await rollbackCmd({ id: failedRunId, stateDir, inventory: wrong, stdout: new Capture() });
  assert.equal(unreachable.exitCode, 5, JSON.stringify(unreachable.recap));
  assert.notDeepEqual(snapshot(lab.hosts[0]!, ['/etc/kubernetes']), beforeFailure[0]);
  await assert.rejects(rollbackCmd({ id: failedRunId, stateDir, hosts: `${lab.hosts[0]!.address}`, stdout: new Capture() }), /has no host eng-01, eng-02, eng-03/);
  const dry = await rollbackCmd({ id: failedRunId, stateDir, dryRun: true, inventory: inv, stdout: new Capture() });
  assert.equal(dry.exitCode, 0);
  assert.notDeepEqual(snapshot(lab.hosts[0]!, ['/etc/kubernetes']), beforeFailure[0], 'dry run changed nothing');
  const r = await rollbackCmd({ id: failedRunId, stateDir, stdout: new Capture() });
  assert.equal(r.exitCode, 0);
  lab.hosts.forEach((h, i) => assert.deepEqual(snapshot(h, ['/etc/kubernetes']), beforeFailure[i], `${h.name} not restored`));
  const again = await rollbackCmd({ id: failedRunId, stateDir, stdout: new Capture() });
  assert.equal(again.exitCode, 0);
  assert.equal(again.recap.reduce((n, x) => n + x.changed, 0), 0);
  const out = new Capture();
  showCmd({ id: failedRunId, stateDir, stdout: out });
  assert.match(out.text, /ROLLBACK engine-lab/);
  const h = new Capture();
  const { runs } = historyCmd({ stateDir, stdout: h });
  assert.ok(runs.some((x) => x.id === failedRunId && x.rollbacks === 3));
});

test('an unknown host key is refused; a changed key is refused even with --accept-new', { skip }, async () => {
  const empty = join(dir, 'empty_known_hosts');
  writeFileSync(empty, '');
  const o = opts({ knownHosts: empty });
  const r = await applyCmd(o);
  assert.equal(r.exitCode, 5);
  assert.ok(r.result!.recap.every((x) => x.status === 'unreachable' && /not in/.test(x.message ?? '')), JSON.stringify(r.result!.recap));
  // --accept-new records unknown keys (connect)
  const fresh = join(dir, 'fresh_known_hosts');
  writeFileSync(fresh, '');
  const c = await connectCmd({ inventory: inv, knownHosts: fresh, acceptNew: true, stdout: new Capture() });
  assert.equal(c.exitCode, 0);
  assert.equal(readFileSync(fresh, 'utf8').trim().split('\n').length, 3);
  // a changed key: eng-01's entry carries eng-02's key
  const lines = readFileSync(lab.knownHostsPath, 'utf8').trim().split('\n');
  const key2 = lines[1]!.split(' ').slice(1).join(' ');
  const changed = join(dir, 'changed_known_hosts');
  writeFileSync(changed, [`${lab.hosts[0]!.address} ${key2}`, lines[1], lines[2]].join('\n') + '\n');
  const o2 = opts({ knownHosts: changed, acceptNew: true });
  const r2 = await applyCmd(o2);
  assert.equal(r2.exitCode, 5);
  const row = r2.result!.recap.find((x) => x.host === 'eng-01')!;
  assert.equal(row.status, 'unreachable');
  assert.match(row.message ?? '', /CHANGED/);
});

test('a locked host is refused, naming the holder; --break-lock takes it', { skip }, async () => {
  const h = lab.hosts[2]!;
  writeFileSync(lab.hostPath(h, '/var/lib/runbook/lock'), JSON.stringify({ run_id: '20200101T000000Z-abcdef', operator: 'alice@ops', pid: 42, started: '2020-01-01T00:00:00Z' }) + '\n');
  const o = opts();
  const r = await applyCmd(o);
  assert.equal(r.exitCode, 4);
  const row = r.result!.recap.find((x) => x.host === h.name)!;
  assert.equal(row.status, 'failed');
  assert.match(row.message ?? '', /20200101T000000Z-abcdef.*alice@ops.*2020-01-01T00:00:00Z/);
  const o2 = opts({ breakLock: true });
  const r2 = await applyCmd(o2);
  assert.equal(r2.exitCode, 0, o2.stdout.text);
  assert.equal(existsSync(lab.hostPath(h, '/var/lib/runbook/lock')), false);
});

test('apply --plan refuses when a probed state changed since the plan', { skip }, async () => {
  const planFile = join(dir, 'plan2.json');
  const p = opts({ out: planFile, extraVars: ['greeting=planned'] });
  assert.equal((await planCmd(p)).exitCode, 2);
  writeFileSync(lab.hostPath(lab.hosts[0]!, '/etc/kubernetes/app/b.conf'), 'tampered\n');
  await assert.rejects(applyCmd(opts({ plan: planFile, extraVars: ['greeting=planned'] })), (e) => isUserError(e) && e.kind === 'plan-stale' && /eng-01.*Second config/.test(e.message));
  // a fresh plan applies
  const planFile3 = join(dir, 'plan3.json');
  assert.equal((await planCmd(opts({ out: planFile3, extraVars: ['greeting=planned'] }))).exitCode, 2);
  const a = opts({ plan: planFile3, extraVars: ['greeting=planned'] });
  const r = await applyCmd(a);
  assert.equal(r.exitCode, 0, a.stdout.text);
  assert.equal(r.result!.runId, JSON.parse(readFileSync(planFile3, 'utf8')).run_id);
  assert.equal(readFileSync(lab.hostPath(lab.hosts[0]!, '/etc/kubernetes/app/b.conf'), 'utf8'), 'static\n');
});

test('killing the runner mid-run leaves a journal from which rollback restores every host', { skip }, async () => {
  const before = lab.hosts.map((h) => snapshot(h, ['/etc/kubernetes']));
  const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const child = spawn(process.execPath, [main, 'apply', rbFile, '-i', inv, '--state-dir', stateDir, '--json', '-e', 'greeting=killed', '-e', 'slow_host=eng-01'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 30_000;
  let runId = '';
  while (Date.now() < deadline) {
    const events = out.split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return {}; } });
    runId ||= events.find((e) => e.kind === 'run-start')?.runId ?? '';
    // eng-02 and eng-03 finished, eng-01 is in its slow last step
    if (events.filter((e) => e.kind === 'host-end').length === 2 && events.some((e) => e.kind === 'step-start' && e.host === 'eng-01' && e.step === 'steps[9]')) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(runId, 'run started');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.equal(readFileSync(lab.hostPath(lab.hosts[0]!, '/etc/kubernetes/app/a.conf'), 'utf8'), 'killed from eng-01\n');
  assert.ok(existsSync(lab.hostPath(lab.hosts[0]!, '/var/lib/runbook/lock')), 'the killed run still holds its lock');
  const h = new Capture();
  historyCmd({ stateDir, stdout: h });
  assert.match(h.text, new RegExp(`${runId}.*interrupted`));
  const r = await rollbackCmd({ id: runId, stateDir, stdout: new Capture() });
  assert.equal(r.exitCode, 0, JSON.stringify(r.recap));
  lab.hosts.forEach((x, i) => assert.deepEqual(snapshot(x, ['/etc/kubernetes']), before[i], `${x.name} not restored`));
  assert.equal(existsSync(lab.hostPath(lab.hosts[0]!, '/var/lib/runbook/lock')), false, 'rollback took over and released the lock');
});
