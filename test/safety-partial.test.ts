/**
 * The safety contract where a step is half done, against real OpenSSH hosts (the lab):
 *  - a step that fails AFTER it changed something (a copy whose chown fails after the rename) is
 *    rolled back from the undo record it carries, or leaves its host `failed (not restored: PATH)`,
 *    never `rolled-back` with the change still in place;
 *  - a backup deferred at the end of a play is taken before the next play's changes;
 *  - `runbook resume ID` continues from the journal: done steps are not judged again from what the
 *    host shows now, and what they registered is rebuilt from the journal;
 *  - a delegated step that times out cancels the delegate's transfer, not the delegating host's;
 *  - `runbook prune` lists, then removes, old runs' kept copies and backups under the host lock,
 *    never those a failed run may be restored from, nor the newest completed run's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabHost } from '../src/lab/hosts.js';
import { resumeCmd } from '../src/cli/resume.js';
import { pruneCmd } from '../src/cli/prune.js';
import { rollbackCmd } from '../src/cli/rollback.js';
import { newRunId } from '../src/engine/run-id.js';
import { parseJournal } from '../src/engine/journal.js';
import type { Event, StepEndEvent } from '../src/engine/events.js';
import { isUserError } from '../src/errors.js';
import { Capture } from './support/capture.js';
import { dir, inv, lab, snapshot as snap, stateDir, useLab } from './support/lab.js';
import { APP, apply, resetHosts, runbookWriter } from './support/safety.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const writeRunbook = runbookWriter('partial');

const stepEnd = (events: Event[], host: string, step: string) => events.find((e): e is StepEndEvent => e.kind === 'step-end' && e.host === host && e.step === step);

const MiB = 1024 * 1024;
/** part-02's SFTP server reads uploads at this rate (a host on a slow link) */
const SLOW_UPLOAD = 4 * MiB;

const skip = useLab({
  start: { count: 2, firstAddress: '127.1.247.1', namePrefix: 'part', slowSftp: { 1: SLOW_UPLOAD } },
  tmp: 'runbook-partial-',
});

test('a copy whose chown fails after the rename is rolled back from its record; one whose previous file cannot be kept leaves the host failed (not restored), never rolled-back', { skip }, async () => {
  resetHosts();
  const [h1, h2] = lab.hosts as [LabHost, LabHost];
  // on h2 the file is private and over the keep limit: its undo cannot bring it back
  const big = lab.hostPath(h2, `${APP}/a.conf`);
  writeFileSync(big, randomBytes(1536 * 1024));
  chmodSync(big, 0o600);
  const before = lab.hosts.map((h) => snap(h));
  const rb = writeRunbook(`on_failure: rollback
steps:
  - name: Write the config, owned by a user that does not exist (chown fails after the rename)
    copy: { dest: "${APP}/a.conf", content: "renewed\\n", owner: no-such-user-here }
`);
  const { r, rows, events, text } = await apply(rb);
  assert.equal(r.exitCode, 4, text);
  assert.equal(rows[h1.name]!.status, 'rolled-back', text);
  assert.deepEqual(snap(h1), before[0], `${h1.name}: the written file was put back\n${text}`);
  const e1 = stepEnd(events, h1.name, 'steps[0]')!;
  assert.equal(e1.status, 'failed');
  assert.equal(e1.change, 'reversible', 'the failed step counts as a change with its record');
  assert.equal(e1.undo?.dest, `${APP}/a.conf`, 'its undo record is journaled (runbook rollback ID uses it too)');
  assert.equal(rows[h2.name]!.status, 'failed', text);
  assert.match(rows[h2.name]!.message ?? '', new RegExp(`not restored: ${APP}/a.conf`), text);
  assert.equal(stepEnd(events, h2.name, 'steps[0]')?.change, 'irreversible');
  assert.equal(readFileSync(big, 'utf8'), 'renewed\n', 'the change is still there, and the recap says so');
});

test('a backup deferred at the end of play 1 is taken before the changes of play 2', { skip }, async () => {
  resetHosts();
  const before = lab.hosts.map((h) => snap(h));
  const rb = writeRunbook(
    `plays:
  - name: Look
    hosts: all
    on_failure: rollback
    steps:
      - name: Back up
        backup: { paths: ["${APP}"], to: "/var/backups/runbook/{{ run.id }}" }
      - name: Read-only after it
        assert: { that: ["true"] }
  - name: Change
    hosts: all
    on_failure: rollback
    steps:
      - name: Rewrite (a command, only the backup can put it back)
        shell: { script: 'echo rewritten > "$1"', args: ["${APP}/a.conf"], writes: ["${APP}/a.conf"] }
      - name: Fail
        command: { argv: ["false"], changed_when: false }
`,
    '',
  );
  const { r, rows, events, text } = await apply(rb);
  assert.equal(r.exitCode, 6, text);
  for (const [i, h] of lab.hosts.entries()) {
    assert.equal(rows[h.name]!.status, 'rolled-back', `${h.name}\n${text}`);
    assert.equal(stepEnd(events, h.name, 'plays[0].steps[0]')?.status, 'changed', 'the backup was taken');
    assert.equal(stepEnd(events, h.name, 'plays[1].steps[0]')?.change, 'covered', 'the rewrite is covered by it');
    assert.deepEqual(snap(h), before[i], `${h.name}: restored byte-identical`);
  }
  // three plays: the backup of play 1 waits through a read-only play 2 (which defers one of its own)
  resetHosts();
  const three = writeRunbook(
    `plays:
  - name: Back up
    hosts: all
    on_failure: rollback
    steps:
      - name: Back up the app
        backup: { paths: ["${APP}"], to: "/var/backups/runbook/{{ run.id }}/p1" }
  - name: Look
    hosts: all
    on_failure: rollback
    steps:
      - name: Back up again
        backup: { paths: ["/etc/kubernetes"], to: "/var/backups/runbook/{{ run.id }}/p2" }
      - name: Read-only
        assert: { that: ["true"] }
  - name: Change
    hosts: all
    on_failure: rollback
    steps:
      - name: Rewrite
        shell: { script: 'echo rewritten > "$1"', args: ["${APP}/a.conf"], writes: ["${APP}/a.conf"] }
      - name: Fail
        command: { argv: ["false"], changed_when: false }
`,
    '',
  );
  const t = await apply(three);
  assert.equal(t.r.exitCode, 6, t.text);
  for (const [i, h] of lab.hosts.entries()) {
    assert.equal(t.rows[h.name]!.status, 'rolled-back', `${h.name}\n${t.text}`);
    assert.equal(stepEnd(t.events, h.name, 'plays[0].steps[0]')?.status, 'changed', 'the first play\'s backup was taken');
    assert.deepEqual(snap(h), before[i], `${h.name}: restored byte-identical`);
  }
  // a host whose later plays are read-only takes no backup (nothing to cover)
  resetHosts();
  const ro = writeRunbook(
    `plays:
  - name: Look
    hosts: all
    steps:
      - name: Back up
        backup: { paths: ["${APP}"], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Look again
    hosts: all
    steps:
      - name: Read-only
        assert: { that: ["true"] }
`,
    '',
  );
  const q = await apply(ro);
  assert.equal(q.r.exitCode, 0, q.text);
  for (const h of lab.hosts) assert.equal(stepEnd(q.events, h.name, 'plays[0].steps[0]')?.status, 'skipped', q.text);
});

/** Start apply in a child, SIGKILL it once every host is in the step at `pauseIndex`; the run id. */
async function killedRun(rb: string, pauseIndex: number, extraVars: string[] = []): Promise<string> {
  const child = spawn(process.execPath, [MAIN, 'apply', rb, '-i', inv, '--state-dir', stateDir, '--json', ...extraVars.flatMap((v) => ['-e', v])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const events = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Event);
  const deadline = Date.now() + 60_000;
  while (!lab.hosts.every((h) => events().some((e) => e.kind === 'step-start' && e.host === h.name && e.index === pauseIndex))) {
    if (events().some((e) => e.kind === 'step-end' && e.index === pauseIndex)) throw new Error(`a host went past the pause:\n${out}`);
    if (Date.now() > deadline) throw new Error(`the run never reached step ${pauseIndex}:\n${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  await exited;
  const start = events().find((e) => e.kind === 'run-start');
  assert.ok(start && start.kind === 'run-start');
  return start.runId;
}

test('resume after a kill mid cert-renew: done steps are not judged again from the renewed files, registered values come from the journal, the run completes', { skip }, async () => {
  resetHosts();
  const rb = writeRunbook(`on_failure: rollback
vars: { pause: "0" }
steps:
  - name: Back up
    backup: { paths: ["${APP}"], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Read the certificate before
    command: { argv: [cat, "${APP}/a.conf"], read_only: true }
    register: before
  - name: Renew
    copy: { dest: "${APP}/a.conf", content: "renewed\\n" }
    when: "before.stdout.startsWith('original')"
    register: renewal
  - name: Pause (the runner is killed here)
    command: { argv: [sleep, "30"], read_only: true }
    when: "pause == '1'"
  - name: The renewal happened, from what it was before
    assert:
      that:
        - "before.stdout.startsWith('original')"
        - "renewal.changed"
`);
  const id = await killedRun(rb, 4, ['pause=1']);
  for (const h of lab.hosts) assert.equal(readFileSync(lab.hostPath(h, `${APP}/a.conf`), 'utf8'), 'renewed\n', 'killed after the renewal');
  const cap = new Capture();
  const r = await resumeCmd({ id, stateDir, extraVars: ['pause=0'], stdout: cap, json: true });
  assert.equal(r.exitCode, 0, cap.text);
  for (const row of r.result.recap) assert.equal(row.status, 'ok', `${row.host}: ${row.message}\n${cap.text}`);
  for (const h of lab.hosts) assert.equal(readFileSync(lab.hostPath(h, `${APP}/a.conf`), 'utf8'), 'renewed\n', `${h.name}: completed, not rolled back`);
  const lines = parseJournal(readFileSync(join(stateDir, 'runs', `${id}.jsonl`), 'utf8'));
  assert.ok(lines.some((l) => l.kind === 'run-end' && l.mode === 'apply' && l.exitCode === 0));
  // the read-only step was not run again: its resumed step-end is the journal's
  const resumed = lines.slice(lines.findIndex((l, i) => i > 0 && l.kind === 'run-start'));
  const again = resumed.find((l): l is StepEndEvent & { t: string } => l.kind === 'step-end' && l.step === 'steps[1]');
  assert.match(again?.message ?? '', /done before the run was interrupted/);
  assert.match(String(again?.registered?.stdout), /^original on /, 'journaled again for a later resume');
});

test('resume runs the handlers that steps done before the kill had notified, at the flush they were due at; one that had run is not run again', { skip }, async () => {
  resetHosts();
  const rb = writeRunbook(`vars: { pause: "0" }
steps:
  - name: Write the first config
    copy: { dest: "${APP}/one.conf", content: "1\\n" }
    notify: Reload one
  - { name: Reload now, flush_handlers: true }
  - name: Write the second config
    copy: { dest: "${APP}/two.conf", content: "2\\n" }
    notify: Reload two
  - name: Pause (the runner is killed here)
    command: { argv: [sleep, "30"], read_only: true }
    when: "pause == '1'"
  - name: Mark the end
    shell: { script: 'echo end >> "$1"', args: ["${APP}/reloads"] }
handlers:
  - name: Reload one
    shell: { script: 'echo one >> "$1"', args: ["${APP}/reloads"] }
  - name: Reload two
    shell: { script: 'echo two >> "$1"', args: ["${APP}/reloads"] }
`);
  const id = await killedRun(rb, 4, ['pause=1']);
  for (const h of lab.hosts) assert.equal(readFileSync(lab.hostPath(h, `${APP}/reloads`), 'utf8'), 'one\n', 'killed after the first flush, before the end of the play');
  const cap = new Capture();
  const r = await resumeCmd({ id, stateDir, extraVars: ['pause=0'], stdout: cap, json: true });
  assert.equal(r.exitCode, 0, cap.text);
  // before: "one\nend\n" (the second config changed, its handler never ran)
  for (const h of lab.hosts) assert.equal(readFileSync(lab.hostPath(h, `${APP}/reloads`), 'utf8'), 'one\nend\ntwo\n', `${h.name}\n${cap.text}`);
});

test('resume refuses, before touching any host, when a done step changed the host and registered a no_log value a later step reads', { skip }, async () => {
  resetHosts();
  const rb = writeRunbook(`vars: { pause: "0" }
steps:
  - name: Make a token
    shell: { script: 'echo tok-$$ > "$1"; cat "$1"', args: ["${APP}/token"], creates: "${APP}/token" }
    register: token
    no_log: true
  - name: Pause (the runner is killed here)
    command: { argv: [sleep, "30"], read_only: true }
    when: "pause == '1'"
  - name: Use it
    copy: { dest: "${APP}/uses-token", content: "{{ token.stdout }}" }
`);
  const id = await killedRun(rb, 2, ['pause=1']);
  const before = lab.hosts.map((h) => snap(h));
  const e = await resumeCmd({ id, stateDir, extraVars: ['pause=0'], stdout: new Capture() }).catch((x: unknown) => x);
  assert.ok(isUserError(e), String(e));
  assert.match(e.message, /cannot be resumed: on part-0\d, step "Make a token" changed the host .* registered `token`.*not in the journal \(no_log or a secret/);
  assert.match(e.diagnostic.hint ?? '', new RegExp(`runbook rollback ${id}`));
  lab.hosts.forEach((h, i) => assert.deepEqual(snap(h), before[i], 'nothing touched'));
  for (const h of lab.hosts) rmSync(lab.hostPath(h, '/var/lib/runbook/lock'), { force: true });
});

test("a delegated step that times out cancels the delegate's transfer (not the delegating host's): nothing lands on the delegate afterwards", { skip }, async () => {
  resetHosts();
  const [h1, h2] = lab.hosts as [LabHost, LabHost];
  mkdirSync(lab.hostPath(h2, '/etc/kubernetes/other'), { recursive: true });
  const big = join(dir, 'big.bin');
  // 20 MiB take at least 5 s to reach the delegate at its 4 MiB/s, on any machine: far past the 1.5 s
  // the apply may run, and past the 4.5 s a step that waited for its transfer would take
  const transferMs = 5_000;
  writeFileSync(big, randomBytes((transferMs / 1000) * SLOW_UPLOAD));
  const rb = writeRunbook(`steps:
  - name: Large copy onto the other host
    copy: { src: "${big}", dest: /etc/kubernetes/other/big.bin }
    delegate_to: ${h2.name}
    when: "inventory_hostname == '${h1.name}'"
    timeout: 1s
`);
  try {
    const { rows, events, text } = await apply(rb);
    assert.equal(rows[h1.name]!.status, 'failed', text);
    assert.match(rows[h1.name]!.message ?? '', /timed out after 1000 ms/);
    const end = stepEnd(events, h1.name, 'steps[0]')!;
    // the probe (hashing 20 MiB here, tens of ms) fits in the timeout; the transfer does not
    assert.ok(end.commands.some((c) => c.startsWith('write /etc/kubernetes/other/big.bin')), `the timeout must hit the transfer, not the probe: ${JSON.stringify(end)}`);
    // timer at 1.5 s; stopped at once, not after the 5 s the engine waits for work it could not stop
    assert.ok(end.durationMs < 4_500, `the transfer was stopped at once (${end.durationMs} ms), not waited for`);
    // a transfer left going would have landed by now
    await new Promise((res) => setTimeout(res, transferMs));
    assert.deepEqual(readdirSync(lab.hostPath(h2, '/etc/kubernetes/other')), [], 'neither the file nor a temp file on the delegate');
  } finally {
    rmSync(big, { force: true });
  }
});

test('runbook prune: lists old runs\' kept copies and backups (dry run by default), removes them with --yes under the host lock, logs each removal', { skip }, async () => {
  resetHosts();
  const h = lab.hosts[0]!;
  const old = '20250101T000000Z-0a0b0c';
  const recent = newRunId();
  const mk = (p: string) => {
    mkdirSync(lab.hostPath(h, p), { recursive: true });
    writeFileSync(lab.hostPath(h, `${p}/f`), 'x\n');
  };
  mk(`/var/lib/runbook/kept/${old}/abc`);
  mk(`/var/lib/runbook/kept/${recent}/abc`);
  mk(`/var/backups/runbook/${old}/files`);
  mk('/var/backups/runbook/manual-copy');
  mk('/var/backups/elsewhere');
  // a symlink named like an old run: never followed, never removed
  symlinkSync('../elsewhere', lab.hostPath(h, '/var/backups/runbook/20240101T000000Z-0d0e0f'));
  const pruneState = mkdtempSync(join(dir, 'prune-state-'));
  const list = new Capture();
  // no journal here knows these runs: kept unless --include-unknown
  const unknown = await pruneCmd({ inventory: inv, limit: h.name, olderThan: '30d', stateDir: pruneState, stdout: new Capture() });
  assert.deepEqual(unknown.results[0]!.candidates, []);
  assert.deepEqual(unknown.results[0]!.held.map((c) => c.path), [`/var/backups/runbook/${old}`, `/var/lib/runbook/kept/${old}`]);
  const dry = await pruneCmd({ inventory: inv, limit: h.name, olderThan: '30d', stateDir: pruneState, stdout: list, includeUnknown: true });
  assert.equal(dry.exitCode, 0, list.text);
  assert.deepEqual(dry.results[0]!.candidates.map((c) => c.path), [`/var/backups/runbook/${old}`, `/var/lib/runbook/kept/${old}`], list.text);
  assert.match(list.text, /would remove \/var\/lib\/runbook\/kept\/20250101T000000Z-0a0b0c \(kept copies of run/);
  assert.match(list.text, /dry run: nothing removed/);
  assert.ok(existsSync(lab.hostPath(h, `/var/lib/runbook/kept/${old}/abc/f`)), 'a dry run removes nothing');
  assert.equal(existsSync(join(pruneState, 'prune.jsonl')), false);
  // another run holds the lock: nothing is removed
  writeFileSync(lab.hostPath(h, '/var/lib/runbook/lock'), JSON.stringify({ run_id: 'other', operator: 'x', pid: 1, started: 'now' }) + '\n');
  const locked = await pruneCmd({ inventory: inv, limit: h.name, olderThan: '30d', yes: true, stateDir: pruneState, stdout: new Capture(), includeUnknown: true });
  assert.equal(locked.exitCode, 4);
  assert.match(locked.results[0]!.error ?? '', /is locked by run other/);
  assert.ok(existsSync(lab.hostPath(h, `/var/lib/runbook/kept/${old}`)));
  rmSync(lab.hostPath(h, '/var/lib/runbook/lock'));
  const real = await pruneCmd({ inventory: inv, limit: h.name, olderThan: '30d', yes: true, stateDir: pruneState, stdout: new Capture(), includeUnknown: true });
  assert.equal(real.exitCode, 0);
  assert.equal(existsSync(lab.hostPath(h, `/var/lib/runbook/kept/${old}`)), false);
  assert.equal(existsSync(lab.hostPath(h, `/var/backups/runbook/${old}`)), false);
  for (const kept of [`/var/lib/runbook/kept/${recent}/abc/f`, '/var/backups/runbook/manual-copy/f', '/var/backups/elsewhere/f']) assert.ok(existsSync(lab.hostPath(h, kept)), `${kept} kept`);
  assert.equal(existsSync(lab.hostPath(h, '/var/lib/runbook/lock')), false, 'lock released');
  const log = readFileSync(join(pruneState, 'prune.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { path: string; removed: boolean; host: string });
  assert.deepEqual(log.map((l) => [l.host, l.path, l.removed]), [[h.name, `/var/backups/runbook/${old}`, true], [h.name, `/var/lib/runbook/kept/${old}`, true]]);
});

test('runbook prune never removes what a failed run\'s host may be restored from, keeps the newest completed run\'s, and prunes them once runbook rollback put the host back', { skip }, async () => {
  resetHosts();
  const [h1, h2] = lab.hosts as [LabHost, LabHost];
  const rb = writeRunbook(`on_failure: stop
steps:
  - name: Back up
    backup: { paths: ["${APP}"], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Rewrite (a command, only the backup can put it back)
    shell: { script: 'echo "$2" > "$1"', args: ["${APP}/a.conf", "{{ run.id }}"], writes: ["${APP}/a.conf"] }
  - name: Fail where told
    command: { argv: ["test", "{{ inventory_hostname }}", "!=", "{{ fail_on }}"], changed_when: false }
`);
  const first = await apply(rb, { extraVars: ['fail_on=nowhere'] });
  assert.equal(first.r.exitCode, 0, first.text);
  const second = await apply(rb, { extraVars: ['fail_on=nowhere'] });
  assert.equal(second.r.exitCode, 0, second.text);
  const failing = await apply(rb, { extraVars: [`fail_on=${h2.name}`] });
  assert.equal(failing.rows[h2.name]!.status, 'failed', failing.text);
  const [A, B, C] = [first, second, failing].map((x) => x.r.result!.runId);
  const dirs = (h: LabHost) => readdirSync(lab.hostPath(h, '/var/backups/runbook')).sort();
  assert.deepEqual(dirs(h2), [A, B, C].sort(), 'each run took a backup');
  // ids made in one second do not sort by time (their journals' start times do)
  const sorted = (...ids: string[]) => ids.sort();
  // every run is older than 0 s: before the fix, all of them went, C's included
  const prune = (extra: Record<string, unknown> = {}) => pruneCmd({ inventory: inv, olderThan: '0s', stateDir, stdout: new Capture(), ...extra });
  const dry = await prune({ json: true });
  const byHost = Object.fromEntries(dry.results.map((r) => [r.host, r]));
  assert.deepEqual(byHost[h1.name]!.candidates.map((c) => c.runId), sorted(A!, B!), 'h1: all three completed; the newest stays');
  assert.match(byHost[h1.name]!.held.find((c) => c.runId === C)!.reason, /the newest run that completed on/);
  assert.deepEqual(byHost[h2.name]!.candidates, [], 'h2 failed in its latest run: nothing on it goes');
  const held = Object.fromEntries(byHost[h2.name]!.held.map((c) => [c.runId, c.reason]));
  assert.match(held[C]!, new RegExp(`^run ${C} failed on it .*runbook rollback ${C} may still need`));
  assert.match(held[A]!, new RegExp(`^the latest run on ${h2.name}, ${C}, is not settled`));
  await prune({ yes: true });
  assert.deepEqual(dirs(h1), [C]);
  assert.deepEqual(dirs(h2), [A, B, C].sort(), 'nothing removed on the failed host');
  // rolled back: h2 is settled again; C is now its newest settled run and stays, unless --keep-last 0
  const rolled = await rollbackCmd({ id: C, stateDir, limit: h2.name, stdout: new Capture() });
  assert.equal(rolled.exitCode, 0);
  assert.equal(readFileSync(lab.hostPath(h2, `${APP}/a.conf`), 'utf8'), `${B}\n`, 'put back as the run found it');
  const after = await prune({ yes: true, limit: h2.name });
  assert.deepEqual(after.results[0]!.removed.filter((p) => p.startsWith('/var/backups')), sorted(A!, B!).map((id) => `/var/backups/runbook/${id}`));
  assert.deepEqual(dirs(h2), [C]);
  await prune({ yes: true, keepLast: 0 });
  assert.deepEqual([...dirs(h1), ...dirs(h2)], []);
});
