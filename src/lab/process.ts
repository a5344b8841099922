import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Is a process with this PID still there? (signal 0 checks without sending anything) */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** /proc/<pid>/stat start time, which tells a recycled PID apart; undefined when gone (a zombie counts as gone) */
export function procStartTime(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    return rest[19]; // field 22 (starttime), counted after "pid (comm)"
  } catch {
    return undefined;
  }
}

/** the mount namespace of a process (`mnt:[N]`) */
export function mntnsOf(pid: number | 'self'): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

/** Processes we started, as PID -> start time (a PID whose start time differs is someone else's now). */
export type OwnProcesses = Map<number, string>;

/** Those of `own` still running as the same process. */
function stillOurs(own: OwnProcesses): OwnProcesses {
  const out: OwnProcesses = new Map();
  for (const [pid, st] of own) if (procStartTime(pid) === st) out.set(pid, st);
  return out;
}

/**
 * Mount namespaces of `own` other than ours: a lab host's namespace holds only what its sshd started
 * (sessions, or the `mount` a half-run namespace script left behind), so everything in it is ours too.
 */
function namespacesOf(own: OwnProcesses, known: Iterable<string>): Set<string> {
  const myns = mntnsOf('self');
  const out = new Set([...known].filter((n) => n && n !== myns));
  for (const pid of own.keys()) {
    const ns = mntnsOf(pid);
    if (ns && ns !== myns) out.add(ns);
  }
  return out;
}

/** every process (but this one) living in one of `namespaces` */
function inNamespaces(namespaces: Set<string>): OwnProcesses {
  const found: OwnProcesses = new Map();
  if (namespaces.size === 0) return found;
  for (const ent of readdirSync('/proc')) {
    if (!/^\d+$/.test(ent)) continue;
    const pid = Number(ent);
    if (pid === process.pid) continue;
    const ns = mntnsOf(pid);
    if (ns && namespaces.has(ns)) {
      const st = procStartTime(pid);
      if (st !== undefined) found.set(pid, st);
    }
  }
  return found;
}

function signal(pids: OwnProcesses, sig: NodeJS.Signals): void {
  for (const [pid, st] of pids) {
    if (procStartTime(pid) !== st) continue; // gone, or the PID was reused
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Stop processes we started: SIGTERM to each of `own` (checked by start time), SIGKILL to everything in
 * their mount namespaces (and `namespaces`, recorded earlier), SIGKILL to whatever is left after 2 s.
 * Resolves to the PIDs still running after `timeoutMs` (none when all went).
 */
export async function stopProcesses(own: OwnProcesses, namespaces: Iterable<string> = [], timeoutMs = 5000): Promise<number[]> {
  const mine = stillOurs(own);
  const nss = namespacesOf(mine, namespaces); // read before the kill: a dead process has no namespace to show
  signal(mine, 'SIGTERM');
  signal(inNamespaces(nss), 'SIGKILL');
  // inNamespaces has just read each start time: only the recorded PIDs need checking again
  const left = () => new Map([...stillOurs(mine), ...inNamespaces(nss)]);
  const deadline = Date.now() + timeoutMs;
  let rest = left();
  while (rest.size > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    rest = left();
    if (Date.now() > deadline - (timeoutMs * 3) / 5) signal(rest, 'SIGKILL');
  }
  return [...rest.keys()];
}

/** SIGKILL `own` and their namespaces at once, without waiting (for a process 'exit' handler, which cannot await). */
export function killNow(own: OwnProcesses): void {
  const mine = stillOurs(own);
  const nss = namespacesOf(mine, []);
  signal(mine, 'SIGKILL');
  signal(inNamespaces(nss), 'SIGKILL');
}
