/**
 * `runbook demo` end to end, as a newcomer runs it: the compiled CLI as a child process, no root
 * needed, only 127.0.0.1. Exit 0, the symptoms before (Unauthorized or refused), a Server Version
 * after, 0 changed on the second apply, the rollback restoring /etc/kubernetes; nothing left behind
 * (sandbox removed, node agent stopped).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/lab/sim/paths.js';

const MAIN = join(packageRoot, 'dist/src/cli/main.js');
const parent = mkdtempSync(join(tmpdir(), 'runbook-demo-test-'));
const scratch = mkdtempSync(join(tmpdir(), 'runbook-demo-test-rb-'));
// "no root needed": as root (CI), run the demo as nobody; the dirs it gets must be theirs to write
// (only when nobody can run the CLI at all: a checkout under /root is not readable by nobody)
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const asNobody = process.getuid?.() === 0 && spawnSync(NOBODY[0]!, [...NOBODY.slice(1), process.execPath, MAIN, '--version'], { cwd: '/' }).status === 0;
const home = mkdtempSync(join(tmpdir(), 'runbook-demo-test-home-'));
if (asNobody) {
  chmodSync(parent, 0o777);
  chmodSync(home, 0o777);
  chmodSync(scratch, 0o755);
}
after(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(parent, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

/** Still the demo's node agent (PIDs wrap: a PID alone may belong to someone else by now). */
function agentRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(parent);
  } catch {
    return false;
  }
}

function runDemo(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const argv = [...(asNobody ? NOBODY : []), process.execPath, MAIN, 'demo', '--dir', parent, ...args];
    execFile(argv[0]!, argv.slice(1), { cwd: packageRoot, timeout: 240_000, maxBuffer: 32 << 20, env: { ...process.env, HOME: home, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      const c = err ? (err as { code?: unknown }).code : 0;
      resolve({ code: typeof c === 'number' ? c : -1, out: stdout + stderr });
    });
  });
}

test('runbook demo: expired node → plan, apply, verify, idempotent apply, rollback; exit 0, nothing left behind (as nobody when root)', { timeout: 300_000 }, async () => {
  const { code, out } = await runDemo([]);
  assert.equal(code, 0, out);
  const section = (from: string, to: string) => out.slice(out.indexOf(from), to ? out.indexOf(to) : undefined);
  const s1 = section('── 1.', '── 2.');
  const s4 = section('── 4.', '── 5.');
  const s5 = section('── 5.', '── 6.');
  const s6 = section('── 6.', '── 7.');
  // the commands an operator would type
  assert.match(out, /\$ runbook plan runbooks\/cert-renew\.yaml -i \S+\/inventory\.yaml --state-dir \S+/);
  assert.match(out, /\$ runbook apply runbooks\/cert-renew\.yaml -i /);
  assert.match(out, /\$ runbook rollback \d{8}T\d{6}Z-[0-9a-f]+ --state-dir /);
  // 1: symptoms with the real kubectl, the kubelet failing, cert-check failing
  assert.match(s1, /Unauthorized|must be logged in|was refused/);
  assert.match(s1, /EXPIRED \d+ days ago/);
  assert.match(s1, /✔ cert-check: certificates expired \(exit 4\)/);
  // 2-3: plan shows the version's renew command, apply renews
  assert.match(out, /\$ kubeadm alpha certs renew apiserver --cert-dir /);
  assert.match(out, /✔ plan: changes pending \(exit 2\)/);
  assert.match(out, /✔ apply: renewed \(exit 0, changed=\d+, run /);
  // 4: the real kubectl gets a Server Version
  assert.match(s4, /Server Version: v1\.18\.\d+/);
  assert.match(s4, /✔ cert-check passes \(exit 0\)/);
  // 5: idempotent
  assert.match(s5, /changed=0/);
  assert.match(s5, /✔ second apply: 0 changed/);
  // 6: rollback restores the tree and the symptom
  const before = /sha256 of \/etc\/kubernetes before the run: ([0-9a-f]{64})/.exec(out)?.[1];
  const afterRb = /sha256 of \/etc\/kubernetes after the rollback: ([0-9a-f]{64})/.exec(s6)?.[1];
  assert.ok(before && afterRb, out);
  assert.equal(afterRb, before);
  assert.match(s6, /✔ kubectl fails again/);
  assert.match(out, /✔ demo finished in [\d.]+s: every stage behaved as expected/);
  if (asNobody) assert.match(out, /kubeadm-cert-renew +1 +changed=\d+ .* nobody@/); // history's OPERATOR column
  assert.doesNotMatch(out, /✘/);
  // nothing left behind
  const pid = Number(/is PID (\d+)\)/.exec(out)?.[1]);
  assert.ok(pid > 0, 'the demo names its node agent PID');
  assert.equal(agentRunning(pid), false, `node agent ${pid} left running`);
  assert.deepEqual(readdirSync(parent), []);
});

test('runbook demo --scenario: an unknown name is invalid input (exit 3) and names the known ones', async () => {
  const { code, out } = await runDemo(['--scenario', 'nope']);
  assert.equal(code, 3, out);
  assert.match(out, /unknown scenario "nope".*seed1-1\.18/s);
  assert.deepEqual(readdirSync(parent), []);
});

test('runbook demo with a renewal runbook that renews nothing: exit 4, the unexpected stages named, sandbox removed', { timeout: 300_000 }, async () => {
  const rb = join(scratch, 'renews-nothing.yaml');
  writeFileSync(rb, 'apiVersion: runbook/v1\nname: renews-nothing\nhosts: control_plane\nsteps:\n  - name: look only\n    set_fact: { looked: true }\n');
  const { code, out } = await runDemo(['--renew-runbook', rb]);
  assert.equal(code, 4, out);
  assert.match(out, /✔ cert-check: certificates expired \(exit 4\)/); // the symptoms are still shown
  assert.match(out, /✘ plan exited 0, expected 2/);
  assert.match(out, /✘ apply exited 0 \(changed=0\), expected 0 with changes/);
  assert.match(out, /verification, the second apply and the rollback are skipped/);
  assert.match(out, /✘ demo finished in [\d.]+s with 2 unexpected result\(s\)/);
  const pid = Number(/is PID (\d+)\)/.exec(out)?.[1]);
  assert.equal(agentRunning(pid), false, `node agent ${pid} left running`);
  assert.deepEqual(readdirSync(parent), []);
});
