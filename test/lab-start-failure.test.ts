/**
 * startLab's failure path, provoked for real: an address already taken, hosts that never become ready,
 * two labs racing for one block, Ctrl-C during `runbook lab up`. Whatever fails, startLab rejects naming
 * the host and address, and no process it started lives on (they are detached: a survivor keeps its
 * address with PPID 1).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IN_NS_LAB, LabStartError, labNetwork, labSupport, startLab, stopLab, type Lab, type StartLabOptions } from '../src/lab/hosts.js';
import { packageRoot } from '../src/lab/sim/paths.js';
import { procStartTime } from '../src/lab/process.js';

const support = labSupport();
const skip = support.ok ? false : support.reason!;
const BLOCK = '127.1.226'; // this file's own block (house-rules)

/** Processes of the lab in `dir`: its wrappers (the namespace script names the dir) and anything whose /run/runbook-lab is that dir. */
function labProcesses(dir: string, id: { dev: number; ino: number }): number[] {
  const out: number[] = [];
  for (const ent of readdirSync('/proc')) {
    if (!/^\d+$/.test(ent) || Number(ent) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${ent}/cmdline`, 'utf8').includes(dir)) {
        out.push(Number(ent));
        continue;
      }
      const st = statSync(`/proc/${ent}/root${IN_NS_LAB}`);
      if (st.dev === id.dev && st.ino === id.ino) out.push(Number(ent));
    } catch {
      /* gone, or no such path in its namespace */
    }
  }
  return out;
}

/** startLab in a fresh dir; resolves to its error (asserting it failed and left nothing running) or to the lab. */
async function attempt(opts: StartLabOptions): Promise<{ lab?: Lab; error?: LabStartError; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-lab-fail-'));
  const id = statSync(dir);
  try {
    return { lab: await startLab({ ...opts, dir }), dir };
  } catch (e) {
    assert.ok(e instanceof LabStartError, `not a LabStartError: ${String(e)}`);
    assert.equal(e.dir, dir);
    assert.deepEqual(e.leftover, []);
    for (const h of e.started) assert.equal(procStartTime(h.pid) === h.startTime && h.startTime !== '', false, `${h.name}'s sshd (PID ${h.pid}) is still running`);
    assert.deepEqual(labProcesses(dir, id), [], `processes of the failed lab in ${dir} are still running`);
    assert.equal(existsSync(dir), false, 'the failed lab dir is removed');
    return { error: e, dir };
  }
}

function listen(address: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer((s) => s.destroy());
    srv.once('error', reject);
    srv.listen(port, address, () => resolve(srv));
  });
}

test('an address already taken: startLab names the host and address, stops the hosts that did start, and frees their addresses', { skip }, async () => {
  const taken = labNetwork(`${BLOCK}.2`);
  const srv = await listen(taken, 22);
  let r: Awaited<ReturnType<typeof attempt>>;
  try {
    r = await attempt({ count: 3, firstAddress: '127.1.226.1', namePrefix: 'lsf' });
    assert.ok(srv.listening, 'our own listener is left alone');
  } finally {
    await new Promise((res) => srv.close(res));
  }
  assert.ok(r.error, 'startLab must fail');
  assert.match(r.error.message, new RegExp(`^lab start failed: lsf-02 \\(${taken.replaceAll('.', '\\.')}:22\\) exited with 255: .*Address already in use`));
  assert.match(r.error.message, /another lab in the same address block\?/);
  assert.equal(r.error.started.length, 3, 'every host was spawned');
  // lsf-01 and lsf-03 had bound their addresses: stopped, the block is free for a new lab
  const again = await startLab({ count: 3, firstAddress: '127.1.226.1', namePrefix: 'lsf' });
  await again.stop();
});

test('hosts that never become ready in time are stopped mid-start (namespace script, mounts, sshd)', { skip }, async () => {
  const r = await attempt({ count: 6, firstAddress: '127.1.226.11', namePrefix: 'lst', readyTimeoutMs: 1 });
  assert.ok(r.error, 'six sshds cannot all be listening within 1 ms of their spawn');
  assert.match(r.error.message, new RegExp(`^lab start failed: sshd did not start listening within 1 ms on lst-0\\d \\(${labNetwork(`${BLOCK}.`).replaceAll('.', '\\.')}1\\d:22\\)`));
  assert.equal(r.error.started.length, 6);
});

test('two labs racing for one block: whichever fails leaves nothing running, and they never both start', { skip }, async () => {
  const opts = (namePrefix: string): StartLabOptions => ({ count: 3, firstAddress: '127.1.226.21', namePrefix });
  const [a, b] = await Promise.all([attempt(opts('lra')), attempt(opts('lrb'))]);
  const up = [a, b].flatMap((x) => (x.lab ? [x.lab] : []));
  for (const lab of up) await lab.stop();
  assert.ok(up.length < 2, 'two sshds cannot listen on one address');
  for (const x of [a, b]) if (x.error) assert.match(x.error.message, /^lab start failed: lr[ab]-0\d \(127\.\d+\.226\.2\d:22\) exited with 255: .*(Address already in use|listen)/);
});

test('the process leaving while startLab waits for its hosts: they are killed on its way out, not left with PPID 1', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-lab-fail-'));
  const id = statSync(dir);
  // the child exits (process.exit, as a CLI or a test runner does) as soon as the state file lists the spawned sshds
  const child = `
    import { readFileSync } from 'node:fs';
    const { startLab } = await import(${JSON.stringify(new URL('../src/lab/hosts.js', import.meta.url).href)});
    setInterval(() => {
      let hosts = [];
      try { hosts = JSON.parse(readFileSync(${JSON.stringify(join(dir, 'lab.json'))}, 'utf8')).hosts; } catch {}
      if (hosts.length > 0) { process.stdout.write(JSON.stringify(hosts)); process.exit(3); }
    }, 1);
    const lab = await startLab({ count: 6, firstAddress: '127.1.226.31', namePrefix: 'lsx', dir: ${JSON.stringify(dir)} });
    await lab.stop();
    process.exit(4);`;
  try {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', child], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 3, `the child must exit while startLab waits (4: all six were ready first): ${r.stderr}`);
    const hosts = JSON.parse(r.stdout) as { name: string; pid: number; startTime: string }[];
    assert.equal(hosts.length, 6);
    const left = () => [...hosts.filter((h) => procStartTime(h.pid) === h.startTime).map((h) => h.pid), ...labProcesses(dir, id)];
    for (let i = 0; i < 100 && left().length > 0; i++) await new Promise((res) => setTimeout(res, 20)); // SIGKILLed: gone within moments
    assert.deepEqual(left(), [], 'processes of the lab its process left behind');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Ctrl-C while `runbook lab up` starts its hosts: every sshd it spawned is stopped, the lab dir removed, exit 130', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-lab-fail-'));
  const id = statSync(dir);
  const main = join(packageRoot, 'dist/src/cli/main.js');
  const child = spawn(process.execPath, [main, 'lab', 'up', '6', '--dir', dir, '--first-address', '127.1.226.41'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  // interrupt as soon as the state file lists the spawned sshds: they are starting (not yet listening)
  let hosts: { name: string; pid: number; startTime: string }[] = [];
  while (hosts.length === 0 && child.exitCode === null) {
    try {
      hosts = (JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as { hosts: typeof hosts }).hosts;
    } catch {
      /* not written yet, or being written */
    }
    if (hosts.length === 0) await new Promise((res) => setTimeout(res, 1));
  }
  child.kill('SIGINT');
  const r = await exited;
  try {
    assert.equal(hosts.length, 6, `the state file never listed the hosts: ${out}`);
    const left = () => [...hosts.filter((h) => procStartTime(h.pid) === h.startTime).map((h) => h.pid), ...labProcesses(dir, id)];
    assert.deepEqual(left(), [], 'processes of the interrupted lab');
    assert.deepEqual(r, { code: 130, signal: null }, `lab up must stop its hosts and exit 130 (code 0: it had finished before the interrupt): ${out}`);
    assert.match(out, /runbook lab up: interrupted; stopping the hosts it started/);
    assert.equal(existsSync(dir), false, 'the interrupted lab dir is removed');
  } finally {
    // only what this test's lab up started, by recorded PID (when it did not stop them itself)
    if (existsSync(join(dir, 'lab.json'))) await stopLab(dir).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
