// The benchmark's quick mode still works end to end (issue #6): real lab hosts, runbook, the ssh2
// floor and, when ansible-playbook is installed, Ansible. It measures; it asserts no timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/paths.js';
import { labSupport } from '../src/lab/hosts.js';

const support = labSupport();

test('bench --quick runs every tool on two loopback hosts and prints the table', { skip: support.ok ? false : `needs root and sshd: ${support.reason}` }, () => {
  const r = spawnSync(process.execPath, [join(packageRoot, 'dist', 'bench', 'run.js'), '--quick'], { encoding: 'utf8', timeout: 180_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^\| 2 \| runbook \| \d+ ms \| \d+ ms \|/m);
  assert.match(r.stdout, /^\| 2 \| floor \| \d+ ms \| \d+ ms \| \d+ MiB \| \d+\.\d+ \|$/m);
  if (existsSync('/usr/bin/ansible-playbook')) assert.match(r.stdout, /^\| 2 \| ansible \| \d+ ms \| \d+ ms \| \d+ MiB \| \d+\.\d+ \|$/m);
});
