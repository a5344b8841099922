/**
 * A lab host on a slow link, for uploads (StartLabOptions.slowSftp): the host's `Subsystem sftp`
 * is this program between sshd and OpenSSH's sftp-server. It passes on what the client sends at
 * most BYTES_PER_SECOND bytes a second; what the server answers goes straight back (its stdout is
 * sshd's). An upload then takes at least its size over that rate on any machine, however fast, so
 * a test can make a transfer outlast a step's timeout without betting on loopback throughput.
 *
 * When sshd closes the session the server gets the bytes already on their way, then end of input,
 * and exits as it would on a real link; this program exits with it.
 *
 * Run as: node slow-sftp.js BYTES_PER_SECOND SFTP_SERVER (the script the lab writes does).
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, pipeline } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { quoteArg } from '../transport/quote.js';

/** Where distributions put OpenSSH's sftp-server (Debian's openssh-server depends on the first). */
const SFTP_SERVERS = ['/usr/lib/openssh/sftp-server', '/usr/libexec/openssh/sftp-server', '/usr/libexec/sftp-server', '/usr/lib/ssh/sftp-server'];

/** A stream that lets each chunk through only once the rate has paid for it (so n bytes take at least n / rate). */
export function throttle(bytesPerSecond: number): Transform {
  let free = 0; // performance.now() when the bytes passed so far are paid for
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const now = performance.now();
      free = Math.max(now, free) + (chunk.length / bytesPerSecond) * 1000;
      const wait = free - now;
      if (wait < 1) done(null, chunk);
      else setTimeout(() => done(null, chunk), wait);
    },
  });
}

/**
 * Writes `<hostDir>/sftp-subsystem`, the shell script a host's sshd runs for SFTP at `rate` bytes a
 * second, and returns its path inside the host's namespace (`hostDirInNs` is the same dir seen there).
 */
export function writeSlowSftp(hostDir: string, hostDirInNs: string, bytesPerSecond: number): string {
  if (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0) throw new Error(`slowSftp: bytes a second must be a positive number, got ${bytesPerSecond}`);
  const server = SFTP_SERVERS.find((p) => existsSync(p));
  if (!server) throw new Error(`slowSftp needs OpenSSH's sftp-server (not found at ${SFTP_SERVERS.join(', ')}; install openssh-server)`);
  const argv = [process.execPath, fileURLToPath(import.meta.url), String(bytesPerSecond), server];
  writeFileSync(join(hostDir, 'sftp-subsystem'), ['#!/bin/sh', `# SFTP on a slow link: uploads at most ${bytesPerSecond} bytes/s`, `exec ${argv.map(quoteArg).join(' ')}`, ''].join('\n'));
  chmodSync(join(hostDir, 'sftp-subsystem'), 0o755);
  return `${hostDirInNs}/sftp-subsystem`;
}

function main(args: string[]): void {
  const rate = Number(args[0]);
  const server = args[1];
  if (!(rate > 0) || !server) {
    process.stderr.write('usage: slow-sftp BYTES_PER_SECOND SFTP_SERVER\n');
    process.exit(2);
  }
  const child = spawn(server, [], { stdio: ['pipe', 'inherit', 'inherit'] });
  child.on('error', (e) => {
    process.stderr.write(`slow-sftp: cannot run ${server}: ${e.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  // the end of sshd's input ends the server's; a server gone first breaks the pipe, and its exit ends this
  pipeline(process.stdin, throttle(rate), child.stdin, () => undefined);
}

// run by the script writeSlowSftp writes; imported (by hosts.ts), it only defines
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
