// The real etcd behind the simulated static pod: the node agent runs Debian's /usr/bin/etcd (3.4) with
// the flags of manifests/etcd.yaml, node paths mapped under the node's root, so client and peer mTLS,
// expired certificates and quorum are etcd's own. The emulated API server talks to it through etcd's
// JSON gateway (/v3/kv/*) with apiserver-etcd-client, as the real one does over gRPC.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** Where the machine's etcd lives (Debian's etcd-server); SIM_ETCD overrides it for other layouts. */
export const ETCD_BIN = process.env.SIM_ETCD ?? '/usr/bin/etcd';

/** etcd flags whose value is a node path (mapped under the node's root when the agent starts etcd). */
const PATH_FLAGS = new Set(['cert-file', 'key-file', 'trusted-ca-file', 'peer-cert-file', 'peer-key-file', 'peer-trusted-ca-file', 'data-dir', 'wal-dir']);

/** The argv the agent runs for the manifest's command (`etcd --flag=value ...`), node paths rooted. */
export function etcdArgv(command: string[], rooted: (p: string) => string): string[] {
  const out: string[] = [];
  for (const a of command.slice(1)) {
    const m = /^--([^=]+)=(.*)$/.exec(a);
    if (m && PATH_FLAGS.has(m[1]!) && m[2]!.startsWith('/')) out.push(`--${m[1]}=${rooted(m[2]!)}`);
    else out.push(a);
  }
  return out;
}

/**
 * The scheduling priority (nice) of a member started on an expired peer certificate. Such a member is in
 * no quorum, and etcd retries its peers many times a second: one member of a 3-member cluster with
 * expired peer certificates opened or accepted 84 connections a second, each refused handshake an RSA
 * signature, some 18 % of a core per member. On a machine shared by a lab of many nodes that starved
 * everything else (the cert-renew e2e: etcd took half of two cores). Priority changes when etcd runs,
 * not what it does; a member started once its certificates are renewed runs at normal priority. 19, not
 * 10: at 10 the e2e's first plans still took 70-90 s, at 19 45-75 s.
 */
export const EXPIRED_PEER_NICE = 19;
const NICE_BIN = '/usr/bin/nice';

/**
 * Starts etcd with its output appended to `logFile`; the child is in the agent's process group. With
 * `nice`, through nice(1), which execs etcd: the same PID, and every thread of it at that priority.
 */
export function spawnEtcd(argv: string[], logFile: string, nice = 0): ChildProcess {
  if (!existsSync(ETCD_BIN)) throw new Error(`exec: "etcd": executable file not found in $PATH (the simulator runs ${ETCD_BIN}: install Debian's etcd-server)`);
  const fd = openSync(logFile, 'a');
  try {
    // ETCD_* from the operator's environment must not change the member (the manifest's flags are all it gets)
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ETCD')));
    if (nice && !existsSync(NICE_BIN)) throw new Error(`exec: "nice": executable file not found (the simulator runs ${NICE_BIN}: coreutils)`);
    const [cmd, args] = nice ? [NICE_BIN, ['-n', String(nice), ETCD_BIN, ...argv]] : [ETCD_BIN, argv];
    return spawn(cmd, args, { stdio: ['ignore', fd, fd], env });
  } finally {
    closeSync(fd);
  }
}

/** An etcd child being stopped: when SIGKILL is due, and what resolves once it has exited. */
interface Stopping {
  killAt: number;
  timer: NodeJS.Timeout;
  exited: Promise<boolean>;
}
const stopping = new WeakMap<ChildProcess, Stopping>();

/**
 * Stops an etcd child: SIGTERM, SIGKILL after `graceMs`. A second stop while it is exiting brings the
 * SIGKILL forward to now + its own `graceMs` (never later), as docker kill or crictl stop during the
 * kubelet's kill do. Resolves when it has exited: true when SIGKILL ended it (exit code 137).
 */
export function stopEtcd(p: ChildProcess, graceMs = 3000): Promise<boolean> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.signalCode === 'SIGKILL');
  const killAt = Date.now() + graceMs;
  const sigkill = () => p.kill('SIGKILL');
  const s = stopping.get(p);
  if (s) {
    if (killAt < s.killAt) {
      clearTimeout(s.timer);
      s.killAt = killAt;
      s.timer = setTimeout(sigkill, graceMs);
    }
    return s.exited;
  }
  const exited = new Promise<boolean>((resolve) => {
    p.once('exit', (_code, signal) => {
      clearTimeout(stopping.get(p)?.timer);
      resolve(signal === 'SIGKILL');
    });
  });
  stopping.set(p, { killAt, timer: setTimeout(sigkill, graceMs), exited });
  p.kill('SIGTERM');
  return exited;
}

export interface EtcdClientTLS {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** An etcd v3 client over the JSON gateway: one keep-alive TLS agent per API server container. */
export class EtcdClient {
  private readonly agent: HttpsAgent;
  constructor(private readonly url: URL, tls: EtcdClientTLS) {
    this.agent = new HttpsAgent({ keepAlive: true, maxSockets: 4, ca: tls.ca, cert: tls.cert, key: tls.key });
  }

  close(): void {
    this.agent.destroy();
  }

  /** POST /v3/<path>; resolves with the JSON answer, rejects with an error in the apiserver's words. */
  call(path: string, body: unknown, timeoutMs = 3000): Promise<Record<string, unknown>> {
    const u = this.url;
    return new Promise((resolve, reject) => {
      const data = JSON.stringify(body);
      const req = httpsRequest(
        { host: u.hostname, port: Number(u.port || 2379), path: `/v3/${path}`, method: 'POST', agent: this.agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            let json: Record<string, unknown> = {};
            try {
              json = JSON.parse(text) as Record<string, unknown>;
            } catch { /* not JSON */ }
            if (res.statusCode === 200 && !json.error) resolve(json);
            else reject(new Error(`etcdserver: ${String(json.error ?? json.message ?? text.trim() ?? res.statusCode).replace(/^etcdserver: /, '')}`));
          });
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error('context deadline exceeded')));
      req.on('error', (e: NodeJS.ErrnoException) => {
        const addr = `${u.hostname}:${u.port || 2379}`;
        reject(new Error(
          e.code === 'ECONNREFUSED' ? `connection error: desc = "transport: Error while dialing dial tcp ${addr}: connect: connection refused"`
            : e.message === 'context deadline exceeded' ? 'context deadline exceeded'
              : `connection error: desc = "transport: authentication handshake failed: ${x509Words(e)}"`,
        ));
      });
      req.end(data);
    });
  }

  put(key: string, value: string, timeoutMs?: number): Promise<Record<string, unknown>> {
    return this.call('kv/put', { key: b64(key), value: b64(value) }, timeoutMs);
  }

  /** A linearizable read: it needs a quorum, as every apiserver read from etcd does. */
  get(key: string, timeoutMs?: number): Promise<Record<string, unknown>> {
    return this.call('kv/range', { key: b64(key) }, timeoutMs);
  }
}

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

function x509Words(e: NodeJS.ErrnoException): string {
  if (e.code === 'CERT_HAS_EXPIRED') return 'tls: failed to verify certificate: x509: certificate has expired or is not yet valid';
  if (/certificate expired|alert certificate expired/i.test(e.message)) return 'remote error: tls: bad certificate';
  if (e.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || e.code === 'SELF_SIGNED_CERT_IN_CHAIN') return 'tls: failed to verify certificate: x509: certificate signed by unknown authority';
  return e.message;
}
