// Ports for the simulated nodes' listeners, chosen the way a real node's are: outside the kernel's
// ephemeral range. A real etcd listens on 2379, a port the kernel never gives a client socket; the
// simulator cannot (many nodes share 127.0.0.1), but a port it picks must be just as safe. A port from
// the ephemeral range is not: while its listener is down (an etcd restarting, or never started on a
// node whose kubelet is down) any outgoing connection from 127.0.0.1 (every connection to a 127.x
// address leaves from 127.0.0.1) may take it as its local port, and that socket, connected or in
// TIME_WAIT for 60 s, makes the listener's bind fail with "address already in use": etcd then
// crash-loops until the port is free again, which no real cluster does. Nor is a port-0 listener's
// port (what this module gave before): Linux hands those out from the odd ports of the same range, so
// every other port-0 listener on 127.0.0.1 (other nodes' etcds, sandbox nodes of concurrent tests)
// competes for them, and a probe on the host's own address does not see the ones held on 127.0.0.1.
// Test files run as concurrent processes: a port one of them handed out stays held (below) while it
// runs, so another never hands out the same one while its listener is down (an etcd restarting).
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

/** Linux's default net.ipv4.ip_local_port_range */
const LINUX_DEFAULT: readonly [number, number] = [32768, 60999];
/** below this, ports of well-known services: not used for a node's listener */
const LOWEST = 10_000;

/** The kernel's ephemeral port range, from which it picks a client socket's local port. */
export function ephemeralPortRange(text?: string): [number, number] {
  try {
    const [lo, hi] = (text ?? readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/).map(Number);
    if (lo && hi && lo <= hi) return [lo, hi];
  } catch { /* not Linux: its default is as good a guess as any */ }
  return [...LINUX_DEFAULT];
}

/** The port ranges outside the ephemeral range (and above the well-known services), largest first. */
export function listenerPortRanges(ephemeral = ephemeralPortRange()): [number, number][] {
  const [lo, hi] = ephemeral;
  const ranges: [number, number][] = [[LOWEST, lo - 1], [Math.max(LOWEST, hi + 1), 65535]];
  return ranges.filter(([a, b]) => b >= a).sort((x, y) => (y[1] - y[0]) - (x[1] - x[0]));
}

/**
 * Can a listener (with SO_REUSEADDR, as Go's and node's set it) bind `port` on `host` now? Only "in
 * use" (or a privileged port) means no; any other error (an address this machine does not have, an
 * interface that is down) is the caller's and is thrown: no port would ever be free there.
 */
function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' || e.code === 'EACCES' ? resolve(false) : reject(e)));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** a port the kernel picks (port 0): the fallback when the ephemeral range leaves no other port */
function kernelPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** how many ports the kernel is asked for when no port outside the ephemeral range is free */
const KERNEL_PORT_TRIES = 100;

/** every port this process handed out: concurrent installs (Promise.all) never get the same one */
const handedOut = new Set<number>();

/**
 * Where a process holds the ports it handed out, for as long as it runs: a listener on a loopback
 * address no lab host or simulated node listens on (they use 127.0.0.1 and their own 127.x.y.z).
 * Another process's check finds such a port in use there and passes it by, even while the listener it
 * was handed out for is down; the kernel lets the hold go when the process ends, however it ends.
 */
export const PORT_HOLD_ADDRESS = '127.255.255.254';
/** the holds of this process (they never keep it running) */
const holds = new Set<Server>();
const nothingHeld = { held: true, release: () => undefined };

/**
 * Hold `port` for this process: `held` false when another process holds it. Where the hold address
 * cannot be bound at all (no 127/8 loopback), nothing is held and no port counts as another's.
 */
function hold(port: number): Promise<{ held: boolean; release: () => void }> {
  return new Promise((resolve) => {
    const srv = createServer((s) => s.destroy());
    srv.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRINUSE' ? { held: false, release: () => undefined } : nothingHeld));
    srv.listen({ port, host: PORT_HOLD_ADDRESS, backlog: 1 }, () => {
      srv.unref();
      holds.add(srv);
      resolve({ held: true, release: () => void (holds.delete(srv), srv.close()) });
    });
  });
}

/** `count` random ports from `ranges` */
function* randomPorts(ranges: [number, number][], count: number): Generator<number> {
  const size = ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
  for (let i = 0; size > 0 && i < count; i++) {
    let k = Math.floor(Math.random() * size);
    for (const [a, b] of ranges) {
      if (k <= b - a) {
        yield a + k;
        break;
      }
      k -= b - a + 1;
    }
  }
}

/**
 * The first of `candidates` that no process has handed out (this one ever, or another that still
 * runs) and a listener can bind on every address of `hosts` (a port free on the host's address may
 * still be held on 127.0.0.1); it is then handed out, and held until this process ends. undefined
 * when none is. A port found held by another process is passed by for good, like one this process had.
 */
export async function firstFreePort(candidates: Iterable<number>, hosts: readonly string[]): Promise<number | undefined> {
  // a wildcard listener would collide with every hold (its own included): lab listeners bind their addresses
  const wildcard = hosts.find((h) => h === '' || h === '0.0.0.0' || h === '::');
  if (wildcard !== undefined) throw new Error(`a port for a listener on ${JSON.stringify(wildcard)}: lab listeners bind a specific address (the port is held on ${PORT_HOLD_ADDRESS})`);
  for (const port of candidates) {
    if (handedOut.has(port)) continue;
    handedOut.add(port); // before the checks: a concurrent call must not pick it meanwhile
    const h = await hold(port);
    if (!h.held) continue; // another process handed it out
    let free = true;
    try {
      for (const host of hosts) free = free && (await canListen(port, host));
    } catch (e) {
      h.release();
      throw e;
    }
    if (free) return port;
    h.release();
  }
  return undefined;
}

/**
 * A TCP port free on every address given (default 127.0.0.1), outside the kernel's ephemeral range,
 * never one this process handed out before.
 */
export async function freePort(...hosts: string[]): Promise<number> {
  const addrs = hosts.length ? hosts : ['127.0.0.1'];
  const port = await firstFreePort(randomPorts(listenerPortRanges(), 200), addrs);
  if (port !== undefined) return port;
  // the ephemeral range covers every port (or everything outside it is taken): what the kernel gives
  for (let tries = 0; tries < KERNEL_PORT_TRIES; tries++) {
    const p = await firstFreePort([await kernelPort(addrs[0]!)], addrs);
    if (p !== undefined) return p;
  }
  throw new Error(`no TCP port is free on every one of ${addrs.join(', ')} (tried ${KERNEL_PORT_TRIES} of the kernel's after 200 outside its ephemeral range)`);
}

/** Free ports, one per address asked for (undefined: 127.0.0.1), never one twice. */
export async function distinctFreePorts(addresses: readonly (string | undefined)[]): Promise<number[]> {
  const out: number[] = [];
  for (const a of addresses) out.push(await freePort(a ?? '127.0.0.1'));
  return out;
}
