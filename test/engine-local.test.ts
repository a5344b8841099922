/**
 * Engine orchestration on `ansible_connection: local` hosts in temp dirs: serial batches,
 * max_fail_percentage, any_errors_fatal, on_failure continue/stop, tags, --start-at-step, loops,
 * register/when, dry-run unknowns, secrets redacted everywhere, JSON-lines output, step timeouts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../src/lab/wait.js';
import { applyCmd, type ApplyOptions } from '../src/cli/apply.js';
import { planCmd } from '../src/cli/plan.js';
import { rollbackCmd } from '../src/cli/rollback.js';
import { validateCmd } from '../src/cli/validate.js';
import { makeBatches, batchSizes, exceedsMaxFail } from '../src/engine/batches.js';
import { newRunId, isRunId } from '../src/engine/run-id.js';
import { FORMATTERS } from '../src/report/format.js';
import type { Event, StepEndEvent } from '../src/engine/events.js';
import { Capture } from './support/capture.js';


let dir: string;
let n = 0;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'runbook-engine-local-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh case: `count` local hosts with their own root and lock, and a runbook. */
function setup(count: number, runbook: string): { o: ApplyOptions & { stdout: Capture; stderr: Capture }; roots: string[]; stateDir: string } {
  const base = join(dir, `case${++n}`);
  mkdirSync(base);
  const roots: string[] = [];
  const lines = ['all:', '  hosts:'];
  for (let i = 1; i <= count; i++) {
    const root = join(base, `h${i}`);
    mkdirSync(root);
    roots.push(root);
    lines.push(`    h${i}: { ansible_connection: local, root: "${root}", runbook_lock_path: "${root}/.lock" }`);
  }
  writeFileSync(join(base, 'inv.yaml'), lines.join('\n') + '\n');
  writeFileSync(join(base, 'rb.yaml'), runbook);
  const stateDir = join(base, 'state');
  return { o: { runbook: join(base, 'rb.yaml'), inventory: join(base, 'inv.yaml'), stateDir, stdout: new Capture(), stderr: new Capture() }, roots, stateDir };
}

const head = (extra = '') => `apiVersion: runbook/v1
name: local
hosts: all
${extra}
steps:
`;

test('run ids, batches, max_fail_percentage arithmetic', () => {
  assert.ok(isRunId(newRunId(new Date('2026-11-22T19:15:00Z'))));
  assert.match(newRunId(new Date('2026-11-22T19:15:00Z')), /^20261122T191500Z-[0-9a-f]{6}$/);
  assert.equal(batchSizes(10, '30%'), 3);
  assert.equal(batchSizes(2, '10%'), 1);
  assert.deepEqual(makeBatches([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
  assert.equal(exceedsMaxFail(1, 4, 25), false);
  assert.equal(exceedsMaxFail(2, 4, 25), true);
});

test('every event kind has a formatter', () => {
  // the mapped type makes this a compile-time check; this guards against casts
  const kinds: Event['kind'][] = ['run-start', 'batch-start', 'batch-end', 'host-start', 'host-connected', 'host-unreachable', 'step-start', 'step-apply', 'step-end', 'host-end', 'rollback-start', 'restore', 'undo', 'rollback-end', 'warning', 'run-end'];
  for (const k of kinds) assert.equal(typeof FORMATTERS[k], 'function');
});

test('serial batches with max_fail_percentage: no batch starts after too many failures', async () => {
  const { o } = setup(
    4,
    head('serial: 2\nmax_fail_percentage: 0\non_failure: stop') +
      `  - name: fail on h1
    command: { argv: ["false"], changed_when: false }
    when: inventory_hostname == 'h1'
  - name: mark
    command: { argv: [touch, "{{ root }}/done"], creates: "{{ root }}/done" }
`,
  );
  const r = await applyCmd({ ...o, json: true });
  assert.equal(r.exitCode, 4);
  const st = Object.fromEntries(r.result!.recap.map((x) => [x.host, x.status]));
  // h2 is stopped before its next step once h1's failure exceeds the percentage (aborted), unless it had finished
  assert.ok(st.h2 === 'aborted' || st.h2 === 'ok', String(st.h2));
  assert.deepEqual({ ...st, h2: 'x' }, { h1: 'failed', h2: 'x', h3: 'not-run', h4: 'not-run' });
  const events = o.stdout.text.trim().split('\n').map((l) => JSON.parse(l) as Event);
  assert.ok(events.some((e) => e.kind === 'batch-end' && e.aborted));
  assert.equal(events.filter((e) => e.kind === 'batch-start').length, 1);
});

test('any_errors_fatal stops every host after the current step; on_failure continue goes on', async () => {
  const rb = (extra: string) =>
    head(extra) +
    `  - name: fail on h1
    shell: { script: 'if [ "$1" = h1 ]; then exit 1; fi; sleep 0.3', args: ["{{ inventory_hostname }}"], changed_when: false }
  - name: mark
    command: { argv: [touch, "{{ root }}/done"], creates: "{{ root }}/done" }
`;
  const a = setup(2, rb('any_errors_fatal: true\non_failure: continue'));
  const r = await applyCmd(a.o);
  assert.equal(r.exitCode, 4);
  assert.equal(existsSync(join(a.roots[1]!, 'done')), false, 'h2 stopped by any_errors_fatal');
  const b = setup(2, rb('on_failure: continue'));
  const r2 = await applyCmd(b.o);
  assert.equal(r2.exitCode, 4);
  assert.equal(existsSync(join(b.roots[0]!, 'done')), true, 'h1 continued after its failure');
  assert.equal(existsSync(join(b.roots[1]!, 'done')), true);
});

test('tags, --start-at-step, loops with item, register and when', async () => {
  const { o, roots } = setup(
    1,
    head() +
      `  - name: first
    command: { argv: [touch, "{{ root }}/first"], creates: "{{ root }}/first" }
    tags: [setup]
  - name: files
    copy: { dest: "{{ root }}/{{ item }}.txt", content: "{{ item }}\\n" }
    loop: [a, b, c]
    register: files
    tags: [files]
  - name: only when files changed
    command: { argv: [touch, "{{ root }}/files-changed"], creates: "{{ root }}/files-changed" }
    when: changed(files) && size(files.results) == 3
    tags: [files]
  - name: always
    command: { argv: [touch, "{{ root }}/always"], creates: "{{ root }}/always" }
    tags: [always]
`,
  );
  let r = await applyCmd({ ...o, tags: ['files'] });
  assert.equal(r.exitCode, 0, o.stdout.text + o.stderr.text);
  assert.deepEqual(readdirSync(roots[0]!).filter((f) => !f.startsWith('.')).sort(), ['a.txt', 'always', 'b.txt', 'c.txt', 'files-changed']);
  r = await applyCmd({ ...o, startAtStep: '1', tags: [] });
  assert.ok(existsSync(join(roots[0]!, 'first')));
  await assert.rejects(applyCmd({ ...o, startAtStep: 'no such step' }), /no such step/);
  r = await applyCmd({ ...o, startAtStep: 'always' });
  assert.equal(r.result!.recap[0]!.ok + r.result!.recap[0]!.skipped, 1);
});

test('dry run: a step depending on an unknowable result is unknown, not an error; nothing is written', async () => {
  const { o, roots } = setup(
    1,
    head() +
      `  - name: read something
    command: { argv: [echo, hi], changed_when: false }
    register: r
  - name: use its output
    copy: { dest: "{{ root }}/out.txt", content: "{{ r.stdout }}\\n" }
`,
  );
  const p = await planCmd(o);
  assert.equal(p.exitCode, 2, o.stdout.text + o.stderr.text);
  const steps = p.result!.plan!.hosts.h1!.steps;
  assert.deepEqual(steps.map((s) => s.status), ['ok', 'unknown']);
  assert.equal(existsSync(join(roots[0]!, 'out.txt')), false);
  const a = await applyCmd({ ...o, stdout: new Capture() });
  assert.equal(a.exitCode, 0);
  assert.equal(readFileSync(join(roots[0]!, 'out.txt'), 'utf8'), 'hi\n');
});

test('dry run: a step that is ok now on a path an earlier planned change touches is unknown, not ok (a manifest out, then back)', async () => {
  const { o, roots } = setup(
    1,
    head() +
      `  - name: take the manifest out
    move: { src: "{{ root }}/manifests/a.yaml", dest: "{{ root }}/out/a.yaml" }
  - name: an unrelated file, already in place
    move: { src: "{{ root }}/elsewhere/b.yaml", dest: "{{ root }}/kept/b.yaml", missing_ok: true }
  - name: put the manifest back
    move: { src: "{{ root }}/out/a.yaml", dest: "{{ root }}/manifests/a.yaml", missing_ok: true }
`,
  );
  mkdirSync(join(roots[0]!, 'manifests'));
  mkdirSync(join(roots[0]!, 'kept'));
  writeFileSync(join(roots[0]!, 'manifests', 'a.yaml'), 'a\n');
  writeFileSync(join(roots[0]!, 'kept', 'b.yaml'), 'b\n');
  const p = await planCmd(o);
  assert.equal(p.exitCode, 2, o.stdout.text + o.stderr.text);
  const steps = p.result!.plan!.hosts.h1!.steps;
  assert.deepEqual(steps.map((s) => s.status), ['change', 'ok', 'unknown']);
  assert.match(o.stdout.text, /an earlier step of the plan changes \S*(manifests|out)\/a\.yaml: what this step does is known only then \(now: already moved/);
  const a = await applyCmd({ ...o, stdout: new Capture() });
  assert.equal(a.exitCode, 0);
  assert.equal(readFileSync(join(roots[0]!, 'manifests', 'a.yaml'), 'utf8'), 'a\n');
});

test('secrets are redacted in output, JSON events, the journal and saved plans', async () => {
  const { o, stateDir } = setup(
    1,
    head('secrets: [token]\nvars:\n  token: s3cr3t-value') +
      `  - name: use the token
    command: { argv: [sh, -c, 'test -n "$1"', sh, "{{ token }}"], changed_when: false }
  - name: write it
    copy: { dest: "{{ root }}/token", content: "{{ token }}", mode: "0600" }
`,
  );
  const planFile = join(stateDir, '..', 'plan.json');
  const p = await planCmd({ ...o, out: planFile });
  assert.equal(p.exitCode, 2);
  const a = await applyCmd({ ...o, json: true, stdout: new Capture() });
  assert.equal(a.exitCode, 0);
  const all = [o.stdout.text, readFileSync(planFile, 'utf8'), readFileSync(a.result!.journalPath!, 'utf8')].join('\n');
  assert.doesNotMatch(all, /s3cr3t-value/);
  assert.match(all, /\*\*\*/);
});

test('a step timeout fails the step', async () => {
  const { o } = setup(1, head('timeout: 300ms') + `  - name: slow\n    command: { argv: [sleep, "5"], changed_when: false }\n`);
  const t0 = Date.now();
  const r = await applyCmd(o);
  assert.equal(r.exitCode, 4);
  assert.ok(Date.now() - t0 < 4000);
  assert.match(r.result!.recap[0]!.message ?? '', /timed out|killed/);
});

test('vars_files: a runbook var templating a name its vars_files set passes validate and applies', async () => {
  const { o, roots } = setup(
    1,
    head('vars:\n  greeting: "hello {{ who }}"\nvars_files: [site.yaml]') +
      `  - name: write it
    copy: { dest: "{{ root }}/greeting", content: "{{ greeting }}" }
`,
  );
  writeFileSync(join(o.runbook, '..', 'site.yaml'), 'who: world\n');
  const v = await validateCmd({ files: [o.runbook], inventory: o.inventory! });
  assert.deepEqual(v.diagnostics.filter((d) => d.severity === 'error'), []);
  const r = await applyCmd(o);
  assert.equal(r.exitCode, 0, o.stdout.text + o.stderr.text);
  assert.equal(readFileSync(join(roots[0]!, 'greeting'), 'utf8'), 'hello world');
});

test('a failed lazy backup stops every later change on the host, later loop items included', async () => {
  const { o, roots } = setup(
    1,
    head('on_failure: rollback') +
      `  - name: back up
    backup: { paths: ["{{ root }}/data"], to: "{{ root }}/not-a-dir/b" }
  - name: files
    copy: { dest: "{{ root }}/data/{{ item }}.txt", content: "{{ item }}\\n" }
    loop: [a, b, c]
`,
  );
  mkdirSync(join(roots[0]!, 'data'));
  writeFileSync(join(roots[0]!, 'not-a-dir'), 'a file where the backup directory should go\n');
  const r = await applyCmd(o);
  assert.notEqual(r.exitCode, 0, o.stdout.text + o.stderr.text);
  assert.deepEqual(readdirSync(join(roots[0]!, 'data')), [], `no item may run without its backup:\n${o.stdout.text}`);
});

test('rollback also reverses, from undo records, the changes no backup covers (newest first); covered ones are left to the restore', async () => {
  const rb =
    head('on_failure: rollback') +
    `  - name: change a covered file before the backup is taken
    copy: { dest: "{{ root }}/data/early.txt", content: "new early\\n", mode: "0644" }
  - name: back up the data
    backup: { paths: ["{{ root }}/data"], to: "{{ root }}/backup/{{ run.id }}" }
  - name: move a file in from outside the backup
    move: { src: "{{ root }}/incoming.txt", dest: "{{ root }}/data/incoming.txt" }
  - name: move a file out of the backup (a site enabled)
    move: { src: "{{ root }}/data/site", dest: "{{ root }}/enabled/site" }
  - name: change a covered file
    copy: { dest: "{{ root }}/data/a.txt", content: "new a\\n", mode: "0644" }
  - name: change a file outside the backup
    copy: { dest: "{{ root }}/outside.conf", content: "new outside\\n", mode: "0644" }
  - name: create a directory outside the backup
    file: { path: "{{ root }}/made/deeper", state: directory }
  - name: a quiet change
    copy: { dest: "{{ root }}/quiet.txt", content: "quiet\\n" }
    no_log: true
  - name: fail where asked
    command: { argv: [sh, -c, 'test "$1" != yes', sh, "{{ fail }}"], changed_when: false }
`;
  const prepare = (root: string) => {
    mkdirSync(join(root, 'data'));
    writeFileSync(join(root, 'data', 'a.txt'), 'old a\n');
    writeFileSync(join(root, 'data', 'early.txt'), 'old early\n');
    writeFileSync(join(root, 'outside.conf'), 'old outside\n');
    writeFileSync(join(root, 'incoming.txt'), 'incoming\n');
    writeFileSync(join(root, 'data', 'site'), 'site\n');
  };
  const untouched = (root: string, label: string) => {
    assert.equal(readFileSync(join(root, 'data', 'a.txt'), 'utf8'), 'old a\n', label);
    assert.equal(readFileSync(join(root, 'data', 'early.txt'), 'utf8'), 'old early\n', `${label}: a change made before the backup is undone`);
    assert.equal(readFileSync(join(root, 'incoming.txt'), 'utf8'), 'incoming\n', `${label}: a file moved into a backed-up tree is back where it came from`);
    assert.equal(existsSync(join(root, 'data', 'incoming.txt')), false, label);
    assert.equal(readFileSync(join(root, 'data', 'site'), 'utf8'), 'site\n', `${label}: a file moved out of a backed-up tree is back`);
    assert.equal(existsSync(join(root, 'enabled', 'site')), false, `${label}: and not also where it was moved to`);
    assert.equal(readFileSync(join(root, 'outside.conf'), 'utf8'), 'old outside\n', label);
    assert.equal(existsSync(join(root, 'made')), false, `${label}: the directory the run created is gone`);
  };

  // on_failure: rollback during the run
  const a = setup(1, rb);
  prepare(a.roots[0]!);
  const r1 = await applyCmd({ ...a.o, extraVars: ['fail=yes'] });
  // the no_log step's new file has no undo record and no backup covers it: never "rolled-back"
  assert.equal(r1.exitCode, 4, a.o.stdout.text);
  assert.match(a.o.stdout.text, /not restored: \S+quiet\.txt/);
  assert.match(a.o.stdout.text, /undid "create a directory outside the backup"/);
  assert.match(a.o.stdout.text, /undid "change a file outside the backup"/);
  assert.doesNotMatch(a.o.stdout.text, /undid "change a covered file"/);
  // no_log kept its undo record out of the journal: rollback says it cannot reverse that step
  assert.match(a.o.stdout.text, /no undo record was kept for "a quiet change"/);
  untouched(a.roots[0]!, 'automatic rollback');
  // a later `runbook rollback ID` of the same run does not redo (and fail on) what is already undone
  const again = await rollbackCmd({ id: r1.result!.runId, stateDir: a.stateDir, stdout: a.o.stdout });
  assert.equal(again.exitCode, 4, a.o.stdout.text);
  untouched(a.roots[0]!, 'rollback after the automatic one');

  // a finished run, then `runbook rollback ID` (from the journal); a dry run first changes nothing
  const b = setup(1, rb);
  prepare(b.roots[0]!);
  const r2 = await applyCmd({ ...b.o, extraVars: ['fail=no'] });
  assert.equal(r2.exitCode, 0, b.o.stdout.text);
  const id = r2.result!.runId;
  const dry = await rollbackCmd({ id, stateDir: b.stateDir, dryRun: true, stdout: b.o.stdout });
  assert.equal(dry.exitCode, 0);
  assert.match(b.o.stdout.text, /would undo "change a file outside the backup"/);
  assert.equal(readFileSync(join(b.roots[0]!, 'outside.conf'), 'utf8'), 'new outside\n', 'a dry run changes nothing');
  const rolled = await rollbackCmd({ id, stateDir: b.stateDir, stdout: b.o.stdout });
  assert.equal(rolled.exitCode, 4, b.o.stdout.text);
  untouched(b.roots[0]!, 'runbook rollback ID');
});

/** Two plays: the first backs up `{{ root }}/d` (with `extra` lines on that step), the second's steps follow. */
const backupThenPlay = (extra: string) => `apiVersion: runbook/v1
name: local-plays
plays:
  - name: back up
    hosts: all
    steps:
      - name: back up d
        backup: { paths: ["{{ root }}/d"], to: "{{ root }}/backups/{{ run.id }}" }
${extra}  - name: change
    hosts: all
    steps:
`;

test('plan: a command in play 2 whose writes a backup of play 1 covers is not irreversible; one outside it is', async () => {
  const { o, roots } = setup(
    1,
    backupThenPlay('') +
      `      - name: write inside the backup
        command: { argv: [sh, -c, 'echo new > "$1"', sh, "{{ root }}/d/x"], writes: ["{{ root }}/d/x"] }
      - name: write outside it
        command: { argv: [sh, -c, 'echo new > "$1"', sh, "{{ root }}/e"], writes: ["{{ root }}/e"] }
`,
  );
  mkdirSync(join(roots[0]!, 'd'));
  writeFileSync(join(roots[0]!, 'd', 'x'), 'old\n');
  const p = await planCmd({ ...o, json: true });
  assert.equal(p.exitCode, 2, o.stdout.text + o.stderr.text);
  const ends = o.stdout.text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Event).filter((e) => e.kind === 'step-end');
  const byName = new Map(ends.map((e) => [(e as StepEndEvent).name, e as StepEndEvent]));
  assert.equal(byName.get('write inside the backup')?.irreversible, undefined, o.stdout.text);
  assert.equal(byName.get('write outside it')?.irreversible, true);
  assert.deepEqual(byName.get('write outside it')?.notRestored, [join(roots[0]!, 'e')]);
});

test('plan: a `when:` on a step var set from a result a dry run cannot know is unknown, not failed; apply runs it', async () => {
  const { o, roots } = setup(
    1,
    head() +
      `  - name: write and print
    command: { argv: [sh, -c, 'echo a > "$1"; echo a', sh, "{{ root }}/a"], writes: ["{{ root }}/a"] }
    register: r
  - name: only when it printed a
    vars:
      printed: "{{ r.stdout.trim() }}"
    copy: { dest: "{{ root }}/b", content: "b\\n" }
    when: printed == 'a'
`,
  );
  const p = await planCmd({ ...o, json: true });
  assert.equal(p.exitCode, 2, o.stdout.text + o.stderr.text);
  assert.deepEqual(p.result!.plan!.hosts.h1!.steps.map((s) => s.status), ['change', 'unknown'], o.stdout.text);
  const a = await applyCmd({ ...o, stdout: new Capture() });
  assert.equal(a.exitCode, 0);
  assert.equal(readFileSync(join(roots[0]!, 'b'), 'utf8'), 'b\n');
});

test('a step of play 2 that reads what a backup deferred in play 1 registered takes that backup first; in a plan it is unknown', async () => {
  const { o, roots } = setup(
    1,
    backupThenPlay('        register: b\n') +
      `      - name: note where the backup went
        copy: { dest: "{{ root }}/where", content: "{{ b.dir }}" }
`,
  );
  const p = await planCmd({ ...o, json: true });
  assert.equal(p.exitCode, 2, o.stdout.text + o.stderr.text);
  assert.deepEqual(p.result!.plan!.hosts.h1!.steps.map((s) => [s.name, s.status]), [['back up d', 'change'], ['note where the backup went', 'unknown']], o.stdout.text);
  // apply: the step that reads the register takes the backup first (it was undefined there before)
  const a = await applyCmd({ ...o, stdout: new Capture() });
  assert.equal(a.exitCode, 0);
  assert.match(readFileSync(join(roots[0]!, 'where'), 'utf8'), new RegExp(`^${roots[0]!}/backups/\\d{8}T\\d{6}Z-[0-9a-f]{6}`));
});

test('a run killed while a step applies: rollback reports what that step may have changed outside the backups, not "rolled back"', async () => {
  const rb =
    head() +
    `  - name: back up the data
    backup: { paths: ["{{ root }}/data"], to: "{{ root }}/backup/{{ run.id }}" }
  - name: change a covered file
    copy: { dest: "{{ root }}/data/a.txt", content: "new a\\n" }
  - name: write outside the backup, slowly
    shell: { script: 'echo NEW > "$1"; sleep 30', args: ["{{ root }}/x.conf"], writes: ["{{ root }}/x.conf"] }
`;
  const c = setup(1, rb);
  const root = c.roots[0]!;
  mkdirSync(join(root, 'data'));
  writeFileSync(join(root, 'data', 'a.txt'), 'old a\n');
  writeFileSync(join(root, 'x.conf'), 'OLD\n');
  const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const child = spawn(process.execPath, [main, 'apply', c.o.runbook, '-i', c.o.inventory!, '--state-dir', c.stateDir, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const events = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  await waitFor('the slow step applying', () => events().some((e) => e.kind === 'step-apply' && e.name === 'write outside the backup, slowly') && readFileSync(join(root, 'x.conf'), 'utf8') === 'NEW\n', 30_000, 20);
  child.kill('SIGKILL');
  await exited;
  const runId = String(events().find((e) => e.kind === 'run-start')!.runId);
  const stdout = new Capture();
  const r = await rollbackCmd({ id: runId, stateDir: c.stateDir, stdout });
  assert.equal(readFileSync(join(root, 'data', 'a.txt'), 'utf8'), 'old a\n', 'the backed-up tree is restored');
  assert.equal(r.exitCode, 4, stdout.text);
  assert.match(stdout.text, /not restored: \S*x\.conf/, 'the interrupted step\'s change outside the backup is named');
});

test('a delegated change no backup of the host it was made on covers is that host\'s loss: its rollback says so, not "rolled back"', async () => {
  const rb =
    head('serial: 1\non_failure: rollback') +
    `  - name: back up the data
    backup: { paths: ["{{ root }}/data"], to: "{{ root }}/backup/{{ run.id }}" }
  - name: h1 writes a file outside h2's backup
    shell: { script: 'echo CHANGED > "$1"', args: ["{{ hostvars['h2'].root }}/foo"], writes: ["{{ hostvars['h2'].root }}/foo"] }
    delegate_to: h2
    when: inventory_hostname == 'h1'
  - name: h2 fails
    command: { argv: ["false"] }
    when: inventory_hostname == 'h2'
`;
  const c = setup(2, rb);
  for (const root of c.roots) mkdirSync(join(root, 'data'));
  writeFileSync(join(c.roots[1]!, 'foo'), 'ORIGINAL\n');
  const r = await applyCmd(c.o);
  assert.equal(r.exitCode, 4, c.o.stdout.text);
  assert.equal(readFileSync(join(c.roots[1]!, 'foo'), 'utf8'), 'CHANGED\n');
  const row = r.result!.recap.find((x) => x.host === 'h2')!;
  assert.match(row.message ?? '', /not restored: \S*h2\/foo/, `h2's recap names the file h1 changed there: ${JSON.stringify(row)}`);
  // and `runbook rollback ID` from the journal attributes it to h2 too
  const again = new Capture();
  await rollbackCmd({ id: r.result!.runId, stateDir: c.stateDir, stdout: again });
  assert.match(again.text, /h2.*not restored: \S*h2\/foo/);
});

test('a file the run moved into a backed-up tree and out again is not removed by rollback (the backup never held it): it stays, and rollback says where', async () => {
  const rb =
    head('on_failure: rollback') +
    `  - name: back up the data
    backup: { paths: ["{{ root }}/data"], to: "{{ root }}/backup/{{ run.id }}" }
  - name: move a file in
    move: { src: "{{ root }}/y", dest: "{{ root }}/data/y" }
  - name: and out again, elsewhere
    move: { src: "{{ root }}/data/y", dest: "{{ root }}/srv/y" }
  - name: fail
    command: { argv: ["false"] }
`;
  const c = setup(1, rb);
  const root = c.roots[0]!;
  mkdirSync(join(root, 'data'));
  writeFileSync(join(root, 'y'), 'the only copy\n');
  const r = await applyCmd(c.o);
  assert.equal(r.exitCode, 4, c.o.stdout.text);
  assert.equal(readFileSync(join(root, 'srv', 'y'), 'utf8'), 'the only copy\n', 'not deleted');
  assert.match(c.o.stdout.text, /srv\/y was left where it is: the backup did not hold \S*data\/y, so it is the only copy/);
});

test('validate warns about group_vars/ beside a runbook, once per directory, as plan and apply do', async () => {
  const c = setup(1, head() + '  - name: look\n    command: { argv: ["true"], read_only: true }\n');
  const rbDir = join(c.stateDir, '..', 'playbooks');
  mkdirSync(join(rbDir, 'group_vars'), { recursive: true });
  const rb = join(rbDir, 'rb.yaml');
  writeFileSync(rb, readFileSync(c.o.runbook));
  const v = await validateCmd({ files: [rb, rb], inventory: c.o.inventory! });
  const warned = v.diagnostics.filter((d) => d.severity === 'warning' && d.file?.endsWith('group_vars'));
  assert.deepEqual(warned.map((d) => [d.file, d.message]), [[join(rbDir, 'group_vars'), 'not read: Ansible reads group_vars/ beside the runbook, runbook does not, so none of its variables reach the hosts']]);
  assert.equal(v.exitCode, 0, 'a warning, not an error');
});
