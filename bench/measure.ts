/** What every benchmark of bench/ shares: timing a child process, medians, the machine line. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { startLab, type Lab, type StartLabOptions } from '../src/lab/hosts.js';

export interface Timed {
  wallMs: number;
  peakRssKiB: number;
  /** the process's CPU time (GNU time's %U and %S): a client-side cost the wall time hides when the hosts share the cores */
  userMs?: number;
  sysMs?: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

export const GNU_TIME = '/usr/bin/time';

/** Run a command under GNU time (Debian package `time`) for its peak RSS; wall time measured here. Without it, RSS reads 0. */
export function timed(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Timed> {
  const [cmd, ...args] = existsSync(GNU_TIME) ? [GNU_TIME, '-f', 'RSS_KIB=%M CPU_S=%U+%S', ...argv] : argv;
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd!, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      const m = /RSS_KIB=(\d+) CPU_S=([\d.]+)\+([\d.]+)/.exec(stderr);
      const cpuMs = m ? { userMs: Number(m[2]) * 1000, sysMs: Number(m[3]) * 1000 } : {};
      resolve({ wallMs, peakRssKiB: m ? Number(m[1]) : 0, ...cpuMs, code, stdout, stderr: stderr.replace(/RSS_KIB=\d+ CPU_S=\S+\n?/, '') });
    });
  });
}

/** The ten-step fixture's `dir` on each host (bench/fixtures/ten-steps*.yaml; bench/floor.ts has its own copy: it imports nothing). */
export const BENCH_DIR = '/tmp/runbook-bench';

/** Every host without the fixture's files, so the next run is a first run. */
export function resetBenchDir(lab: Lab): void {
  for (const h of lab.hosts) rmSync(lab.hostPath(h, BENCH_DIR), { recursive: true, force: true });
}

/** The floors' argument: the hosts in `file` (2,000 hosts are more than one command-line argument may hold). */
export function floorHostsArg(lab: Lab, file: string): string {
  writeFileSync(file, JSON.stringify({ hosts: lab.hosts.map((h) => ({ address: h.address, port: h.port, user: h.user })), privateKeyPath: lab.privateKeyPath, readyTimeoutMs: connectTimeoutMs(lab.hosts.length) }));
  return `@${file}`;
}

export const cpuOf = (t: Timed): Pick<Timed, 'userMs' | 'sysMs'> => (t.userMs !== undefined ? { userMs: t.userMs, sysMs: t.sysMs ?? 0 } : {});

/** One measured run as the benches log it: wall time, peak RSS, load, and why it failed. */
export function sampleLine(s: { wallMs: number; peakRssKiB: number; userMs?: number; sysMs?: number; load?: number; ok: boolean; note?: string }): string {
  const cpu = s.userMs !== undefined ? `  cpu ${(s.userMs / 1000).toFixed(1)}u+${((s.sysMs ?? 0) / 1000).toFixed(1)}s` : '';
  return `${s.wallMs.toFixed(0).padStart(7)} ms  ${(s.peakRssKiB / 1024).toFixed(0).padStart(4)} MiB${cpu}  load ${(s.load ?? 0).toFixed(1)}${s.ok ? '' : '  FAILED: ' + s.note}`;
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

/**
 * Runs `body` with a lab of its own in a new work dir (`prefix` names it); the hosts are stopped
 * (by PID) and the dir removed afterwards, and on Ctrl-C rather than leaving N sshd behind.
 */
export async function withBenchLab<T>(prefix: string, opts: Omit<StartLabOptions, 'dir'>, body: (lab: Lab, work: string) => Promise<T>): Promise<T> {
  const work = mkdtempSync(join(tmpdir(), prefix));
  const lab = await startLab({ ...opts, dir: join(work, 'lab') }).catch((e: unknown) => {
    rmSync(work, { recursive: true, force: true });
    throw e;
  });
  const onSignal = (sig: NodeJS.Signals) => {
    void lab.stop().finally(() => {
      rmSync(work, { recursive: true, force: true });
      process.kill(process.pid, sig);
    });
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    return await body(lab, work);
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    await lab.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
