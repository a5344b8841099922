/**
 * A private network behind a bastion, for ProxyJump tests:
 *   - `privateNetwork()` makes a network namespace with only its own loopback up (`unshare -n`);
 *     lab hosts started in it (StartLabOptions.netnsPid) cannot be reached from this machine;
 *   - `startBastion()` makes a lab host of that network answer on an address of this machine too:
 *     each connection to it gets its own real `sshd -i` (inetd mode, OpenSSH's own) running inside
 *     the private network and the host's mount namespace, with the host's config and host key. So
 *     the bastion is reachable by the operator, and it reaches the private hosts; the operator does not.
 * Only loopback addresses are used; everything is stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { IN_NS_LAB, type LabHost } from './hosts.js';

export interface PrivateNetwork {
  /** the PID holding the namespace (for StartLabOptions.netnsPid) */
  pid: number;
  stop(): Promise<void>;
}

export function privateNetwork(): Promise<PrivateNetwork> {
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['-n', '--', 'sh', '-c', 'ip link set lo up && echo up && exec sleep 100000'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`unshare -n exited with ${code}: ${err.trim()}`)));
    child.stdout.once('data', () => {
      child.removeAllListeners('exit');
      child.unref();
      resolve({
        pid: child.pid!,
        stop: () => stopChild(child),
      });
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

export interface Bastion {
  address: string;
  port: number;
  /** SSH connections the bastion has accepted so far */
  connections: number;
  stop(): Promise<void>;
}

/** Serves `host`'s sshd (config, host key, private network of `netnsPid`) on address:port of this machine. */
export function startBastion(host: LabHost, netnsPid: number, address: string, port: number): Promise<Bastion> {
  const children = new Set<ChildProcess>();
  const config = `${IN_NS_LAB}/hosts/${host.name}/sshd_config`;
  const b: Bastion = { address, port, connections: 0, stop: async () => undefined };
  const server: Server = createServer({ pauseOnConnect: true }, (sock: Socket) => {
    b.connections++;
    const child = spawn('nsenter', [`--net=/proc/${netnsPid}/ns/net`, `--mount=/proc/${host.pid}/ns/mnt`, '--', '/usr/sbin/sshd', '-i', '-e', '-f', config], {
      stdio: [sock, sock, 'ignore'],
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    child.once('error', () => children.delete(child));
    sock.destroy(); // the child has its own copy of the socket; ours would steal its bytes
  });
  b.stop = async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await Promise.all([...children].map(stopChild));
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve(b));
  });
}
