import { randomBytes } from 'node:crypto';

/** `20261122T191500Z-ab12cd`: sorts by time, unique enough, safe in file names and paths. */
export function newRunId(now = new Date()): string {
  const ts = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${ts}-${randomBytes(3).toString('hex')}`;
}

export const RUN_ID_PATTERN = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

export function isRunId(s: string): boolean {
  return RUN_ID_PATTERN.test(s);
}
