/**
 * `runbook lab up|status|down` from dist as child processes (root only; skipped otherwise, except
 * the non-root refusal which needs root to drop privileges): two sshd hosts on 127.1.216.x made
 * simulated kubeadm nodes, reached with the printed ssh command, then taken down with no process
 * left (sshd and node agents, by the PIDs the CLI printed).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labNetwork, labSupport, stopLab } from '../src/lab/hosts.js';
import { packageRoot } from '../src/lab/sim/paths.js';

const MAIN = join(packageRoot, 'dist/src/cli/main.js');
const support = labSupport();
const parent = mkdtempSync(join(tmpdir(), 'runbook-lab-cli-'));
const dir = join(parent, 'lab');
after(async () => {
  if (existsSync(join(dir, 'lab.json'))) await stopLab(dir).catch(() => undefined);
  rmSync(parent, { recursive: true, force: true });
});

function cli(args: string[], prefix: string[] = []): Promise<{ code: number; out: string }> {
  const argv = [...prefix, process.execPath, MAIN, ...args];
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { cwd: packageRoot, timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      const c = err ? (err as { code?: unknown }).code : 0;
      resolve({ code: typeof c === 'number' ? c : -1, out: stdout + stderr });
    });
  });
}

/** State and start time of a process from /proc (PIDs wrap at 32768 here: a PID alone may be someone else's by now). */
function procStat(pid: number): { state: string; start: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: f[0]!, start: f[19]! };
  } catch {
    return undefined;
  }
}

/** The same process (same start time) still there and not a zombie waiting to be reaped. */
function running(pid: number, start: string): boolean {
  const st = procStat(pid);
  return st !== undefined && st.start === start && st.state !== 'Z';
}

test('lab up 2 --scenario / status / down: reachable kubeadm nodes, then nothing left', { skip: support.ok ? false : support.reason, timeout: 180_000 }, async () => {
  const up = await cli(['lab', 'up', '2', '--dir', dir, '--first-address', '127.1.216.1', '--scenario', 'seed1-1.18']);
  assert.equal(up.code, 0, up.out);
  assert.match(up.out, /inventory: \S+\/inventory\.yaml/);
  assert.match(up.out, /take it down: +runbook lab down --dir /);
  const pids = [...up.out.matchAll(/(?:sshd|node agent) PID (\d+)/g)].map((m) => Number(m[1]));
  assert.equal(pids.length, 4, up.out);
  const starts = pids.map((p) => procStat(p)?.start ?? '');
  pids.forEach((p, i) => assert.ok(running(p, starts[i]!), `PID ${p} should run`));

  // the printed ssh command reaches the second host, which is a kubeadm 1.18 node
  const ssh = /reach a host: +(ssh .*)$/m.exec(up.out)![1]!.replace(labNetwork('127.1.216.1'), labNetwork('127.1.216.2'));
  const r = spawnSync('sh', ['-c', `${ssh} -o BatchMode=yes 'kubeadm version -o short; hostname -I >/dev/null; test -f /etc/kubernetes/admin.conf && echo has-admin-conf'`], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^v1\.18\.20\nhas-admin-conf\n$/);

  const again = await cli(['lab', 'up', '1', '--dir', dir]);
  assert.equal(again.code, 3, again.out);
  assert.match(again.out, /already up/);

  const st = await cli(['lab', 'status', '--dir', dir]);
  assert.equal(st.code, 0, st.out);
  assert.match(st.out, new RegExp(`lab-01 +root@${labNetwork('127.1.216.1').replace(/\./g, '\\.')}:22 +sshd PID \\d+ running +node agent PID \\d+ running`));
  assert.match(st.out, new RegExp(`lab-02 +root@${labNetwork('127.1.216.2').replace(/\./g, '\\.')}:22`));

  const down = await cli(['lab', 'down', '--dir', dir]);
  assert.equal(down.code, 0, down.out);
  assert.match(down.out, /2 host\(s\) stopped/);
  assert.equal(existsSync(dir), false);
  pids.forEach((p, i) => assert.equal(running(p, starts[i]!), false, `PID ${p} left running`));

  const none = await cli(['lab', 'status', '--dir', dir]);
  assert.equal(none.code, 3, none.out);
  assert.match(none.out, /no lab in/);
});

const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
// root drops to nobody, who must be able to run the CLI at all (a checkout under /root is not readable by nobody)
const nobodyOk = process.getuid?.() === 0 && spawnSync(NOBODY[0]!, [...NOBODY.slice(1), process.execPath, MAIN, '--version'], { cwd: '/' }).status === 0;

test('lab up as a non-root user: a clear refusal, exit 3', { skip: nobodyOk ? false : 'needs root, setpriv and a checkout nobody can read' }, async () => {
  const r = await cli(['lab', 'up', '1', '--dir', join(parent, 'nobody')], NOBODY);
  assert.equal(r.code, 3, r.out);
  assert.match(r.out, /runbook lab needs root/);
  assert.equal(existsSync(join(parent, 'nobody')), false);
});
