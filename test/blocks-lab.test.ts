/**
 * block / rescue / always against real OpenSSH hosts (the lab), with `on_failure: rollback`.
 * One apply over three hosts: on the first nothing fails (the rescue is not needed); on the second
 * the block fails and the rescue makes it good (the host is ok, nothing is rolled back, the
 * failure shows in the journal and as rescued in the recap); on the third the rescue fails too:
 * `always` still runs, then the host is rolled back to what it was before the run.
 * Also `import:` of a step file (with vars and a handler) in plan and apply.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabHost } from '../src/lab/hosts.js';
import { applyCmd } from '../src/cli/apply.js';
import { planCmd } from '../src/cli/plan.js';
import { parseJournal } from '../src/engine/journal.js';
import type { StepEndEvent } from '../src/engine/events.js';
import { cmdOptions as opts, dir, lab, snapshot, stateDir, useLab } from './support/lab.js';

const FAIL_IF_LISTED = 'case ",$2," in *",$1,"*) exit 5;; esac';
const RUNBOOK = `apiVersion: runbook/v1
name: blocks-lab
hosts: all
on_failure: rollback
vars:
  fail_block: ""
  fail_rescue: ""
steps:
  - name: Back up the app tree
    backup: { paths: [/etc/kubernetes/app, /root/blocks-order], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Upgrade the app
    block:
      - name: App directory
        file: { path: /etc/kubernetes/app, state: directory, mode: "0755" }
      - name: New config
        copy: { dest: /etc/kubernetes/app/app.conf, content: "new\\n" }
      - name: Health check
        shell: { script: '${FAIL_IF_LISTED}', args: ["{{ inventory_hostname }}", "{{ fail_block }}"], read_only: true }
      - name: Not reached after a failure
        copy: { dest: /etc/kubernetes/app/checked, content: "yes\\n" }
    rescue:
      - name: Old config back
        copy: { dest: /etc/kubernetes/app/app.conf, content: "old\\n" }
      - name: Check the old config
        shell: { script: '${FAIL_IF_LISTED}', args: ["{{ inventory_hostname }}", "{{ fail_rescue }}"], read_only: true }
    always:
      - name: Record the cleanup
        shell: { script: 'echo always >> /root/blocks-order', changed_when: true, writes: [/root/blocks-order] }
  - name: After the block
    copy: { dest: /etc/kubernetes/app/done, content: "done\\n" }
`;

let pristine: Map<string, string>[] = [];

const skip = useLab({
  start: { count: 3, firstAddress: '127.1.217.1', namePrefix: 'bk' },
  tmp: 'runbook-blocks-lab-',
  runbook: { file: 'blocks.yaml', text: RUNBOOK },
  setup: () => {
    pristine = lab.hosts.map((h) => snapshot(h));
  },
});

const FAILS = ['fail_block=bk-02,bk-03', 'fail_rescue=bk-03'];

test('plan: the read-only check after changes is unknown, the rescue "runs only if a step of the block fails"; nothing changes', { skip }, async () => {
  const o = opts({ out: join(dir, 'plan.json'), extraVars: FAILS });
  await planCmd(o);
  lab.hosts.forEach((h, i) => assert.deepEqual(snapshot(h), pristine[i], `${h.name} changed during plan`));
  const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8'));
  const step = (host: string, id: string) => plan.hosts[host].steps.find((s: { step: string }) => s.step === id);
  assert.equal(step('bk-01', 'steps[1].rescue[0]').status, 'skipped');
  assert.match(step('bk-01', 'steps[1].rescue[0]').summary, /rescue of block "Upgrade the app": runs only if a step of the block fails/);
  // the check fails now, but the block's earlier steps would change the host first: unknown
  assert.equal(step('bk-02', 'steps[1].block[2]').status, 'unknown');
  assert.equal(step('bk-02', 'steps[1].rescue[0]').status, 'skipped');
  assert.equal(step('bk-02', 'steps[1].always[0]').status, 'change');
  assert.equal(plan.hosts['bk-02'].status, 'ok');
});

test('apply: rescued on one host (ok, no rollback), rescue failing on another (always runs, then rollback)', { skip }, async () => {
  const o = opts({ extraVars: FAILS });
  const r = await applyCmd(o);
  const out = o.stdout.text + o.stderr.text;
  const rows = Object.fromEntries(r.result!.recap.map((x) => [x.host, x]));
  assert.equal(rows['bk-01']!.status, 'ok', out);
  assert.equal(rows['bk-02']!.status, 'ok', out);
  assert.equal(rows['bk-03']!.status, 'rolled-back', out);
  assert.equal(rows['bk-02']!.failed, 0, 'a rescued failure does not count as failed');
  assert.equal((rows['bk-02'] as unknown as { rescued?: number }).rescued, 1);
  const [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost];
  const read = (h: LabHost, p: string) => readFileSync(lab.hostPath(h, p), 'utf8');
  // no failure: the block ran to its end, the rescue did not run, always did, the play went on
  assert.equal(read(h1, '/etc/kubernetes/app/app.conf'), 'new\n');
  assert.equal(read(h1, '/etc/kubernetes/app/checked'), 'yes\n');
  assert.equal(read(h1, '/etc/kubernetes/app/done'), 'done\n');
  assert.equal(read(h1, '/root/blocks-order'), 'always\n');
  // rescued: the rest of the block was not run, the rescue's change stays, the play went on
  assert.equal(read(h2, '/etc/kubernetes/app/app.conf'), 'old\n');
  assert.ok(!existsSync(lab.hostPath(h2, '/etc/kubernetes/app/checked')));
  assert.equal(read(h2, '/etc/kubernetes/app/done'), 'done\n');
  assert.equal(read(h2, '/root/blocks-order'), 'always\n');
  // the rescue failed: always ran (the journal below), then rollback put /etc/kubernetes back as it was and
  // removed what always wrote (backed up as absent); nothing after the block ran
  assert.ok(!existsSync(lab.hostPath(h3, '/root/blocks-order')));
  assert.deepEqual(snapshot(h3), pristine[2], 'bk-03 restored to its state before the run');
  const lines = parseJournal(readFileSync(join(stateDir, 'runs', `${r.result!.runId}.jsonl`), 'utf8'));
  const ends = (host: string) => (lines as unknown as StepEndEvent[]).filter((l) => l.kind === 'step-end' && l.host === host).map((e) => `${e.step}:${e.status}`);
  assert.deepEqual(
    ends('bk-02').filter((x) => !x.startsWith('steps[0]')),
    ['steps[1].block[0]:changed', 'steps[1].block[1]:changed', 'steps[1].block[2]:failed', 'steps[1].rescue[0]:changed', 'steps[1].rescue[1]:ok', 'steps[1].always[0]:changed', 'steps[2]:changed'],
  );
  assert.deepEqual(
    ends('bk-03').filter((x) => !x.startsWith('steps[0]')),
    ['steps[1].block[0]:changed', 'steps[1].block[1]:changed', 'steps[1].block[2]:failed', 'steps[1].rescue[0]:changed', 'steps[1].rescue[1]:failed', 'steps[1].always[0]:changed'],
  );
});

const FRAGMENT = `vars:
  app_dir: /etc/kubernetes/imp
  flavour: default
steps:
  - name: App directory
    file: { path: "{{ app_dir }}", state: directory, mode: "0755" }
  - name: Flavoured config
    copy: { dest: "{{ app_dir }}/{{ flavour }}.conf", content: "{{ flavour }}\\n" }
    notify: Count restarts
handlers:
  - name: Count restarts
    shell: { script: 'echo "$1" >> /root/imports-handler', args: ["{{ flavour }}"], changed_when: true }
`;

const IMPORTER = `apiVersion: runbook/v1
name: imports-lab
hosts: bk-01
steps:
  - name: Blue
    import: fragments/app.yaml
    vars: { flavour: blue }
  - name: Default flavour
    import: fragments/app.yaml
`;

test("import: a fragment's steps run as a block with the import's vars over its defaults; its handler joins the play", { skip }, async () => {
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, 'fragments'), { recursive: true });
  writeFileSync(join(dir, 'fragments', 'app.yaml'), FRAGMENT);
  const file = join(dir, 'imports.yaml');
  writeFileSync(file, IMPORTER);
  const p = opts({ runbook: file, out: join(dir, 'imports-plan.json') });
  assert.equal((await planCmd(p)).exitCode, 2, p.stdout.text + p.stderr.text);
  const plan = JSON.parse(readFileSync(join(dir, 'imports-plan.json'), 'utf8'));
  assert.deepEqual(
    plan.hosts['bk-01'].steps.map((s: { step: string; status: string }) => `${s.step}:${s.status}`),
    ['steps[0].block[0]:change', 'steps[0].block[1]:change', 'steps[1].block[0]:change', 'steps[1].block[1]:change', 'handlers[0]:change'],
  );
  const o = opts({ runbook: file });
  const r = await applyCmd(o);
  assert.equal(r.exitCode, 0, o.stdout.text + o.stderr.text);
  const h = lab.hosts[0]!;
  assert.equal(readFileSync(lab.hostPath(h, '/etc/kubernetes/imp/blue.conf'), 'utf8'), 'blue\n');
  assert.equal(readFileSync(lab.hostPath(h, '/etc/kubernetes/imp/default.conf'), 'utf8'), 'default\n');
  // notified twice, run once at the end of the play, with the first import's vars
  assert.equal(readFileSync(lab.hostPath(h, '/root/imports-handler'), 'utf8'), 'blue\n');
  const lines = parseJournal(readFileSync(join(stateDir, 'runs', `${r.result!.runId}.jsonl`), 'utf8'));
  const ends = (lines as unknown as StepEndEvent[]).filter((l) => l.kind === 'step-end').map((e) => `${e.step}:${e.status}`);
  assert.deepEqual(ends, ['steps[0].block[0]:changed', 'steps[0].block[1]:changed', 'steps[1].block[0]:ok', 'steps[1].block[1]:changed', 'handlers[0]:changed']);
});

test('serial as a ramp: one host first, then the rest, in plan and apply (the journal has the batches)', { skip }, async () => {
  const file = join(dir, 'ramp.yaml');
  writeFileSync(
    file,
    `apiVersion: runbook/v1
name: ramp
hosts: all
serial: [1, "100%"]
steps:
  - name: Mark
    copy: { dest: /etc/kubernetes/ramp, content: "x\\n" }
`,
  );
  const p = opts({ runbook: file, json: true });
  await planCmd(p);
  const planBatches = p.stdout.text.split('\n').filter((l) => l.includes('"batch-start"')).map((l) => JSON.parse(l).hosts);
  assert.deepEqual(planBatches, [['bk-01'], ['bk-02', 'bk-03']]);
  const o = opts({ runbook: file });
  const r = await applyCmd(o);
  assert.equal(r.exitCode, 0, o.stdout.text + o.stderr.text);
  const lines = parseJournal(readFileSync(join(stateDir, 'runs', `${r.result!.runId}.jsonl`), 'utf8')) as unknown as { kind: string; hosts?: string[] }[];
  assert.deepEqual(lines.filter((l) => l.kind === 'batch-start').map((l) => l.hosts), [['bk-01'], ['bk-02', 'bk-03']]);
});
