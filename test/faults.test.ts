/**
 * Fault injection against real OpenSSH hosts on loopback (the lab, 127.1.244.x), seeded and
 * bounded: the runner SIGKILLed at a step (then `runbook rollback ID`), a host's sshd killed or
 * its connection cut in the middle of a step, a command hanging past its timeout, the backup
 * filesystem full, a host changed between `plan --out` and `apply --plan`.
 * After each, every host is either completed (the run's intended tree) or restored byte-identical
 * (sha256 of every file under the backed-up paths), and the journal says which.
 *
 * FAULT_SEED (default 7) picks the kill points; FAULT_ROUNDS (default 4) is how many runner kills.
 * RELIABILITY_OUT=file appends one JSON line per case (scripts/reliability.mjs builds RELIABILITY.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { walkTree } from '../src/lab/tree-snapshot.js';
import { fileURLToPath } from 'node:url';
import { restartHost, type LabHost } from '../src/lab/hosts.js';
import { applyCmd } from '../src/cli/apply.js';
import { planCmd } from '../src/cli/plan.js';
import { rollbackCmd } from '../src/cli/rollback.js';
import { resumeCmd } from '../src/cli/resume.js';
import { parseJournal, type JournalLine } from '../src/engine/journal.js';
import { isUserError } from '../src/errors.js';
import { Capture } from './support/capture.js';
import { cmdOptions as opts, dir, inv, lab, rbFile, stateDir, useLab } from './support/lab.js';
import { waitFor } from '../src/lab/wait.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const SEED = Number(process.env.FAULT_SEED ?? 7);
const ROUNDS = Number(process.env.FAULT_ROUNDS ?? 4);
const ROOTS = ['/etc/kubernetes/app', '/var/lib/kubelet/conf'];

/** per host: the tree before any run, and the tree a completed run leaves */
let original: Snap[] = [];
let completed: Snap[] = [];

/** mulberry32: a small seeded PRNG, so a failing seed can be replayed */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(SEED);


const RUNBOOK = `apiVersion: runbook/v1
name: faults
hosts: all
on_failure: rollback
vars:
  app: /etc/kubernetes/app
  pause_at: "0"
  hang_host: ""
steps:
  - name: Back up
    backup: { paths: ["{{ app }}", /var/lib/kubelet/conf], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Pause point 1
    command: { argv: [sh, -c, 'if [ "$1" = "$2" ]; then sleep 4; fi', sh, "1", "{{ pause_at }}"], changed_when: false }
  - name: Main config
    copy: { dest: "{{ app }}/a.conf", content: "v2 from {{ inventory_hostname }}\\n" }
  - name: Pause point 2
    command: { argv: [sh, -c, 'if [ "$1" = "$2" ]; then sleep 4; fi', sh, "2", "{{ pause_at }}"], changed_when: false }
  - name: Remove the old file
    file: { path: "{{ app }}/old.conf", state: absent }
  - name: Nested config
    copy: { dest: "{{ app }}/sub/c.conf", content: "v2 nested\\n", mode: "0600" }
  - name: Pause point 3
    command: { argv: [sh, -c, 'if [ "$1" = "$2" ]; then sleep 4; fi', sh, "3", "{{ pause_at }}"], changed_when: false }
  - name: New directory
    file: { path: "{{ app }}/new", state: directory, mode: "0750" }
  - name: Kubelet config
    copy: { dest: /var/lib/kubelet/conf/k.conf, content: "kubelet v2\\n" }
  - name: Pause point 4
    command: { argv: [sh, -c, 'if [ "$1" = "$2" ]; then sleep 4; fi', sh, "4", "{{ pause_at }}"], changed_when: false }
  - name: Hang where asked
    command: { argv: [sh, -c, 'if [ "$1" = "$2" ]; then sleep 60; fi', sh, "{{ inventory_hostname }}", "{{ hang_host }}"], changed_when: false }
    timeout: 2s
`;
/** step index (1-based) of pause point n */
const PAUSE_STEP: Record<number, number> = { 1: 2, 2: 4, 3: 7, 4: 10 };

type Snap = Map<string, { desc: string; size: number }>;

/** type, mode, sha256 (and size) of every entry under the backed-up roots on host h, seen from outside. */
function snapshot(h: LabHost): Snap {
  const out: Snap = new Map();
  for (const r of ROOTS) walkTree(lab.hostPath(h, r), r, (rel, desc, size) => out.set(rel, { desc, size }));
  return out;
}

function same(a: Snap, b: Snap): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k)?.desc !== v.desc) return false;
  return true;
}

/** Bytes of `expected`'s files that `actual` does not hold identically. */
function bytesLost(expected: Snap, actual: Snap): number {
  let n = 0;
  for (const [k, v] of expected) if (v.desc.startsWith('f ') && actual.get(k)?.desc !== v.desc) n += v.size;
  return n;
}

/** Each host's tree is the original or the completed one; which, per host. */
function verdicts(expect?: ('original' | 'completed')[]): { states: string[]; lost: number } {
  const states: string[] = [];
  let lost = 0;
  lab.hosts.forEach((h, i) => {
    const s = snapshot(h);
    const state = same(s, original[i]!) ? 'original' : same(s, completed[i]!) ? 'completed' : 'CORRUPT';
    states.push(state);
    if (state === 'CORRUPT') lost += Math.min(bytesLost(original[i]!, s), bytesLost(completed[i]!, s));
    if (expect) assert.equal(state, expect[i], `${h.name} should be ${expect[i]}`);
    else assert.notEqual(state, 'CORRUPT', `${h.name} is neither restored nor completed`);
  });
  return { states, lost };
}

/** `wrongRolledBack`: hosts reported rolled back (or ok) whose tree says otherwise; every case asserts it is 0. */
function record(name: string, tries: number, survived: number, lost: number, detail: string, wrongRolledBack = 0): void {
  const out = process.env.RELIABILITY_OUT;
  if (out) appendFileSync(out, JSON.stringify({ suite: 'faults', case: name, tries, survived, bytesLost: lost, wrongRolledBack, detail }) + '\n');
}

/** The initial tree: files, a nested dir, a symlink, a private key-like file, a file the run removes. */
function resetHosts(): void {
  for (const h of lab.hosts) {
    for (const r of ROOTS) rmSync(lab.hostPath(h, r), { recursive: true, force: true });
    const app = lab.hostPath(h, '/etc/kubernetes/app');
    mkdirSync(join(app, 'sub'), { recursive: true, mode: 0o755 });
    writeFileSync(join(app, 'a.conf'), `v1 from ${h.name}\n`, { mode: 0o644 });
    writeFileSync(join(app, 'old.conf'), 'old\n', { mode: 0o640 });
    writeFileSync(join(app, 'sub', 'c.conf'), 'v1 nested\n', { mode: 0o644 });
    writeFileSync(join(app, 'key.pem'), createHash('sha512').update(h.name).digest('hex').repeat(40), { mode: 0o600 });
    symlinkSync('a.conf', join(app, 'current.conf'));
    const k = lab.hostPath(h, '/var/lib/kubelet/conf');
    mkdirSync(k, { recursive: true });
    writeFileSync(join(k, 'k.conf'), 'kubelet v1\n');
    rmSync(lab.hostPath(h, '/var/lib/runbook/lock'), { force: true });
  }
}

function journal(id: string): JournalLine[] {
  return parseJournal(readFileSync(join(stateDir, 'runs', `${id}.jsonl`), 'utf8'));
}

/** The journal of a rolled-back run: the original run's part and the last rollback's recap. */
function journalFacts(id: string) {
  const lines = journal(id);
  const firstRb = lines.findIndex((l) => l.kind === 'run-start' && l.mode === 'rollback');
  const orig = firstRb < 0 ? lines : lines.slice(0, firstRb);
  const applyEnd = orig.find((l) => l.kind === 'run-end');
  const rbEnds = lines.filter((l) => l.kind === 'run-end' && l.mode === 'rollback');
  const lastRb = rbEnds[rbEnds.length - 1];
  return { lines, orig, applyEnd: applyEnd?.kind === 'run-end' ? applyEnd : undefined, rollbackEnd: lastRb?.kind === 'run-end' ? lastRb : undefined };
}

/** Every host with a change journaled also has its backup journaled before it (rollback can cover it). */
function assertChangesCovered(lines: JournalLine[]): void {
  const backedUp = new Set<string>();
  for (const l of lines) {
    if (l.kind !== 'step-end') continue;
    if (l.backupDir) backedUp.add(l.host);
    if (l.status === 'changed' && l.type !== 'backup') assert.ok(backedUp.has(l.host), `${l.host}: "${l.name}" changed before any backup was journaled`);
  }
}

function events(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    });
}


/** Processes in host h's mount namespace (its sshd and sessions), found as stopLab finds them. */
function namespacePids(h: LabHost): number[] {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${h.pid}/ns/mnt`);
  } catch {
    return [];
  }
  if (ns === readlinkSync('/proc/self/ns/mnt')) return [];
  const out: number[] = [];
  for (const ent of readdirSync('/proc')) {
    if (!/^\d+$/.test(ent) || Number(ent) === process.pid) continue;
    try {
      if (readlinkSync(`/proc/${ent}/ns/mnt`) === ns) out.push(Number(ent));
    } catch {
      /* gone */
    }
  }
  return out;
}

const skip = useLab({
  start: { count: 3, firstAddress: '127.1.244.1', namePrefix: 'flt' },
  tmp: 'runbook-faults-',
  runbook: { file: 'faults.yaml', text: RUNBOOK },
  setup: async () => {
    resetHosts();
    original = lab.hosts.map(snapshot);
    const o = opts({});
    const r = await applyCmd(o);
    assert.equal(r.exitCode, 0, o.stdout.text + o.stderr.text);
    completed = lab.hosts.map(snapshot);
    lab.hosts.forEach((_, i) => assert.ok(!same(original[i]!, completed[i]!)));
    resetHosts();
  },
});

test(`the runner SIGKILLed at a seeded step (seed ${SEED}, ${ROUNDS} rounds): rollback ID restores every host byte-identical`, { skip }, async () => {
  let survived = 0;
  let lost = 0;
  const where: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    resetHosts();
    // even rounds: killed while every host is inside a seeded pause point; odd rounds: after a seeded delay
    const pause = round % 2 === 0 ? 1 + Math.floor(rand() * 4) : 0;
    const delayMs = pause ? 0 : Math.floor(rand() * 200); // a whole run takes ~250 ms here: most land mid-run
    const child = spawn(process.execPath, [MAIN, 'apply', rbFile, '-i', inv, '--state-dir', stateDir, '--json', '-e', `pause_at=${pause}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    let runId = '';
    await waitFor('run-start', () => !!(runId = String(events(out).find((e) => e.kind === 'run-start')?.runId ?? '')), 30_000, 20);
    if (pause) {
      const idx = PAUSE_STEP[pause]!;
      await waitFor(`every host in pause point ${pause}`, () => lab.hosts.every((h) => events(out).some((e) => e.kind === 'step-start' && e.host === h.name && e.index === idx)), 30_000, 20);
    } else await new Promise((r) => setTimeout(r, delayMs));
    child.kill('SIGKILL');
    await exited;
    const before = journalFacts(runId);
    const lastStep = [...before.orig].reverse().find((l) => l.kind === 'step-end');
    const reached = lastStep?.kind === 'step-end' ? `, last journaled step ${lastStep.index}` : '';
    const killedAt = pause ? `in pause point ${pause} (step ${PAUSE_STEP[pause]})` : before.applyEnd ? `${delayMs} ms: the run had finished` : `${delayMs} ms after run-start${reached}`;
    // the journal tells the truth: a run-end only when the run finished before the kill
    const finished = events(out).some((e) => e.kind === 'run-end');
    assert.equal(!!before.applyEnd, finished, 'the journal has a run-end exactly when the runner reported one');
    if (pause) assert.equal(before.applyEnd, undefined, 'killed mid-step: no run-end in its journal');
    assertChangesCovered(before.orig);
    const r = await rollbackCmd({ id: runId, stateDir, stdout: new Capture() });
    const v = verdicts(['original', 'original', 'original']);
    const j = journalFacts(runId);
    assert.equal(r.exitCode, 0, JSON.stringify(r.recap));
    assert.ok(j.rollbackEnd && j.rollbackEnd.exitCode === 0, 'the journal records the rollback and its success');
    for (const row of j.rollbackEnd!.recap) assert.equal(row.status, 'ok', `${row.host}: ${row.message}`);
    for (const h of lab.hosts) assert.equal(existsSync(lab.hostPath(h, '/var/lib/runbook/lock')), false, `${h.name}: lock released`);
    lost += v.lost;
    survived++;
    where.push(killedAt);
  }
  record('runner SIGKILL at a seeded step, then `runbook rollback ID`', ROUNDS, survived, lost, `seed ${SEED}: ${where.join('; ')}`);
});

// 20 in CI (FAULT_ROUNDS=4), 100 for RELIABILITY.md (--rounds 20)
const RESUME_ROUNDS = Number(process.env.FAULT_RESUME_ROUNDS ?? ROUNDS * 5);

test(`the runner SIGKILLed at ${RESUME_ROUNDS} seeded points, then resume ID: every host ends completed, byte-identical`, { skip }, async () => {
  let survived = 0;
  let lost = 0;
  const where: string[] = [];
  for (let round = 0; round < RESUME_ROUNDS; round++) {
    resetHosts();
    // every 4th round: killed while every host is inside a seeded pause point; the others after a seeded delay
    const pause = round % 4 === 0 ? 1 + Math.floor(rand() * 4) : 0;
    const delayMs = pause ? 0 : Math.floor(rand() * 450); // run-start to run-end takes ~300-500 ms here: most land mid-run
    const child = spawn(process.execPath, [MAIN, 'apply', rbFile, '-i', inv, '--state-dir', stateDir, '--json', '-e', `pause_at=${pause}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    let runId = '';
    await waitFor('run-start', () => !!(runId = String(events(out).find((e) => e.kind === 'run-start')?.runId ?? '')), 30_000, 20);
    if (pause) {
      const idx = PAUSE_STEP[pause]!;
      await waitFor(`every host in pause point ${pause}`, () => lab.hosts.every((h) => events(out).some((e) => e.kind === 'step-start' && e.host === h.name && e.index === idx)), 30_000, 20);
    } else await new Promise((r) => setTimeout(r, delayMs));
    child.kill('SIGKILL');
    await exited;
    const before = journalFacts(runId);
    assertChangesCovered(before.orig);
    const lastStep = [...before.orig].reverse().find((l) => l.kind === 'step-end');
    where.push(pause ? `pause ${pause}` : before.applyEnd ? `${delayMs} ms (finished)` : `${delayMs} ms${lastStep?.kind === 'step-end' ? ` (step ${lastStep.index})` : ''}`);
    let said = '';
    if (!before.applyEnd) {
      // the pauses are not wanted again: -e overrides the run's value
      const cap = new Capture();
      const r = await resumeCmd({ id: runId, stateDir, extraVars: ['pause_at=0'], stdout: cap });
      said = cap.text;
      assert.equal(r.exitCode, 0, `round ${round} (${where[where.length - 1]}): ${JSON.stringify(r.result.recap)}`);
      const j = journalFacts(runId);
      assert.ok(j.lines.some((l) => l.kind === 'run-end' && l.mode === 'apply' && l.exitCode === 0), 'the journal records the resumed run and its success');
    }
    const diffs = lab.hosts.flatMap((h, i) => {
      const now = snapshot(h);
      const keys = [...new Set([...now.keys(), ...completed[i]!.keys()])].filter((k) => now.get(k)?.desc !== completed[i]!.get(k)?.desc);
      return keys.length ? [`${h.name}: ${keys.map((k) => `${k} ${now.get(k)?.desc ?? 'missing'} (want ${completed[i]!.get(k)?.desc ?? 'absent'})`).join(', ')}`] : [];
    });
    assert.deepEqual(diffs, [], `round ${round} (${where[where.length - 1]}), run ${runId}:\n${said}`);
    const v = verdicts(['completed', 'completed', 'completed']);
    for (const h of lab.hosts) assert.equal(existsSync(lab.hostPath(h, '/var/lib/runbook/lock')), false, `${h.name}: lock released`);
    if (!before.applyEnd && round % 2 === 1) {
      // the resumed run kept the original backup (never re-taken over changed files): rollback ID gives the pre-run bytes
      const back = await rollbackCmd({ id: runId, stateDir, stdout: new Capture() });
      assert.equal(back.exitCode, 0, JSON.stringify(back.recap));
      verdicts(['original', 'original', 'original']);
      where[where.length - 1] += ' +rollback';
    }
    lost += v.lost;
    survived++;
  }
  record('runner SIGKILL at a seeded point, then `runbook resume ID`', RESUME_ROUNDS, survived, lost, `seed ${SEED}: ${where.join('; ')}`);
});

/** Run apply in-process with JSON events; `during` runs once every host is inside pause point 2. */
async function applyWithFault(extraVars: string[], during: (events: () => Record<string, unknown>[]) => Promise<void>) {
  const o = opts({ json: true, extraVars });
  const p = applyCmd(o);
  await waitFor('every host in pause point 2', () => lab.hosts.every((h) => events(o.stdout.text).some((e) => e.kind === 'step-start' && e.host === h.name && e.index === PAUSE_STEP[2])), 30_000, 20);
  await during(() => events(o.stdout.text));
  const r = await p;
  return { r, o };
}

for (const variant of ['sshd killed', 'connection cut'] as const) {
  test(`a host's ${variant} in the middle of a step: it is reported, the others complete, rollback restores it once it is back`, { skip }, async () => {
    resetHosts();
    const victim = lab.hosts[1]!;
    const { r, o } = await applyWithFault(['pause_at=2'], async () => {
      // the listener (sshd -D, the lab's PID) and every session in the host's mount namespace
      const pids = namespacePids(victim).filter((p) => variant === 'sshd killed' || p !== victim.pid);
      assert.ok(pids.length > 0);
      for (const p of pids) process.kill(p, 'SIGKILL');
    });
    assert.equal(r.exitCode, 4, o.stdout.text);
    const rows = Object.fromEntries(r.result!.recap.map((x) => [x.host, x]));
    assert.equal(rows[victim.name]!.status, 'rollback-failed', JSON.stringify(rows[victim.name]));
    assert.match(rows[victim.name]!.message ?? '', /connection|lost|closed|reset/i);
    for (const h of [lab.hosts[0]!, lab.hosts[2]!]) assert.equal(rows[h.name]!.status, 'ok');
    // the others completed; the victim is half-changed until it can be reached again
    for (const i of [0, 2]) assert.ok(same(snapshot(lab.hosts[i]!), completed[i]!), `${lab.hosts[i]!.name} completed`);
    // the journal: the victim's step failed on the lost connection and its rollback could not run
    const runId = r.result!.runId;
    const j = journalFacts(runId);
    assertChangesCovered(j.orig);
    const end = j.applyEnd!;
    assert.equal(end.recap.find((x) => x.host === victim.name)!.status, 'rollback-failed');
    if (variant === 'sshd killed') {
      const down = await rollbackCmd({ id: runId, stateDir, limit: victim.name, stdout: new Capture() });
      assert.equal(down.exitCode, 5, 'while its sshd is down the host is unreachable');
      assert.ok(journalFacts(runId).rollbackEnd!.recap.every((x) => x.status === 'unreachable'), 'and the journal says so');
      await restartHost(lab, victim.name);
    } else {
      await waitFor('the cut sessions to be gone', () => namespacePids(victim).length === 1, 30_000, 20);
    }
    const back = await rollbackCmd({ id: runId, stateDir, limit: victim.name, stdout: new Capture() });
    assert.equal(back.exitCode, 0, JSON.stringify(back.recap));
    const v = verdicts(['completed', 'original', 'completed']);
    assert.equal(journalFacts(runId).rollbackEnd!.recap[0]!.status, 'ok');
    record(`${variant} mid-step (on_failure: rollback), then \`runbook rollback ID\` once back`, 1, 1, v.lost, `${victim.name}: ${rows[victim.name]!.message?.slice(0, 80)}`);
  });
}

test('a remote command hanging past its timeout is killed, reported, and its host rolled back', { skip }, async () => {
  resetHosts();
  const victim = lab.hosts[0]!;
  const o = opts({ json: true, extraVars: [`hang_host=${victim.name}`] });
  const r = await applyCmd(o);
  assert.equal(r.exitCode, 6, o.stdout.text);
  const rows = Object.fromEntries(r.result!.recap.map((x) => [x.host, x]));
  assert.equal(rows[victim.name]!.status, 'rolled-back');
  assert.match(rows[victim.name]!.message ?? '', /timed out/);
  const v = verdicts(['original', 'completed', 'completed']);
  const j = journalFacts(r.result!.runId);
  const hang = j.orig.find((l) => l.kind === 'step-end' && l.host === victim.name && l.name === 'Hang where asked');
  assert.ok(hang && hang.kind === 'step-end' && hang.status === 'failed' && /timed out/.test(hang.message ?? ''), JSON.stringify(hang));
  assert.ok(j.orig.some((l) => l.kind === 'restore' && l.host === victim.name && l.changed), 'the journal shows the restore');
  // the remote sleep was killed, not left running
  await waitFor('the hung command to be killed', () => !namespacePids(victim).some((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith('sleep\u000060');
    } catch {
      return false;
    }
  }), 10_000, 20);
  record('remote command hanging past its `timeout:`', 1, 1, v.lost, 'killed after 2 s, host rolled back');
});

test('the backup filesystem full: the host is not changed at all, the others complete', { skip: skip || (spawnSync('sh', ['-c', 'command -v nsenter']).status === 0 ? false : 'nsenter not installed') }, async () => {
  resetHosts();
  const victim = lab.hosts[2]!;
  // a backed-up file bigger than the tiny backup filesystem
  writeFileSync(lab.hostPath(victim, '/etc/kubernetes/app/big.bin'), Buffer.alloc(256 * 1024, 7));
  const beforeVictim = snapshot(victim);
  const ns = (args: string[]) => spawnSync('nsenter', ['-t', String(victim.pid), '-m', ...args], { encoding: 'utf8' });
  const m = ns(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'runbook-full', '/var/backups']);
  assert.equal(m.status, 0, m.stderr);
  try {
    const o = opts({ json: true });
    const r = await applyCmd(o);
    const rows = Object.fromEntries(r.result!.recap.map((x) => [x.host, x]));
    assert.notEqual(rows[victim.name]!.status, 'ok');
    assert.match(rows[victim.name]!.message ?? '', /backup|space/i);
    for (const h of [lab.hosts[0]!, lab.hosts[1]!]) assert.equal(rows[h.name]!.status, 'ok');
    assert.ok(same(snapshot(victim), beforeVictim), `${victim.name} unchanged`);
    for (const i of [0, 1]) assert.ok(same(snapshot(lab.hosts[i]!), completed[i]!));
    const j = journalFacts(r.result!.runId);
    const mine = j.orig.filter((l) => l.kind === 'step-end' && l.host === victim.name);
    const b = mine.find((l) => l.kind === 'step-end' && l.type === 'backup');
    assert.ok(b && b.kind === 'step-end' && b.status === 'failed' && /No space left|space/i.test(b.message ?? ''), JSON.stringify(b));
    assert.ok(!mine.some((l) => l.kind === 'step-end' && l.status === 'changed'), 'no change journaled on the host whose backup failed');
    record('backup filesystem full (64 KiB tmpfs in the host\'s namespace)', 1, 1, bytesLost(beforeVictim, snapshot(victim)), `${victim.name}: ${rows[victim.name]!.status}, nothing changed`);
  } finally {
    ns(['umount', '/var/backups']);
    rmSync(lab.hostPath(victim, '/etc/kubernetes/app/big.bin'), { force: true });
  }
});

test('a file changed by someone else between plan --out and apply --plan: apply refuses, nothing changes', { skip }, async () => {
  resetHosts();
  const planFile = join(dir, 'plan.json');
  assert.equal((await planCmd(opts({ out: planFile }))).exitCode, 2);
  const victim = lab.hosts[1]!;
  writeFileSync(lab.hostPath(victim, '/etc/kubernetes/app/sub/c.conf'), 'v2 nested\n'); // someone did part of the job by hand
  const snaps = lab.hosts.map(snapshot);
  await assert.rejects(applyCmd(opts({ plan: planFile })), (e) => isUserError(e) && e.kind === 'plan-stale' && e.message.includes(victim.name) && e.message.includes('Nested config'));
  lab.hosts.forEach((h, i) => assert.ok(same(snapshot(h), snaps[i]!), `${h.name} unchanged`));
  assert.ok(!existsSync(join(stateDir, 'runs', `${JSON.parse(readFileSync(planFile, 'utf8')).run_id}.jsonl`)), 'no journal: nothing ran');
  record('host changed between `plan --out` and `apply --plan`', 1, 1, 0, 'apply refused (plan-stale), no host touched');
});

/**
 * Hosts whose report does not match their tree: reported rolled back (or aborted and rolled back)
 * but not original, or reported ok but not completed. Must be 0.
 */
function wronglyReported(rows: Record<string, { status: string; message?: string }>): string[] {
  const wrong: string[] = [];
  lab.hosts.forEach((h, i) => {
    const s = snapshot(h);
    const row = rows[h.name];
    if (!row) return;
    const saysRestored = row.status === 'rolled-back' || (row.status === 'aborted' && /rolled back/.test(row.message ?? ''));
    if (saysRestored && !same(s, original[i]!)) wrong.push(`${h.name}: reported ${row.status} but not restored`);
    if (row.status === 'ok' && !same(s, completed[i]!)) wrong.push(`${h.name}: reported ok but not completed`);
  });
  return wrong;
}

const JOURNAL_ROUNDS = ROUNDS;

test(`the operator's state dir full at ${JOURNAL_ROUNDS} seeded sizes (a tmpfs): every host stops before its next change, ends completed or restored, and is reported as it is`, { skip: skip || (process.getuid?.() === 0 ? false : 'needs root to mount a tmpfs') }, async () => {
  let survived = 0;
  let lost = 0;
  let wrong = 0;
  const where: string[] = [];
  for (let round = 0; round < JOURNAL_ROUNDS; round++) {
    resetHosts();
    // sizes from "not even the run-start fits" to "the whole run fits", in pages
    const kib = 4 * (1 + Math.floor(rand() * 6));
    const small = mkdtempSync(join(dir, 'small-state-'));
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k,mode=0700`, 'runbook-state-full', small], { encoding: 'utf8' });
    assert.equal(m.status, 0, m.stderr);
    try {
      const o = { ...opts({ json: true }), stateDir: small };
      const r = await applyCmd(o).catch((e: unknown) => ({ exitCode: -1, result: undefined, error: e }));
      if (!r.result) {
        // the journal could not even be created: nothing ran
        verdicts(['original', 'original', 'original']);
        where.push(`${kib}k: refused before any host`);
      } else {
        const rows = Object.fromEntries(r.result.recap.map((x) => [x.host, x]));
        const v = verdicts();
        lost += v.lost;
        const bad = wronglyReported(rows);
        wrong += bad.length;
        assert.deepEqual(bad, [], `${kib}k: ${o.stdout.text.slice(-2000)}`);
        const broke = events(o.stdout.text).some((e) => e.kind === 'warning' && /journal .* cannot be written/.test(String(e.message)));
        if (broke) assert.notEqual(r.exitCode, 0, 'a run whose journal broke does not report success');
        where.push(`${kib}k: ${v.states.join('/')}${broke ? ' (journal full)' : ''}`);
      }
      survived++;
    } finally {
      spawnSync('umount', [small]);
    }
  }
  record("operator's state dir full (journal write fails: tmpfs of seeded size)", JOURNAL_ROUNDS, survived, lost, `seed ${SEED}: ${where.join('; ')}`, wrong);
});

const COPY_ROUNDS = Math.max(1, Math.round(ROUNDS / 4));

test(`a step timeout during a large copy (${COPY_ROUNDS} seeded timeouts): the transfer is cancelled before rollback, nothing lands afterwards`, { skip }, async () => {
  const big = join(dir, 'big.bin');
  writeFileSync(big, Buffer.alloc(64 * 1024 * 1024, 9));
  const rb = join(dir, 'large-copy.yaml');
  let survived = 0;
  let lost = 0;
  let wrong = 0;
  const where: string[] = [];
  try {
    for (let round = 0; round < COPY_ROUNDS; round++) {
      resetHosts();
      const ms = 150 + Math.floor(rand() * 450);
      writeFileSync(rb, `apiVersion: runbook/v1
name: large-copy
hosts: all
on_failure: rollback
steps:
  - name: Back up
    backup: { paths: [/etc/kubernetes/app, /var/lib/kubelet/conf], to: "/var/backups/runbook/{{ run.id }}" }
  - name: Main config
    copy: { dest: /etc/kubernetes/app/a.conf, content: "changed\\n" }
  - name: Large copy
    copy: { src: "${big}", dest: /var/lib/kubelet/conf/big.bin }
    timeout: ${ms}ms
`);
      const o = { ...opts({ json: true }), runbook: rb };
      const r = await applyCmd(o);
      const rows = Object.fromEntries(r.result!.recap.map((x) => [x.host, x]));
      // nothing may land behind the rollback's back
      await new Promise((res) => setTimeout(res, 1500));
      const v = verdicts(['original', 'original', 'original']);
      lost += v.lost;
      const bad = wronglyReported(rows);
      wrong += bad.length;
      assert.deepEqual(bad, []);
      for (const h of lab.hosts) assert.equal(rows[h.name]!.status, 'rolled-back', `${h.name}: ${rows[h.name]!.message}`);
      where.push(`${ms} ms`);
      survived++;
    }
  } finally {
    rmSync(big, { force: true });
  }
  record('step timeout during a 64 MiB copy (cancelled: process groups killed, SFTP closed, temp files removed)', COPY_ROUNDS, survived, lost, `seed ${SEED}: timeouts ${where.join(', ')}`, wrong);
});
