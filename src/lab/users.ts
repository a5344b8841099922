/**
 * Non-root login users on a lab host, the way production clusters that forbid root SSH have them:
 *   ops   may sudo to anyone with its password (PASSWORD below)
 *   ops2  may sudo to anyone without a password (NOPASSWD)
 * Both log in with the lab's key. Everything is written inside the host's own namespace: its /etc
 * is an overlay private to the host, so passwd, shadow and sudoers changes never reach this machine.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, LabHost } from './hosts.js';

export const LAB_USERS = { ops: { uid: 1601, sudo: 'password' }, ops2: { uid: 1602, sudo: 'nopasswd' } } as const;
export type LabUser = keyof typeof LAB_USERS;
/** ops's password (a lab secret: tests check it never shows up anywhere) */
export const LAB_SUDO_PASSWORD = 'CANARY-ops-sudo-7f1c2b';

function passwordHash(pw: string): string {
  const r = spawnSync('openssl', ['passwd', '-6', '-salt', 'runbooklabops', pw], { encoding: 'utf8' });
  if (r.status !== 0 || !r.stdout.startsWith('$6$')) throw new Error(`openssl passwd failed: ${r.stderr}`);
  return r.stdout.trim();
}

const SCRIPT = [
  'set -e',
  'add() { grep -q "^$1:" /etc/passwd || { echo "$1:x:$2:$2:runbook lab $1:/tmp:/bin/sh" >> /etc/passwd; echo "$1:x:$2:" >> /etc/group; echo "$1:$3:19000:0:99999:7:::" >> /etc/shadow; }; }',
  'add ops 1601 "$1"',
  'add ops2 1602 "$1"',
  'mkdir -p /etc/sudoers.d /etc/runbook-lab',
  'printf "%s\\n" "ops ALL=(ALL:ALL) ALL" "ops2 ALL=(ALL:ALL) NOPASSWD: ALL" > /etc/sudoers.d/runbook-lab-users',
  'chmod 0440 /etc/sudoers.d/runbook-lab-users',
  'cat > /etc/runbook-lab/authorized_keys',
  'chmod 755 /etc/runbook-lab; chmod 644 /etc/runbook-lab/authorized_keys',
].join('\n');

/** Adds `ops` and `ops2` to lab host `h` (idempotent). They can log in at once: sshd reads passwd per login. */
export function addLabUsers(lab: Lab, h: LabHost): void {
  const keys = readFileSync(join(lab.dir, 'authorized_keys'));
  const r = spawnSync('nsenter', ['-t', String(h.pid), '-m', '--', 'sh', '-c', SCRIPT, 'sh', passwordHash(LAB_SUDO_PASSWORD)], { input: keys, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot add the lab users on ${h.name}: ${r.stderr.trim()}`);
}
