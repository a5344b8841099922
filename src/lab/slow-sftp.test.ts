// The slow link of a lab host (slow-sftp.ts), run as sshd runs it, with `cat` standing in for sftp-server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const PROGRAM = fileURLToPath(new URL('./slow-sftp.js', import.meta.url));

test('what the client sends reaches the server whole, and no faster than the rate, on any machine', async () => {
  const data = randomBytes(256 * 1024);
  const t0 = performance.now();
  const child = spawn(process.execPath, [PROGRAM, String(512 * 1024), '/bin/cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin.end(data);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const ms = performance.now() - t0;
  assert.equal(code, 0, err);
  assert.ok(Buffer.concat(out).equals(data), 'the bytes arrive unchanged and in order');
  // 256 KiB at 512 KiB/s: half a second at least (a timer may fire a millisecond early)
  assert.ok(ms >= 495, `took ${ms.toFixed(0)} ms`);
});

test('without a rate and a server it says how to run it', () => {
  const r = spawnSync(process.execPath, [PROGRAM, '0'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /usage: slow-sftp BYTES_PER_SECOND SFTP_SERVER/);
});
