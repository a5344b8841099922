/**
 * Plays, read-only commands and cross-host facts against real OpenSSH hosts (the lab): two plays
 * over different host groups in one run (one run id, one journal, one connection and lock per
 * host); facts a read-only command registers in play 1 reach play 2 on other hosts through
 * `hostvars` and `groups`, in plan as in apply; a failure in play 2 rolls its host back across
 * both plays (newest play's rollback steps first) and `runbook rollback ID` restores the others.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabHost } from '../src/lab/hosts.js';
import { applyCmd } from '../src/cli/apply.js';
import { planCmd } from '../src/cli/plan.js';
import { rollbackCmd } from '../src/cli/rollback.js';
import { showCmd } from '../src/cli/show.js';
import { parseJournal } from '../src/engine/journal.js';
import type { StepEndEvent } from '../src/engine/events.js';
import { Capture } from './support/capture.js';
import { cmdOptions as opts, dir, lab, snapshot, stateDir, useLab } from './support/lab.js';

const RUNBOOK = `apiVersion: runbook/v1
name: plays-lab
vars:
  app: /etc/kubernetes/app
  fail_host: ""
plays:
  - name: Gather and write on the control plane
    hosts: control_plane
    on_failure: rollback
    steps:
      - name: Back up the app tree
        backup: { paths: ["{{ app }}"], to: "/var/backups/runbook/{{ run.id }}/p1" }
      - name: Version (read-only, runs in plan too)
        command: { argv: [printf, "%s", "v1.{{ inventory_hostname }}"], read_only: true }
        register: ver
      - name: App directory
        file: { path: "{{ app }}", state: directory, mode: "0755" }
      - name: Control-plane config
        copy: { dest: "{{ app }}/cp.conf", content: "{{ ver.stdout }}\\n" }
        register: cpconf
    rollback:
      - name: Note play 1 rollback
        shell: { script: 'echo play1 >> /root/rollback-order', changed_when: true }
  - name: Use the control plane's facts everywhere
    hosts: all
    on_failure: rollback
    vars:
      summary_file: "{{ app }}/summary.conf"
    steps:
      - name: Back up the app tree again
        backup: { paths: ["{{ app }}"], to: "/var/backups/runbook/{{ run.id }}/p2" }
      - name: The play's hosts and the control plane's facts are visible
        assert:
          that:
            - "size(play_hosts) == 3 && size(ansible_play_hosts) == 3"
            - "groups['control_plane'] == ['pl-01', 'pl-02']"
            - "hostvars['pl-01'].ver.stdout == 'v1.pl-01'"
      - name: App directory
        file: { path: "{{ app }}", state: directory, mode: "0755" }
      - name: Summary of the control plane
        copy: { dest: "{{ summary_file }}", content: "{{ groups['control_plane'].map(h, hostvars[h].ver.stdout).join(',') }}\\n" }
      - name: Marker when the first control-plane node's config changed
        copy: { dest: "{{ app }}/cp-changed", content: "yes\\n" }
        when: "hostvars['pl-01'].cpconf.changed"
      - name: Fail where asked
        shell: { script: 'if [ "$1" = "$2" ]; then exit 7; fi', args: ["{{ inventory_hostname }}", "{{ fail_host }}"], read_only: true }
    rollback:
      - name: Note play 2 rollback
        shell: { script: 'echo play2 >> /root/rollback-order', changed_when: true }
`;

function journal(id: string) {
  return parseJournal(readFileSync(join(stateDir, 'runs', `${id}.jsonl`), 'utf8'));
}

let pristine: Map<string, string>[] = [];

const GROUPS = ['  children:', '    control_plane:', '      hosts:', '        pl-01: {}', '        pl-02: {}', '    workers:', '      hosts:', '        pl-03: {}'];

const skip = useLab({
  start: { count: 3, firstAddress: '127.1.215.1', namePrefix: 'pl' },
  tmp: 'runbook-plays-lab-',
  inventory: (l) => l.inventoryYaml() + GROUPS.join('\n') + '\n',
  runbook: { file: 'plays.yaml', text: RUNBOOK },
  setup: () => {
    pristine = lab.hosts.map((h) => snapshot(h));
  },
});

test('plan: plays in order, read-only facts of play 1 reach play 2 on other hosts, nothing changes', { skip }, async () => {
  const o = opts({ out: join(dir, 'plan.json'), json: false });
  const r = await planCmd(o);
  assert.equal(r.exitCode, 2, o.stdout.text + o.stderr.text);
  lab.hosts.forEach((h, i) => assert.deepEqual(snapshot(h), pristine[i], `${h.name} changed during plan`));
  const text = o.stdout.text;
  const p1 = text.indexOf('PLAY 1/2 Gather and write on the control plane — pl-01, pl-02');
  const p2 = text.indexOf('PLAY 2/2 Use the control plane\'s facts everywhere — pl-01, pl-02, pl-03');
  assert.ok(p1 >= 0 && p2 > p1, text);
  const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8'));
  const step = (host: string, id: string) => plan.hosts[host].steps.find((s: { step: string }) => s.step === id);
  // the read-only command ran in plan and counts as no change
  assert.equal(step('pl-01', 'plays[0].steps[1]').status, 'ok');
  // play 2 on the worker read pl-01's and pl-02's read-only facts: the assert passed, the summary is exact
  assert.equal(step('pl-03', 'plays[1].steps[1]').status, 'ok');
  assert.equal(step('pl-03', 'plays[1].steps[3]').status, 'change');
  assert.match(JSON.stringify(step('pl-03', 'plays[1].steps[3]').commands), /summary\.conf/);
  assert.equal(plan.hosts['pl-03'].status, 'ok');
  assert.equal(step('pl-01', 'plays[1].steps[5]').status, 'ok', 'the read-only failure check is no pending change');
});

test('a failure in play 2 rolls its host back across both plays, newest play first; rollback ID restores the rest', { skip }, async () => {
  const o = opts({ extraVars: ['fail_host=pl-02'] });
  const r = await applyCmd(o);
  const rows = Object.fromEntries(r.result!.recap.map((x) => [x.host, x]));
  assert.equal(rows['pl-02']!.status, 'rolled-back', o.stdout.text + o.stderr.text);
  assert.equal(rows['pl-01']!.status, 'ok');
  assert.equal(rows['pl-03']!.status, 'ok');
  const [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost];
  assert.deepEqual(snapshot(h2), pristine[1], 'pl-02 is back as it was before play 1');
  assert.equal(readFileSync(lab.hostPath(h2, '/root/rollback-order'), 'utf8'), 'play2\nplay1\n');
  assert.equal(readFileSync(lab.hostPath(h1, '/etc/kubernetes/app/cp.conf'), 'utf8'), 'v1.pl-01\n');
  assert.equal(readFileSync(lab.hostPath(h3, '/etc/kubernetes/app/summary.conf'), 'utf8'), 'v1.pl-01,v1.pl-02\n');

  // one run: one run-start, one connection per host, every step of both plays in one journal
  const id = r.result!.runId;
  const lines = journal(id);
  assert.equal(lines.filter((l) => l.kind === 'run-start').length, 1);
  for (const h of ['pl-01', 'pl-02', 'pl-03']) assert.equal(lines.filter((l) => l.kind === 'host-connected' && (l as { host: string }).host === h).length, 1, h);
  const ids = lines.filter((l): l is StepEndEvent & { t: string } => l.kind === 'step-end' && (l as StepEndEvent).host === 'pl-01').map((l) => l.step);
  assert.ok(ids.includes('plays[0].steps[3]') && ids.includes('plays[1].steps[3]'), ids.join(' '));

  const rb = await rollbackCmd({ id, stateDir, stdout: new Capture() });
  assert.equal(rb.exitCode, 0);
  lab.hosts.forEach((h, i) => assert.deepEqual(snapshot(h), pristine[i], `${h.name} restored by rollback ${id}`));
  assert.equal(readFileSync(lab.hostPath(h1, '/root/rollback-order'), 'utf8'), 'play2\nplay1\n');
  // the worker took part in play 2 only
  assert.equal(readFileSync(lab.hostPath(h3, '/root/rollback-order'), 'utf8'), 'play2\n');
  // the journal reads back as one run of two plays
  const shown = new Capture();
  showCmd({ id, stateDir, stdout: shown });
  assert.match(shown.text, /PLAY 1\/2 Gather and write on the control plane[\s\S]*PLAY 2\/2 Use the control plane's facts everywhere/);
  assert.match(shown.text, /ROLLBACK plays-lab/);
});

test('apply over both plays, then again: nothing changes, read-only steps are never a change', { skip }, async () => {
  const o = opts();
  const r = await applyCmd(o);
  assert.equal(r.exitCode, 0, o.stdout.text + o.stderr.text);
  const [h1, , h3] = lab.hosts as [LabHost, LabHost, LabHost];
  assert.equal(readFileSync(lab.hostPath(h3, '/etc/kubernetes/app/summary.conf'), 'utf8'), 'v1.pl-01,v1.pl-02\n');
  assert.equal(readFileSync(lab.hostPath(h3, '/etc/kubernetes/app/cp-changed'), 'utf8'), 'yes\n');
  assert.equal(readFileSync(lab.hostPath(h1, '/etc/kubernetes/app/cp.conf'), 'utf8'), 'v1.pl-01\n');
  const again = await applyCmd(opts());
  assert.equal(again.exitCode, 0);
  for (const row of again.result!.recap) assert.equal(row.changed, 0, `${row.host} changed on the second apply`);
  const plan = await planCmd(opts());
  assert.equal(plan.exitCode, 0, 'no change pending after apply');
});

const DELEGATE = `apiVersion: runbook/v1
name: delegate-lab
plays:
  - name: Learn from the first control-plane node
    hosts: all
    steps:
      - name: The first control-plane node's identity, read there for every host
        command: { argv: [cat, /etc/kubernetes/id], read_only: true }
        delegate_to: "{{ groups['control_plane'][0] }}"
        register: cpid
      - name: Once for the batch
        shell: { script: 'echo x >> /etc/kubernetes/once-count; cat /etc/kubernetes/id', changed_when: true }
        run_once: true
        register: once
      - name: Write what was learned
        copy: { dest: /etc/kubernetes/learned, content: "{{ cpid.stdout }} {{ once.stdout }}\\n" }
      - name: A file for each worker, made on the first control-plane node
        copy: { dest: "/etc/kubernetes/for-{{ inventory_hostname }}", content: "made for {{ inventory_hostname }}\\n" }
        delegate_to: pl-01
        when: "inventory_hostname in groups['workers']"
`;

test('delegate_to runs on the other host and registers here; run_once runs once and registers everywhere; rollback ID undoes a delegated change on the host it was made on', { skip }, async () => {
  for (const h of lab.hosts) writeFileSync(lab.hostPath(h, '/etc/kubernetes/id'), h.name);
  for (const h of lab.hosts) rmSync(lab.hostPath(h, '/etc/kubernetes/app'), { recursive: true, force: true });
  const file = join(dir, 'delegate.yaml');
  writeFileSync(file, DELEGATE);
  const p = opts({ runbook: file, out: join(dir, 'delegate-plan.json') });
  const planned = await planCmd(p);
  assert.equal(planned.exitCode, 2, p.stdout.text + p.stderr.text);
  const plan = JSON.parse(readFileSync(join(dir, 'delegate-plan.json'), 'utf8'));
  for (const h of ['pl-01', 'pl-02', 'pl-03']) assert.equal(plan.hosts[h].steps[0].status, 'ok', `${h}: the delegated read-only command ran in plan`);
  assert.equal(lab.hosts.filter((h) => existsSync(lab.hostPath(h, '/etc/kubernetes/once-count'))).length, 0, 'plan ran nothing that changes');

  const o = opts({ runbook: file });
  const r = await applyCmd(o);
  assert.equal(r.exitCode, 0, o.stdout.text + o.stderr.text);
  const ran = lab.hosts.filter((h) => existsSync(lab.hostPath(h, '/etc/kubernetes/once-count')));
  assert.deepEqual(ran.map((h) => h.name), ['pl-01'], 'run_once ran on the first host of the batch only');
  assert.equal(readFileSync(lab.hostPath(ran[0]!, '/etc/kubernetes/once-count'), 'utf8'), 'x\n');
  for (const h of lab.hosts) assert.equal(readFileSync(lab.hostPath(h, '/etc/kubernetes/learned'), 'utf8'), `pl-01 ${ran[0]!.name}\n`, h.name);
  const [h1, , h3] = lab.hosts as [LabHost, LabHost, LabHost];
  assert.equal(readFileSync(lab.hostPath(h1, '/etc/kubernetes/for-pl-03'), 'utf8'), 'made for pl-03\n');
  assert.ok(!existsSync(lab.hostPath(h3, '/etc/kubernetes/for-pl-03')), 'the delegated copy was made on pl-01, not on pl-03');

  const back = await rollbackCmd({ id: r.result!.runId, stateDir, stdout: new Capture() });
  // the run_once shell ran with no backup before it: its change cannot be undone, so the host it
  // ran on is reported failed (not restored), never restored (the safety contract, issue 15)
  assert.equal(back.exitCode, 4);
  assert.deepEqual(back.recap.filter((x) => x.status === 'failed').map((x) => x.host), [ran[0]!.name]);
  assert.match(back.recap.find((x) => x.host === ran[0]!.name)!.message ?? '', /not restored: what step "Once for the batch" \(shell\) changed/);
  assert.ok(!existsSync(lab.hostPath(h1, '/etc/kubernetes/for-pl-03')), 'rollback removed the delegated file from pl-01');
  for (const h of lab.hosts) assert.ok(!existsSync(lab.hostPath(h, '/etc/kubernetes/learned')), h.name);
});

const DELEGATED_AFTER_BACKUP = `apiVersion: runbook/v1
name: delegated-after-backup
plays:
  - name: The control plane takes part
    hosts: control_plane
    steps:
      - name: Nothing
        command: { argv: ["true"], read_only: true }
  - name: Workers
    hosts: workers
    on_failure: rollback
    steps:
      - name: Back up this worker's directory
        backup: { paths: [/etc/kubernetes/w], to: "/var/backups/runbook/{{ run.id }}/w" }
      - name: Made on the first control-plane node (takes the deferred backup first)
        command: { argv: [cat, /etc/kubernetes/id], changed_when: false }
        delegate_to: pl-01
        register: made
      - name: Write it here
        copy: { dest: /etc/kubernetes/w/made, content: "{{ made.stdout }}\\n" }
`;

test('a backup deferred until a delegated step is taken on its own host, over its own connection', { skip }, async () => {
  const [h1, , h3] = lab.hosts as [LabHost, LabHost, LabHost];
  mkdirSync(lab.hostPath(h3, '/etc/kubernetes/w'), { recursive: true });
  writeFileSync(lab.hostPath(h3, '/etc/kubernetes/w/old'), 'old\n');
  writeFileSync(lab.hostPath(h1, '/etc/kubernetes/id'), 'pl-01');
  const file = join(dir, 'delegated-after-backup.yaml');
  writeFileSync(file, DELEGATED_AFTER_BACKUP);
  const o = opts({ runbook: file });
  const r = await applyCmd(o);
  assert.equal(r.exitCode, 0, o.stdout.text + o.stderr.text);
  const id = r.result!.runId;
  assert.ok(existsSync(lab.hostPath(h3, `/var/backups/runbook/${id}/w/manifest.json`)), 'the backup is on the worker');
  assert.ok(!existsSync(lab.hostPath(h1, `/var/backups/runbook/${id}`)), 'nothing of the worker\'s backup on the delegate');
  assert.equal(readFileSync(lab.hostPath(h3, '/etc/kubernetes/w/made'), 'utf8'), 'pl-01\n');
  const back = await rollbackCmd({ id, stateDir, stdout: new Capture() });
  assert.equal(back.exitCode, 0);
  assert.ok(!existsSync(lab.hostPath(h3, '/etc/kubernetes/w/made')));
  assert.equal(readFileSync(lab.hostPath(h3, '/etc/kubernetes/w/old'), 'utf8'), 'old\n');
});

const HANDLERS = `apiVersion: runbook/v1
name: handlers-lab
hosts: all
on_failure: rollback
vars:
  d: /etc/kubernetes/h
  fail_host: ""
steps:
  - name: Backup
    backup: { paths: ["{{ d }}"], to: "/var/backups/runbook/{{ run.id }}/h" }
  - name: Directory
    file: { path: "{{ d }}", state: directory }
  - name: Config A
    copy: { dest: "{{ d }}/a.conf", content: "a\\n" }
    notify: [Restart B, Restart A]
  - name: Config B
    copy: { dest: "{{ d }}/b.conf", content: "b\\n" }
    notify: Restart A
  - name: Restart what is due now
    flush_handlers: true
  - name: Config C
    copy: { dest: "{{ d }}/c.conf", content: "c\\n" }
    notify: Restart B
  - name: Fail where asked
    shell: { script: 'if [ "$1" = "$2" ]; then exit 7; fi', args: ["{{ inventory_hostname }}", "{{ fail_host }}"], read_only: true }
handlers:
  - name: Restart A
    shell: { script: 'echo A >> "$1/log"', args: ["{{ d }}"], changed_when: true }
  - name: Restart B
    shell: { script: 'echo B >> "$1/log"', args: ["{{ d }}"], changed_when: true }
  - name: Never notified
    shell: { script: 'echo never >> "$1/log"', args: ["{{ d }}"], changed_when: true }
`;

test('handlers: once per flush, in definition order, only when notified; not on a failed host unless force_handlers; plan says who notifies', { skip }, async () => {
  const file = join(dir, 'handlers.yaml');
  writeFileSync(file, HANDLERS);
  const p = opts({ runbook: file, out: join(dir, 'handlers-plan.json') });
  assert.equal((await planCmd(p)).exitCode, 2, p.stdout.text + p.stderr.text);
  const plan = JSON.parse(readFileSync(join(dir, 'handlers-plan.json'), 'utf8'));
  const names = plan.hosts['pl-01'].steps.map((s: { name: string; status: string }) => `${s.name}: ${s.status}`);
  assert.ok(names.includes('Restart A (runs if notified by "Config A", "Config B"): change'), names.join('\n'));
  assert.ok(names.includes('Never notified (runs if notified by nothing): skipped'), names.join('\n'));

  const failedRun = await applyCmd(opts({ runbook: file, extraVars: ['fail_host=pl-02'] }));
  const lines = journal(failedRun.result!.runId);
  const handlerRuns = (host: string) => lines.filter((l) => l.kind === 'step-end' && (l as StepEndEvent).host === host && (l as StepEndEvent).step.startsWith('handlers')).map((l) => (l as StepEndEvent).name);
  assert.deepEqual(handlerRuns('pl-01'), ['Restart A', 'Restart B', 'Restart B']);
  assert.deepEqual(handlerRuns('pl-02'), ['Restart A', 'Restart B'], 'only the flush before the failure ran on the failed host');
  const [h1, h2] = lab.hosts as [LabHost, LabHost, LabHost];
  assert.equal(readFileSync(lab.hostPath(h1, '/etc/kubernetes/h/log'), 'utf8'), 'A\nB\nB\n');
  assert.ok(!existsSync(lab.hostPath(h2, '/etc/kubernetes/h')), 'pl-02 rolled back');

  const forced = join(dir, 'handlers-forced.yaml');
  writeFileSync(forced, HANDLERS.replace('on_failure: rollback', 'on_failure: stop\nforce_handlers: true'));
  const f = await applyCmd(opts({ runbook: forced, extraVars: ['fail_host=pl-02'] }));
  assert.equal(readFileSync(lab.hostPath(h2, '/etc/kubernetes/h/log'), 'utf8'), 'A\nB\nB\n', `force_handlers ran the pending handler on the failed host\n${f.exitCode}`);

  const again = await applyCmd(opts({ runbook: file }));
  assert.equal(again.exitCode, 0);
  assert.equal(readFileSync(lab.hostPath(h1, '/etc/kubernetes/h/log'), 'utf8'), 'A\nB\nB\n', 'nothing changed, nothing notified');
});

const RETRIES = `apiVersion: runbook/v1
name: retries-lab
hosts: pl-01
steps:
  - name: Count up until 3
    shell: { script: 'n=$(cat /etc/kubernetes/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /etc/kubernetes/n; echo $n', changed_when: true }
    until: "result.stdout == '3'"
    retries: 5
    delay: 100ms
    register: counted
  - name: It took three attempts
    assert: { that: "counted.attempts == 3 && counted.stdout == '3' && counted.changed" }
  - name: Never true
    command: { argv: [printf, "no"], read_only: true }
    until: "result.stdout == 'yes'"
    retries: 2
    delay: 100ms
    ignore_errors: true
    register: never
  - name: It failed after 1 + 2 attempts
    assert: { that: "never.failed && never.attempts == 3" }
`;

test('retries / until / delay on any step: retried until the condition holds, failed after the last try', { skip }, async () => {
  const file = join(dir, 'retries.yaml');
  writeFileSync(file, RETRIES);
  const o = opts({ runbook: file });
  const r = await applyCmd(o);
  assert.equal(r.exitCode, 0, o.stdout.text + o.stderr.text);
  assert.equal(readFileSync(lab.hostPath(lab.hosts[0]!, '/etc/kubernetes/n'), 'utf8'), '3\n');
  const lines = journal(r.result!.runId);
  const never = lines.find((l) => l.kind === 'step-end' && (l as StepEndEvent).name === 'Never true') as StepEndEvent | undefined;
  assert.equal(never?.status, 'failed');
  assert.match(never?.message ?? '', /still failing after 3 attempts: until `result.stdout == 'yes'` is false/);
});

const ORPHAN = `apiVersion: runbook/v1
name: once-orphan
hosts: all
vars:
  fail_host: ""
steps:
  - name: Fail where asked
    shell: { script: 'if [ "$1" = "$2" ]; then exit 3; fi', args: ["{{ inventory_hostname }}", "{{ fail_host }}"], read_only: true }
  - name: Once
    shell: { script: 'echo x >> /etc/kubernetes/orphan-count; printf %s "$1"', args: ["{{ inventory_hostname }}"], changed_when: true }
    run_once: true
    register: once
  - name: Record who ran it
    copy: { dest: /etc/kubernetes/orphan-ran, content: "{{ once.stdout }}\\n" }
`;

test('run_once: when the first host of the batch fails before the step, another host runs it, once', { skip }, async () => {
  const file = join(dir, 'orphan.yaml');
  writeFileSync(file, ORPHAN);
  const r = await applyCmd(opts({ runbook: file, extraVars: ['fail_host=pl-01'] }));
  const rows = Object.fromEntries(r.result!.recap.map((x) => [x.host, x.status]));
  assert.deepEqual(rows, { 'pl-01': 'failed', 'pl-02': 'ok', 'pl-03': 'ok' });
  const ran = lab.hosts.filter((h) => existsSync(lab.hostPath(h, '/etc/kubernetes/orphan-count')));
  assert.equal(ran.length, 1);
  assert.notEqual(ran[0]!.name, 'pl-01');
  for (const h of lab.hosts.slice(1)) assert.equal(readFileSync(lab.hostPath(h, '/etc/kubernetes/orphan-ran'), 'utf8'), `${ran[0]!.name}\n`);
});
