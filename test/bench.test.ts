// The benchmark's quick mode still works end to end (issue #6): real lab hosts, runbook, the ssh2
// floor and, when ansible-playbook is installed, Ansible. It measures; it asserts no timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/paths.js';
import { labSupport } from '../src/lab/hosts.js';

const support = labSupport();

test('bench --quick runs every tool on two loopback hosts and prints the table', { skip: support.ok ? false : `needs root and sshd: ${support.reason}` }, () => {
  const r = spawnSync(process.execPath, [join(packageRoot, 'dist', 'bench', 'run.js'), '--quick'], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^\| 2 \| runbook \| \d+ ms \| \d+ ms \|/m);
  assert.match(r.stdout, /^\| 2 \| floor \| \d+ ms \| \d+ ms \| \d+ MiB \| \d+\.\d+ \| \d+\.\d \|$/m);
  if (existsSync('/usr/bin/ansible-playbook')) assert.match(r.stdout, /^\| 2 \| ansible \| \d+ ms \| \d+ ms \| \d+ MiB \| \d+\.\d+ \| \d+\.\d \|$/m);
});

test('bench --scale writes the per-host plot and its data (2 hosts, 1 run)', { skip: support.ok ? false : `needs root and sshd: ${support.reason}` }, () => {
  const out = mkdtempSync(join(tmpdir(), 'bench-scale-'));
  try {
    const r = spawnSync(process.execPath, [join(packageRoot, 'dist', 'bench', 'run.js'), '--scale', '2', '--runs', '1', '--results', out], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    // with ansible-playbook installed, Ansible's idempotent run is in the same row (--ansible-up-to 50 by default)
    const ansible = existsSync('/usr/bin/ansible-playbook');
    const row = ansible ? /^\| 2 \| \d+ ms \| \d+ ms \| \d+\.\d+ \| \d+ ms \| \d+\.\d+ \| \d+ MiB \(\d+ MiB\) \| \d+ MiB \| \d+\.\d \|$/m : /^\| 2 \| \d+ ms \| \d+ ms \| \d+\.\d+ \| {2}\| {2}\| \d+ MiB \(\d+ MiB\) \| \d+ MiB \| \d+\.\d \|$/m;
    assert.match(r.stdout, row);
    const data = JSON.parse(readFileSync(join(out, 'scaling.json'), 'utf8')) as { points: { tool: string; hosts: number }[] };
    assert.deepEqual(data.points.map((p) => `${p.tool}@${p.hosts}`).sort(), [...(ansible ? ['ansible@2'] : []), 'floor@2', 'runbook@2']);
    const svg = readFileSync(join(out, 'scaling.svg'), 'utf8');
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal((svg.match(/<polyline /g) ?? []).length, 4, 'two tools in each of the two panels');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('bench cert-check --quick: simulated PKI on three hosts, runbook finds the one expiring node, the SFTP floor reads the same files', { skip: support.ok ? false : `needs root and sshd: ${support.reason}` }, () => {
  const r = spawnSync(process.execPath, [join(packageRoot, 'dist', 'bench', 'cert-check.js'), '--quick'], { encoding: 'utf8', timeout: 180_000 });
  // a run is "ok" only when runbook reported exactly the expiring node and the floor read every host
  assert.equal(r.status, 0, r.stdout + r.stderr);
  // the CPU columns are empty without GNU time (bench/measure.ts)
  assert.match(r.stdout, /^\| 3 \| \d+ ms \| \d+ ms \| \d+\.\d+ \| (\d+\.\d s)? \| (\d+\.\d s)? \| \d+ MiB \| \d+ MiB \| \d+\.\d \|$/m);
});

test('bench tty --quick: under a real pseudo-terminal, 12 hosts on a 10-line terminal get the bounded summary and the renderer is measured', { skip: support.ok ? false : `needs root and sshd: ${support.reason}` }, () => {
  const r = spawnSync(process.execPath, [join(packageRoot, 'dist', 'bench', 'tty.js'), '--quick'], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const rows = r.stdout.split('\n').filter((l) => /^\| 12 \| (first|second) \| 80×10 \|/.test(l));
  assert.equal(rows.length, 2, r.stdout);
  for (const row of rows) {
    const m = /\| (\d+) ms \((\d+\.\d+) %\) \| (\d+) \| (\d+) lines \|/.exec(row);
    assert.ok(m, row);
    assert.ok(Number(m[3]) >= 1, `redrawn in place: ${row}`);
    assert.ok(Number(m[4]) <= 9, `no frame taller than the terminal: ${row}`);
  }
});
