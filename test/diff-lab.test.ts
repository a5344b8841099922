/**
 * `plan --diff` / `apply --dry-run --diff` / `apply --diff` against real OpenSSH hosts (the lab):
 * text diffs with secrets redacted (and a secret-writing step's removed lines hidden), new, binary,
 * large and private files summarised, mode/owner changes, a removed file. The files live under
 * /root, which only root can read: one host logs in as root, the other as `ops2` and becomes root,
 * so the current content is read through become. Planning changes nothing on the hosts.
 * Also: `copy.src` inside an imported fragment is read relative to the fragment.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabHost } from '../src/lab/hosts.js';
import { addLabUsers } from '../src/lab/users.js';
import { applyCmd } from '../src/cli/apply.js';
import { planCmd } from '../src/cli/plan.js';
import { showCmd } from '../src/cli/show.js';
import { parseJournal } from '../src/engine/journal.js';
import type { StepEndEvent } from '../src/engine/events.js';
import type { FileDiff } from '../src/actions/diff.js';
import { Capture } from './support/capture.js';
import { cmdOptions as opts, dir, lab, snapshot as treesOf, stateDir, useLab } from './support/lab.js';

const CANARY = 'CANARY-db-pass-91e4';

const RUNBOOK = `apiVersion: runbook/v1
name: diff-lab
hosts: all
become: true
secrets: [db_password]
vars:
  db_password: ${CANARY}
steps:
  - name: Secret config
    copy: { dest: /root/diff/app.conf, content: "user=app\\npassword={{ db_password }}\\nport=5432\\n" }
  - name: Plain config
    copy: { dest: /root/diff/plain.conf, content: "a\\nb\\nnew\\n" }
  - name: New file
    copy: { dest: /root/diff/new.conf, content: "fresh\\n", mode: "0644", owner: "0" }
  - name: Binary
    copy: { dest: /root/diff/blob.bin, src: files/blob.bin }
  - name: Large
    copy: { dest: /root/diff/large.txt, src: files/large.txt }
  - name: Private key
    copy: { dest: /root/diff/key.pem, content: "-----BEGIN KEY-----\\nnew\\n", mode: "0600" }
  - name: Mode and owner only
    file: { path: /root/diff/mode.conf, mode: "0640", owner: "65534" }
  - name: Removed
    file: { path: /root/diff/gone.conf, state: absent }
  - name: Already right
    copy: { dest: /root/diff/same.conf, content: "same\\n" }
`;

function seed(h: LabHost): void {
  const d = lab.hostPath(h, '/root/diff');
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  chmodSync(lab.hostPath(h, '/root'), 0o700);
  const put = (name: string, data: string | Buffer, mode = 0o644) => {
    writeFileSync(join(d, name), data);
    chmodSync(join(d, name), mode);
  };
  put('app.conf', `user=app\npassword=${CANARY}\nport=5431\n`);
  put('plain.conf', 'a\nb\nold\n');
  put('blob.bin', Buffer.from([0, 1, 2, 3, 0, 255]));
  put('large.txt', 'x'.repeat(80 * 1024));
  put('key.pem', '-----BEGIN KEY-----\nold\n', 0o600);
  put('mode.conf', 'm\n');
  put('gone.conf', 'bye\n');
  put('same.conf', 'same\n');
}

const snapshot = (h: LabHost) => treesOf(h, ['/root/diff']);

const skip = useLab({
  start: { count: 2, firstAddress: '127.1.232.1', namePrefix: 'df' },
  tmp: 'runbook-diff-lab-',
  requires: ['sudo', 'nsenter', 'openssl'],
  // df-02 logs in as ops2 and becomes root: /root/diff is readable only through become
  inventory: (l) => l.inventoryYaml().replace(/(df-02.*ansible_user: )root/, '$1ops2'),
  runbook: { file: 'diff.yaml', text: RUNBOOK },
  setup: () => {
    addLabUsers(lab, lab.hosts[1]!);
    mkdirSync(join(dir, 'files'));
    writeFileSync(join(dir, 'files', 'blob.bin'), Buffer.from([0, 9, 9, 9, 0, 255, 7]));
    writeFileSync(join(dir, 'files', 'large.txt'), 'y'.repeat(90 * 1024));
    for (const h of lab.hosts) seed(h);
  },
});

const EXPECTED: Record<string, FileDiff | undefined> = {
  'Secret config': {
    path: '/root/diff/app.conf',
    unified: ['--- /root/diff/app.conf', '+++ /root/diff/app.conf', '@@ -1,3 +1,3 @@', ' user=app', ' password=***', '-*** (previous line hidden: the step writes a secret)', '+port=5432'].join('\n'),
  },
  'Plain config': { path: '/root/diff/plain.conf', unified: ['--- /root/diff/plain.conf', '+++ /root/diff/plain.conf', '@@ -1,3 +1,3 @@', ' a', ' b', '-old', '+new'].join('\n') },
  'New file': { path: '/root/diff/new.conf', state: 'absent → file', mode: 'none → 0644', owner: 'none → 0', unified: ['--- /dev/null', '+++ /root/diff/new.conf', '@@ -0,0 +1,1 @@', '+fresh'].join('\n') },
  Binary: { path: '/root/diff/blob.bin', content: 'binary, 6 B → 7 B' },
  Large: { path: '/root/diff/large.txt', content: '' },
  'Private key': { path: '/root/diff/key.pem', content: '' },
  'Mode and owner only': { path: '/root/diff/mode.conf', mode: '0644 → 0640', owner: '0:0 → 65534:0' },
  Removed: { path: '/root/diff/gone.conf', state: 'file → absent', unified: ['--- /root/diff/gone.conf', '+++ /dev/null', '@@ -1,1 +0,0 @@', '-bye'].join('\n') },
  'Already right': undefined,
};

function checkDiffs(steps: { name: string; diff?: FileDiff }[], host: string): void {
  for (const [name, want] of Object.entries(EXPECTED)) {
    const got = steps.find((s) => s.name === name)?.diff;
    if (want === undefined) {
      assert.equal(got, undefined, `${host} ${name}`);
      continue;
    }
    assert.ok(got, `${host} ${name}: no diff`);
    if (name === 'Large') assert.match(got.content!, /^large file \(over 64 KiB\): 80 KiB → 90 KiB, sha256 [0-9a-f]{12}… → [0-9a-f]{12}…$/);
    else if (name === 'Private key') assert.match(got.content!, /^private file \(mode 0600\): content not shown, 24 B → 24 B, sha256 /);
    else assert.deepEqual(got, want, `${host} ${name}`);
  }
}

test('plan --diff: diffs per host, read through become, secrets redacted, in the output, --json and the saved plan; nothing changes', { skip }, async () => {
  const before = lab.hosts.map(snapshot);
  const p = opts({ diff: true, out: join(dir, 'plan.json') });
  assert.equal((await planCmd(p)).exitCode, 2, p.stdout.text + p.stderr.text);
  const text = p.stdout.text;
  assert.ok(!text.includes(CANARY), 'the secret is never shown');
  for (const line of ['diff /root/diff/plain.conf', '-old', '+new', '│ content: binary, 6 B → 7 B', '│ mode: 0644 → 0640', '│ owner: 0:0 → 65534:0', '│ state: file → absent', '-bye', ' password=***', '+port=5432']) {
    assert.ok(text.includes(line), `${line} missing from:\n${text}`);
  }
  assert.equal(text.match(/diff \/root\/diff\/plain\.conf/g)?.length, 2, 'one per host');
  const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8'));
  for (const h of lab.hosts) checkDiffs(plan.hosts[h.name].steps, h.name);
  assert.ok(!readFileSync(join(dir, 'plan.json'), 'utf8').includes(CANARY));

  const j = opts({ diff: true, json: true });
  assert.equal((await planCmd(j)).exitCode, 2, j.stderr.text);
  const ends = j.stdout.text.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.kind === 'step-end') as StepEndEvent[];
  for (const h of lab.hosts) checkDiffs(ends.filter((e) => e.host === h.name), h.name);
  assert.ok(!j.stdout.text.includes(CANARY));

  const dry = opts({ diff: true, dryRun: true });
  assert.equal((await applyCmd(dry)).exitCode, 2, dry.stderr.text);
  assert.ok(dry.stdout.text.includes('diff /root/diff/plain.conf') && dry.stdout.text.includes('+new'), dry.stdout.text);

  const without = opts();
  assert.equal((await planCmd(without)).exitCode, 2);
  assert.ok(!without.stdout.text.includes('diff /root/'), 'no diffs unless asked');
  lab.hosts.forEach((h, i) => assert.deepEqual(snapshot(h), before[i], `${h.name} unchanged by planning`));
});

test('apply --diff: the journal carries the redacted diffs; afterwards plan --diff shows none', { skip }, async () => {
  const a = opts({ diff: true });
  const r = await applyCmd(a);
  assert.equal(r.exitCode, 0, a.stdout.text + a.stderr.text);
  assert.ok(a.stdout.text.includes('+new') && !a.stdout.text.includes(CANARY));
  const journal = readFileSync(r.result!.journalPath!, 'utf8');
  assert.ok(!journal.includes(CANARY), 'the secret never reaches the journal');
  const ends = (parseJournal(journal) as unknown as StepEndEvent[]).filter((e) => e.kind === 'step-end');
  for (const h of lab.hosts) checkDiffs(ends.filter((e) => e.host === h.name), h.name);
  assert.equal(readFileSync(lab.hostPath(lab.hosts[1]!, '/root/diff/plain.conf'), 'utf8'), 'a\nb\nnew\n');
  // runbook show renders the journaled diffs as apply --diff did (redacted as journaled); --no-diff leaves them out
  const shown = new Capture();
  showCmd({ id: r.result!.runId, stateDir, stdout: shown });
  assert.ok(!shown.text.includes(CANARY));
  const block = (text: string, host: string) => {
    const lines = text.split('\n');
    const at = lines.findIndex((l, i) => l.includes('diff /root/diff/app.conf') && lines[i - 1]?.startsWith(`[${host}]`));
    return lines.slice(at - 1, at + 8).join('\n');
  };
  for (const h of lab.hosts) {
    assert.match(block(a.stdout.text, h.name), /password=\*\*\*\n.*previous line hidden/, a.stdout.text);
    assert.equal(block(shown.text, h.name), block(a.stdout.text, h.name), shown.text);
  }
  for (const line of ['diff /root/diff/plain.conf', '-old', '+new', '│ content: binary, 6 B → 7 B', '│ mode: 0644 → 0640', '│ state: file → absent', '-bye']) assert.ok(shown.text.includes(line), `${line} missing from:\n${shown.text}`);
  const bare = new Capture();
  showCmd({ id: r.result!.runId, stateDir, stdout: bare, diff: false });
  assert.ok(!bare.text.includes('diff /root/') && bare.text.includes('Plain config'), bare.text);
  const p = opts({ diff: true });
  assert.equal((await planCmd(p)).exitCode, 0, p.stdout.text);
  assert.ok(!p.stdout.text.includes('diff /root/'), p.stdout.text);
});

test("copy.src in an imported fragment is read from the fragment's directory", { skip }, async () => {
  mkdirSync(join(dir, 'shared', 'files'), { recursive: true });
  writeFileSync(join(dir, 'shared', 'files', 'motd'), 'from the fragment\n');
  writeFileSync(join(dir, 'files', 'motd'), 'from the runbook directory (wrong)\n');
  writeFileSync(join(dir, 'shared', 'motd.yaml'), '- name: Message of the day\n  copy: { dest: /root/diff/motd, src: files/motd }\n');
  const file = join(dir, 'importer.yaml');
  writeFileSync(file, 'apiVersion: runbook/v1\nname: imported-src\nhosts: df-01\nsteps:\n  - name: Motd\n    import: shared/motd.yaml\n');
  const p = opts({ runbook: file, diff: true });
  assert.equal((await planCmd(p)).exitCode, 2, p.stdout.text + p.stderr.text);
  assert.ok(p.stdout.text.includes('+from the fragment'), p.stdout.text);
  const a = opts({ runbook: file });
  assert.equal((await applyCmd(a)).exitCode, 0, a.stdout.text + a.stderr.text);
  assert.equal(readFileSync(lab.hostPath(lab.hosts[0]!, '/root/diff/motd'), 'utf8'), 'from the fragment\n');
});
