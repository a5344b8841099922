/**
 * The safety contract against real OpenSSH hosts (the lab): what is restored is what was there,
 * and rollback never reports success after losing data (issue 15).
 *  - every change is classified: a removed tree under 1 MiB comes back exactly (modes, owners,
 *    symlinks); one too big to keep makes its host `failed (not restored: PATH)`, exit 4;
 *    `validate` warns and `plan` marks what would be irreversible;
 *  - hosts stopped by any_errors_fatal / max_fail_percentage are `aborted` and rolled back;
 *  - an unreadable backup manifest is an error naming host, path and errno, never "no backup";
 *  - fetch writes a relative dest into the operator's working directory, 0600;
 *  - backups are taken before any later step that may change the host, output in runbook order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabHost } from '../src/lab/hosts.js';
import { planCmd } from '../src/cli/plan.js';
import { loadRunbookFile } from '../src/runbook/load.js';
import { formatDiagnostic } from '../src/errors.js';
import type { StepEndEvent } from '../src/engine/events.js';
import { cmdOptions, dir, inv, lab, snapshot as snap, stateDir, useLab } from './support/lab.js';
import { APP, apply, resetHosts, runbookWriter } from './support/safety.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const writeRunbook = runbookWriter('safety');

const skip = useLab({
  start: { count: 3, firstAddress: '127.1.250.1', namePrefix: 'safe' },
  tmp: 'runbook-safety-lab-',
});

test('a removed tree under 1 MiB comes back exactly; one too big to keep leaves its host failed (not restored), exit 4, never rolled-back', { skip }, async () => {
  resetHosts();
  const [h1, h2] = lab.hosts as [LabHost, LabHost, LabHost];
  for (const h of lab.hosts) {
    const data = lab.hostPath(h, '/etc/kubernetes/data');
    mkdirSync(join(data, 'sub'), { recursive: true, mode: 0o750 });
    writeFileSync(join(data, 'secret.key'), `key of ${h.name}\n`, { mode: 0o600 });
    writeFileSync(join(data, 'sub', 'x.txt'), 'x\n');
    symlinkSync('secret.key', join(data, 'link'));
    for (const p of [data, join(data, 'secret.key'), join(data, 'sub')]) chownSync(p, 1234, 1234);
  }
  // only on h2: a tree over the keep limit
  mkdirSync(lab.hostPath(h2, '/etc/kubernetes/big'), { recursive: true });
  writeFileSync(lab.hostPath(h2, '/etc/kubernetes/big/blob'), randomBytes(2 * 1024 * 1024));
  const before = lab.hosts.map((h) => snap(h));
  const rb = writeRunbook(`on_failure: rollback
steps:
  - name: Back up the app
    backup: { paths: ["${APP}"], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Change the app
    copy: { dest: "${APP}/a.conf", content: "changed\\n" }
  - name: Remove the data tree (outside the backup)
    file: { path: /etc/kubernetes/data, state: absent }
  - name: Remove the big tree (outside the backup)
    file: { path: /etc/kubernetes/big, state: absent }
  - name: Fail
    command: { argv: ["false"], changed_when: false }
`);
  const { r, status, events, text } = await apply(rb);
  assert.equal(r.exitCode, 4, text);
  assert.equal(status[h1.name], 'rolled-back', text);
  assert.equal(status[h2.name], 'failed', text);
  const row = r.result!.recap.find((x) => x.host === h2.name)!;
  assert.match(row.message ?? '', /not restored: \/etc\/kubernetes\/big/);
  const removal = events.find((e): e is StepEndEvent => e.kind === 'step-end' && e.host === h2.name && e.step === 'steps[3]');
  assert.equal(removal?.change, 'irreversible');
  assert.deepEqual(removal?.notRestored, ['/etc/kubernetes/big']);
  const kept = events.find((e): e is StepEndEvent => e.kind === 'step-end' && e.host === h1.name && e.step === 'steps[2]');
  assert.equal(kept?.change, 'reversible');
  // the private key never went into the journal
  const journal = readFileSync(join(stateDir, 'runs', `${r.result!.runId}.jsonl`), 'utf8');
  assert.doesNotMatch(journal, new RegExp(Buffer.from(`key of ${h1.name}\n`).toString('base64')));
  lab.hosts.forEach((h, i) => {
    const now = snap(h);
    if (h === h2) {
      assert.equal(existsSync(lab.hostPath(h, '/etc/kubernetes/big')), false);
      now.delete('/etc/kubernetes/big');
      const want = new Map(before[i]);
      for (const k of [...want.keys()]) if (k.startsWith('/etc/kubernetes/big')) want.delete(k);
      assert.deepEqual(now, want, `${h.name}: everything but the big tree restored`);
    } else assert.deepEqual(now, before[i], `${h.name} not restored byte-identical`);
    const data = lab.hostPath(h, '/etc/kubernetes/data');
    assert.equal(statSync(data).uid, 1234, 'owner kept');
    assert.equal(statSync(join(data, 'secret.key')).gid, 1234, 'group kept');
    assert.equal(statSync(join(data, 'secret.key')).mode & 0o7777, 0o600);
    assert.equal(lstatSync(join(data, 'link')).isSymbolicLink(), true);
  });
});

test('validate warns with file:line:col on irreversible steps of a rollback runbook; plan marks them', { skip }, async () => {
  resetHosts();
  const rb = writeRunbook(`on_failure: rollback
steps:
  - name: Restart something
    command: { argv: [touch, "${APP}/restarted"], creates: "${APP}/restarted" }
  - name: Drop the cache
    file: { path: /etc/kubernetes/cache, state: absent }
`);
  const loaded = await loadRunbookFile(rb);
  const lines = loaded.diagnostics.map(formatDiagnostic);
  assert.ok(lines.some((l) => /rb-\d+\.yaml:4:1: warning: on_failure: rollback with no backup step/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /rb-\d+\.yaml:6:5: warning: step "Restart something": command step before any backup/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /rb-\d+\.yaml:8:5: warning: step "Drop the cache": file: state: absent before any backup/.test(l)), lines.join('\n'));
  const o = cmdOptions({ runbook: rb });
  const p = await planCmd(o);
  assert.equal(p.exitCode, 2, o.stdout.text + o.stderr.text);
  assert.match(o.stdout.text, /Restart something.*\(irreversible: rollback cannot undo it\)/);
});

test('any_errors_fatal and max_fail_percentage: the stopped hosts are aborted and rolled back', { skip }, async () => {
  for (const policy of ['any_errors_fatal: true', 'max_fail_percentage: 30']) {
    resetHosts();
    const before = lab.hosts.map((h) => snap(h));
    const first = lab.hosts[0]!.name;
    const rb = writeRunbook(`on_failure: rollback
${policy}
steps:
  - name: Back up
    backup: { paths: ["${APP}"], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Change
    copy: { dest: "${APP}/a.conf", content: "changed on {{ inventory_hostname }}\\n" }
    notify: Restart
  - name: Fail on the first host, the others are busy meanwhile
    shell: { script: 'if [ "$1" = "$2" ]; then exit 3; fi; sleep 2', args: ["{{ inventory_hostname }}", "${first}"], changed_when: false }
  - name: Change more
    copy: { dest: "${APP}/b.conf", content: "more\\n" }
handlers:
  # an aborted host runs no handler (that would be a change after the stop)
  - name: Restart
    command: { argv: [touch, /etc/kubernetes/handler-ran], creates: /etc/kubernetes/handler-ran }
`);
    const { r, status, events, text } = await apply(rb);
    assert.equal(r.exitCode, 6, `${policy}\n${text}`);
    assert.equal(status[first], 'rolled-back', text);
    for (const h of lab.hosts.slice(1)) {
      assert.equal(status[h.name], 'aborted', `${policy}: ${h.name}\n${text}`);
      assert.ok(events.some((e) => e.kind === 'host-end' && e.host === h.name && e.status === 'aborted'), 'JSON events say aborted');
      assert.ok(!events.some((e) => e.kind === 'step-end' && e.host === h.name && e.step === 'steps[3]'), 'the aborted host did not run its next step');
    }
    lab.hosts.forEach((h, i) => assert.deepEqual(snap(h), before[i], `${policy}: ${h.name} not restored`));
  }
});

test('backup: an unreadable manifest is an error naming host, path and errno, never "no backup here"', { skip }, async () => {
  resetHosts();
  const h = lab.hosts[0]!;
  const to = '/var/backups/runbook/fixed';
  mkdirSync(lab.hostPath(h, `${to}/manifest.json`), { recursive: true });
  mkdirSync(lab.hostPath(h, `${to}/files`), { recursive: true });
  writeFileSync(lab.hostPath(h, `${to}/files/important`), 'an older backup\n');
  const rb = writeRunbook(`on_failure: rollback
steps:
  - name: Back up
    backup: { paths: ["${APP}"], to: "${to}" }
  - name: Change
    copy: { dest: "${APP}/a.conf", content: "changed\\n" }
`);
  const { status, r, text } = await apply(rb, { limit: h.name });
  assert.notEqual(status[h.name], 'ok', text);
  const msg = r.result!.recap.find((x) => x.host === h.name)!.message ?? '';
  assert.match(msg, new RegExp(`cannot read ${to}/manifest\\.json on ${h.name}: .*\\(E[A-Z]+\\)`), msg);
  assert.equal(readFileSync(lab.hostPath(h, `${to}/files/important`), 'utf8'), 'an older backup\n', 'the older backup is untouched');
  assert.equal(readFileSync(lab.hostPath(h, `${APP}/a.conf`), 'utf8'), `original on ${h.name}\n`);
});

test('fetch writes a relative dest into the working directory, mode 0600, nothing in the temp dir', { skip }, async () => {
  resetHosts();
  const work = mkdtempSync(join(dir, 'work-'));
  const rb = writeRunbook(`steps:
  - name: Fetch the config
    fetch: { src: "${APP}/a.conf", dest: "./conf-{{ host.name }}.conf" }
`);
  const r = spawnSync(process.execPath, [MAIN, 'apply', rb, '-i', inv, '--state-dir', stateDir], { cwd: work, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  for (const h of lab.hosts) {
    const f = join(work, `conf-${h.name}.conf`);
    assert.equal(readFileSync(f, 'utf8'), `original on ${h.name}\n`);
    assert.equal(statSync(f).mode & 0o777, 0o600);
    assert.equal(existsSync(join(tmpdir(), `conf-${h.name}.conf`)), false, 'nothing in the system temp dir');
  }
});

/** The backup-order cases: each fails after quiet, looped, skipped or register-dependent steps; rollback restores the pre-run bytes. */
const ORDER_CASES: Record<string, string> = {
  'a quiet command (changed_when: false) right after the backup': `
  - name: Quiet rewrite
    command: { argv: [sh, -c, 'echo rewritten > "$1"', sh, "${APP}/a.conf"], changed_when: false }
`,
  'read-only steps, a when-skipped step, then a loop': `
  - name: Look
    assert: { that: ["true"] }
  - name: Skipped
    copy: { dest: "${APP}/skipped.conf", content: "no\\n" }
    when: "false"
  - name: Loop
    loop: [a, c]
    copy: { dest: "${APP}/{{ item }}.conf", content: "looped {{ item }}\\n" }
`,
  "a read-only step that needs the backup's registered result": `
  - name: Uses the backup's result
    assert: { that: ["bk.dir != ''"] }
  - name: Quiet rewrite
    shell: { script: 'echo rewritten > "$1"', args: ["${APP}/a.conf"], changed_when: false }
`,
};

for (const [name, middle] of Object.entries(ORDER_CASES)) {
  test(`backup order: ${name}; the failure restores the pre-run bytes, output in runbook order`, { skip }, async () => {
    resetHosts();
    const before = lab.hosts.map((h) => snap(h));
    const rb = writeRunbook(`on_failure: rollback
steps:
  - name: Read-only first
    assert: { that: ["true"] }
  - name: Back up
    backup: { paths: ["${APP}"], to: "/var/backups/runbook/{{ run.id }}" }
    register: bk
${middle}
  - name: Fail
    command: { argv: ["false"], changed_when: false }
`);
    const { r, events, text } = await apply(rb);
    assert.equal(r.exitCode, 6, text);
    lab.hosts.forEach((h, i) => assert.deepEqual(snap(h), before[i], `${h.name}: rollback did not restore the pre-run bytes\n${text}`));
    for (const h of lab.hosts) {
      const order = events.filter((e): e is StepEndEvent => e.kind === 'step-end' && e.host === h.name && !!e.step.startsWith('steps')).map((e) => e.index);
      const sorted = [...order].sort((a, b) => a - b);
      assert.deepEqual(order, sorted, `${h.name}: output out of runbook order ${order.join(',')}`);
      const backup = events.find((e): e is StepEndEvent => e.kind === 'step-end' && e.host === h.name && e.step === 'steps[1]');
      assert.equal(backup?.status, 'changed', 'the backup was taken');
    }
  });
}

const hasNsenter = spawnSync('sh', ['-c', 'command -v nsenter && command -v mount']).status === 0;

test('the journal disk full (a small tmpfs state dir): the host stops before its next change and is rolled back, and the run says so', { skip: skip || (process.getuid?.() === 0 ? false : 'needs root to mount a tmpfs') }, async () => {
  resetHosts();
  const h = lab.hosts[0]!;
  writeFileSync(lab.hostPath(h, `${APP}/big.conf`), 'x'.repeat(200 * 1024), { mode: 0o644 });
  const before = snap(h);
  const small = mkdtempSync(join(dir, 'small-state-'));
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'tmpfs', small], { encoding: 'utf8' });
  if (m.status !== 0) return void test.skip?.(`cannot mount a tmpfs: ${m.stderr}`);
  try {
    const rb = writeRunbook(`on_failure: rollback
steps:
  - name: Back up
    backup: { paths: ["${APP}"], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Small change
    copy: { dest: "${APP}/a.conf", content: "changed\\n" }
  - name: Big change (its undo record does not fit on the state disk)
    copy: { dest: "${APP}/big.conf", content: "small now\\n" }
  - name: Must not run
    copy: { dest: "${APP}/never.conf", content: "never\\n" }
`);
    const { r, text, events } = await apply(rb, { limit: h.name, stateDir: small });
    assert.notEqual(r.exitCode, 0, text);
    const row = r.result!.recap[0]!;
    assert.ok(row.status === 'aborted' || row.status === 'rolled-back', text);
    assert.match(row.message ?? '', /journal .* cannot be written: .*ENOSPC.*rolled back/, text);
    assert.ok(events.some((e) => e.kind === 'warning' && /journal .*stopping every host before its next change/.test(e.message)), 'the run says so');
    assert.equal(existsSync(lab.hostPath(h, `${APP}/never.conf`)), false, 'no change after the journal failed');
    assert.deepEqual(snap(h), before, 'restored byte-identical');
  } finally {
    spawnSync('umount', [small]);
  }
});

test('a lock that cannot be released is a warning in the recap', { skip: skip || (hasNsenter ? false : 'nsenter not installed') }, async () => {
  resetHosts();
  const h = lab.hosts[0]!;
  // the run itself makes the host's lock directory read-only (in the host's own mount namespace)
  const rb = writeRunbook(`steps:
  - name: Change
    copy: { dest: "${APP}/a.conf", content: "changed\\n" }
  - name: Lock directory read-only
    command: { argv: [mount, -o, "remount,bind,ro", /var/lib/runbook], changed_when: false }
`);
  try {
    const { r, text } = await apply(rb, { limit: h.name, json: false });
    assert.equal(r.exitCode, 0, text);
    const row = r.result!.recap[0]!;
    assert.equal(row.status, 'ok');
    assert.match((row.warnings ?? []).join('\n'), /the lock \/var\/lib\/runbook\/lock could not be released/);
    assert.match(text, /warning: safe-01: the lock \/var\/lib\/runbook\/lock could not be released/);
  } finally {
    spawnSync('nsenter', ['-t', String(h.pid), '-m', 'mount', '-o', 'remount,bind,rw', '/var/lib/runbook']);
    rmSync(lab.hostPath(h, '/var/lib/runbook/lock'), { force: true });
  }
});

test('journals live in one place whatever the working directory; apply prints the rollback command, which works from anywhere', { skip }, async () => {
  resetHosts();
  const repo = mkdtempSync(join(dir, 'repo-'));
  assert.equal(spawnSync('git', ['init', '-q', repo]).status, 0);
  mkdirSync(join(repo, 'ops'));
  const xdg = join(dir, 'xdg');
  const env = { ...process.env, XDG_STATE_HOME: xdg };
  const elsewhere = mkdtempSync(join(dir, 'elsewhere-'));
  const third = mkdtempSync(join(dir, 'third-'));
  const body = `steps:
  - name: Back up
    backup: { paths: ["${APP}"], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Change
    copy: { dest: "${APP}/a.conf", content: "changed\\n" }
`;
  const inRepo = join(repo, 'ops', 'rb.yaml');
  writeFileSync(inRepo, `apiVersion: runbook/v1\nname: in-repo\nhosts: all\n${body}`);
  const outside = join(dir, `rb-outside.yaml`);
  writeFileSync(outside, `apiVersion: runbook/v1\nname: outside\nhosts: all\n${body}`);
  const h = lab.hosts[0]!;
  const original = readFileSync(lab.hostPath(h, `${APP}/a.conf`), 'utf8');
  for (const [rb, where] of [[inRepo, join(repo, '.runbook', 'runs')], [outside, join(xdg, 'runbook', 'runs')]] as const) {
    const a = spawnSync(process.execPath, [MAIN, 'apply', rb, '-i', inv, '-l', h.name], { cwd: elsewhere, env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(a.status, 0, a.stdout + a.stderr);
    const m = /to roll this run back: runbook rollback (\S+)\n/.exec(a.stdout);
    assert.ok(m, a.stdout);
    const id = m[1]!;
    assert.ok(existsSync(join(where, `${id}.jsonl`)), `journal in ${where}`);
    assert.equal(existsSync(join(elsewhere, '.runbook')), false, 'nothing in the working directory');
    assert.equal(readFileSync(lab.hostPath(h, `${APP}/a.conf`), 'utf8'), 'changed\n');
    const r = spawnSync(process.execPath, [MAIN, 'rollback', id], { cwd: third, env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(readFileSync(lab.hostPath(h, `${APP}/a.conf`), 'utf8'), original, 'rolled back from another directory');
  }
});

/**
 * A ProxyCommand that passes what the client sends at `bytesPerSecond` (the replies unhindered): an
 * upload as slow on every machine, so a test can place a timeout inside it whatever the machine's speed.
 */
function throttledProxy(bytesPerSecond: number): string {
  const script = join(dir, 'throttle.mjs');
  writeFileSync(
    script,
    [
      "import { connect } from 'node:net';",
      "import { Transform } from 'node:stream';",
      'const [host, port] = process.argv.slice(2);',
      'const up = connect({ host, port: Number(port) });',
      `const slow = new Transform({ transform(chunk, _e, done) { setTimeout(() => done(null, chunk), (chunk.length * 1000) / ${bytesPerSecond}); } });`,
      'process.stdin.pipe(slow).pipe(up);',
      'up.pipe(process.stdout);',
      "up.on('close', () => process.exit(0));",
      "up.on('error', () => process.exit(1));",
      '',
    ].join('\n'),
  );
  return `${process.execPath} ${script} %h %p`;
}

test('a step timeout during a large copy cancels the transfer before rollback: nothing lands afterwards, no temp file is left', { skip }, async () => {
  resetHosts();
  const h = lab.hosts[0]!;
  mkdirSync(lab.hostPath(h, '/etc/kubernetes/other'), { recursive: true });
  const big = join(dir, 'big.bin');
  // 8 MiB through a proxy passing 2 MiB/s: the upload takes 4 s on any machine, the probe (hashing 8 MiB)
  // a small part of the 1 s timeout. Hashing 256 MiB, the probe took 1.8 s on a slower machine and the
  // timeout hit it before anything was transferred.
  writeFileSync(big, randomBytes(8 * 1024 * 1024));
  const kh = lab.knownHostsPath;
  const inventory = join(dir, 'throttled.yaml');
  writeFileSync(
    inventory,
    lab.inventoryYaml().replace(
      /^( {4}ansible_ssh_common_args: ).*$/m,
      `$1${JSON.stringify(`-o ProxyCommand="${throttledProxy(2 * 1024 * 1024)}" -o UserKnownHostsFile=${kh} -o StrictHostKeyChecking=yes`)}`,
    ),
  );
  const before = snap(h);
  const rb = writeRunbook(`on_failure: rollback
steps:
  - name: Back up
    backup: { paths: ["${APP}"], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Change
    copy: { dest: "${APP}/a.conf", content: "changed\\n" }
  - name: Large copy outside the backup
    copy: { src: "${big}", dest: /etc/kubernetes/other/big.bin }
    timeout: 1s
`);
  try {
    const started = Date.now();
    const { r, text, events } = await apply(rb, { limit: h.name, inventory });
    const row = r.result!.recap[0]!;
    assert.equal(row.status, 'rolled-back', text);
    assert.match(row.message ?? '', /timed out after 1000 ms/);
    const end = events.find((e): e is StepEndEvent => e.kind === 'step-end' && e.step === 'steps[2]')!;
    assert.ok(end.commands.some((c) => c.startsWith('write /etc/kubernetes/other/big.bin')), `the timeout must hit the transfer: ${JSON.stringify(end)}`);
    assert.ok(end.durationMs < 3_000, `stopped at once, not when the upload ended (${end.durationMs} ms)`);
    // the transfer must not go on behind the rollback's back: wait past the time it would have landed
    await new Promise((res) => setTimeout(res, Math.max(0, started + 6_000 - Date.now())));
    assert.deepEqual(readdirSync(lab.hostPath(h, '/etc/kubernetes/other')), [], 'neither the file nor a temp file');
    assert.deepEqual(snap(h), before);
  } finally {
    rmSync(big, { force: true });
  }
});

/** The audit's case (issue: any backup made every command "covered"): what a command changes counts as put back only when it declares it and a backup holds it. */
test('a command is covered only by a backup holding every path it declares in writes: undeclared, it is not restored (exit 4, never rolled-back); validate and plan say so first', { skip }, async () => {
  resetHosts();
  const h = lab.hosts[0]!;
  const cfg = '/var/lib/kubelet/config.yaml';
  const original = 'kind: KubeletConfiguration\n';
  writeFileSync(lab.hostPath(h, '/etc/kubernetes/admin.conf'), 'admin\n');
  const variant = (paths: string, writes: string) =>
    writeRunbook(`on_failure: rollback
steps:
  - name: Back up
    backup: { paths: [${paths}], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Raise maxPods
    command: { argv: [sh, -c, 'echo "maxPods: 10" >> "$1"', sh, ${cfg}], changed_when: true${writes} }
  - name: Fail
    command: { argv: ["false"], changed_when: false }
`);
  const cases: [string, string, string, number, RegExp | undefined][] = [
    ['undeclared', '/etc/kubernetes/admin.conf', '', 4, /not restored: what step "Raise maxPods" \(command\) changed/],
    ['declared, outside the backup', '/etc/kubernetes/admin.conf', `, writes: [${cfg}]`, 4, new RegExp(`not restored: ${cfg}$`)],
    ['declared, under the backup', '/etc/kubernetes/admin.conf, /var/lib/kubelet', `, writes: ["{{ '${cfg}' }}"]`, 6, undefined],
  ];
  for (const [what, paths, writes, exit, lost] of cases) {
    mkdirSync(lab.hostPath(h, '/var/lib/kubelet'), { recursive: true });
    writeFileSync(lab.hostPath(h, cfg), original);
    const rb = variant(paths, writes);
    const warnings = (await loadRunbookFile(rb)).diagnostics.map(formatDiagnostic);
    const warned = warnings.some((l) => /rb-\d+\.yaml:8:5: warning: step "Raise maxPods": command step declares no `writes:`/.test(l));
    assert.equal(warned, what === 'undeclared', `${what}: ${warnings.join('\n')}`);
    const o = cmdOptions({ runbook: rb, limit: h.name });
    assert.equal((await planCmd(o)).exitCode, 2, o.stdout.text + o.stderr.text);
    const mark = /Raise maxPods \(irreversible: rollback cannot (.*)\)/.exec(o.stdout.text)?.[1];
    assert.equal(mark, exit === 6 ? undefined : what === 'undeclared' ? 'undo it' : `put back ${cfg}`, `${what}: ${o.stdout.text}`);
    const { r, rows, events, text } = await apply(rb, { limit: h.name });
    assert.equal(r.exitCode, exit, `${what}: ${text}`);
    const row = rows[h.name]!;
    const raised = events.find((e): e is StepEndEvent => e.kind === 'step-end' && e.step === 'steps[1]');
    assert.equal(readFileSync(lab.hostPath(h, '/etc/kubernetes/admin.conf'), 'utf8'), 'admin\n');
    if (lost) {
      assert.equal(row.status, 'failed', text);
      assert.match(row.message ?? '', lost);
      assert.equal(raised?.change, 'irreversible');
      // honest: the change is still there, and the recap says so
      assert.equal(readFileSync(lab.hostPath(h, cfg), 'utf8'), `${original}maxPods: 10\n`);
    } else {
      assert.equal(row.status, 'rolled-back', text);
      assert.equal(raised?.change, 'covered');
      assert.equal(readFileSync(lab.hostPath(h, cfg), 'utf8'), original, 'put back from the backup');
    }
  }
  rmSync(lab.hostPath(h, '/var/lib/kubelet/config.yaml'), { force: true });
});

test('backup and symlinks: one inside a root pointing outside is refused before any change (plan says so too); a root that is a symlink is followed and restored', { skip }, async () => {
  resetHosts();
  const h = lab.hosts[0]!;
  const vol = '/var/lib/kubelet/vol';
  const trees = ['/etc/kubernetes', vol];
  const reset = () => {
    rmSync(lab.hostPath(h, vol), { recursive: true, force: true });
    mkdirSync(lab.hostPath(h, `${vol}/conf`), { recursive: true });
    writeFileSync(lab.hostPath(h, `${vol}/conf/x.conf`), 'x on the other volume\n');
  };
  const run = async (paths: string, dest: string) => {
    const rb = writeRunbook(`on_failure: rollback
steps:
  - name: Back up
    backup: { paths: [${paths}], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Change through the link
    copy: { dest: "${dest}", content: "changed\\n" }
  - name: Write through the link
    shell: { script: 'echo more >> "$1"', args: ["${dest}"], writes: ["${dest}"] }
  - name: Fail
    command: { argv: ["false"], changed_when: false }
`);
    return { rb, ...(await apply(rb, { limit: h.name })) };
  };

  // 1. a symlink inside the backed-up directory, pointing to another volume
  reset();
  symlinkSync(`${vol}/conf`, lab.hostPath(h, `${APP}/conf`));
  const before = snap(h, trees);
  const refused = await run(`"${APP}"`, `${APP}/conf/x.conf`);
  // the host failed at its backup, before any change: "rolled back" is trivially true (nothing to put back)
  assert.equal(refused.r.exitCode, 6, refused.text);
  const row = refused.rows[h.name]!;
  assert.equal(row.status, 'rolled-back', refused.text);
  assert.match(row.message ?? '', new RegExp(`symlink ${APP}/conf → ${vol}/conf points outside the backed-up paths: restore would refuse this backup`));
  assert.ok(refused.events.some((e) => e.kind === 'step-end' && e.step === 'steps[0]' && e.status === 'failed'), 'the backup step failed');
  assert.deepEqual(snap(h, trees), before, 'nothing changed');
  assert.deepEqual(readdirSync(lab.hostPath(h, '/var/backups/runbook')), [], 'no backup left behind');
  const o = cmdOptions({ runbook: refused.rb, limit: h.name });
  await planCmd(o);
  assert.match(o.stdout.text + o.stderr.text, new RegExp(`${APP}/conf → ${vol}/conf points outside the backed-up paths[\\s\\S]*add ${vol}/conf to backup\\.paths`));

  // 2. the same with the link's target backed up too: restore accepts the link, and puts back what changed through it
  const both = await run(`"${APP}", "${vol}/conf"`, `${APP}/conf/x.conf`);
  assert.equal(both.r.exitCode, 6, both.text);
  assert.equal(both.rows[h.name]!.status, 'rolled-back', both.text);
  assert.deepEqual(snap(h, trees), before, 'restored, through the link too');

  // 3. a root that is itself a symlink (pki on another volume): followed, so both the link and its files come back
  resetHosts();
  reset();
  symlinkSync(`${vol}/conf`, lab.hostPath(h, '/etc/kubernetes/pki'));
  const linked = snap(h, trees);
  const followed = await run('/etc/kubernetes/pki', '/etc/kubernetes/pki/x.conf');
  assert.equal(followed.r.exitCode, 6, followed.text);
  assert.equal(followed.rows[h.name]!.status, 'rolled-back', followed.text);
  const backup = followed.events.find((e): e is StepEndEvent => e.kind === 'step-end' && e.step === 'steps[0]');
  assert.deepEqual(backup?.backupPaths, ['/etc/kubernetes/pki', `${vol}/conf`], 'the target is a root of the backup too');
  assert.match(backup?.summary ?? '', new RegExp(`following /etc/kubernetes/pki → ${vol}/conf`));
  assert.deepEqual(snap(h, trees), linked, 'the link and the files behind it restored');
  assert.equal(lstatSync(lab.hostPath(h, '/etc/kubernetes/pki')).isSymbolicLink(), true);
  rmSync(lab.hostPath(h, vol), { recursive: true, force: true });
});
