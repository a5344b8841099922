// `runbook apply ... | head`: when the reader goes away the run still finishes, with its real exit code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/paths.js';

test('a closed stdout pipe does not stop a run: the later steps run and the exit code is the run\'s', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'runbook-epipe-'));
  try {
    writeFileSync(join(dir, 'inv.yaml'), `all:\n  hosts:\n    me: { ansible_connection: local, runbook_lock_path: "${dir}/lock" }\n`);
    writeFileSync(
      join(dir, 'rb.yaml'),
      `apiVersion: runbook/v1
name: epipe
hosts: all
steps:
  - name: slow enough for the reader to be gone
    command: { argv: [sleep, "0.5"], changed_when: false }
  - name: a change after the reader left
    command: { argv: [touch, "${dir}/marker"], creates: "${dir}/marker" }
`,
    );
    const child = spawn(process.execPath, [join(packageRoot, 'dist/src/cli/main.js'), 'apply', join(dir, 'rb.yaml'), '-i', join(dir, 'inv.yaml'), '--state-dir', join(dir, 'state')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdout.once('data', () => child.stdout.destroy()); // like `| head -c 1`
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    assert.equal(code, 0, stderr);
    assert.ok(existsSync(join(dir, 'marker')), 'the step after the pipe closed ran');
    assert.doesNotMatch(stderr, /EPIPE|internal error/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
