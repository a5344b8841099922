/** What every benchmark of bench/ shares: timing a child process, medians, the machine line. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

export interface Timed {
  wallMs: number;
  peakRssKiB: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

export const GNU_TIME = '/usr/bin/time';

/** Run a command under GNU time (Debian package `time`) for its peak RSS; wall time measured here. Without it, RSS reads 0. */
export function timed(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Timed> {
  const [cmd, ...args] = existsSync(GNU_TIME) ? [GNU_TIME, '-f', 'RSS_KIB=%M', ...argv] : argv;
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd!, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      const m = /RSS_KIB=(\d+)/.exec(stderr);
      resolve({ wallMs, peakRssKiB: m ? Number(m[1]) : 0, code, stdout, stderr: stderr.replace(/RSS_KIB=\d+\n?/, '') });
    });
  });
}

/** Connection set-up allowance: with hundreds of hosts the key exchanges queue for the two cores (the same for the floor). */
export const connectTimeoutMs = (n: number) => Math.max(30_000, n * 100);

export function lastLines(s: string): string {
  return s.trim().split('\n').slice(-3).join(' | ').slice(0, 300);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
}

export function machineLine(): string {
  return `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
}
