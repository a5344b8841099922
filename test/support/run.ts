// Runs a process to its end and keeps its exit code and output (stdout then stderr), never throwing.
import { execFile } from 'node:child_process';

export interface Ran {
  code: number;
  out: string;
}

export function runProcess(cmd: string, args: string[], o: { cwd: string; timeout?: number; env?: NodeJS.ProcessEnv }): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: o.cwd, timeout: o.timeout ?? 120_000, maxBuffer: 64 << 20, env: { ...process.env, NO_COLOR: '1', ...o.env } }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, out: stdout + stderr });
    });
  });
}
