/**
 * The lab: real OpenSSH servers on loopback addresses (127.1.x.y), each in its own mount
 * namespace so every host has its own /etc/kubernetes, /var/lib/kubelet, /root, /tmp, ...
 *
 * Each sshd runs as `unshare -m --propagation private sh -c '<mounts>; exec sshd -D -e -f CONFIG'`.
 * Inside the namespace:
 *   /run                 tmpfs (with /run/sshd, the privilege-separation directory)
 *   /run/runbook-lab     bind of the lab dir (config, keys, authorized_keys: reachable after /tmp is replaced)
 *   /etc                 overlay: lower = the real /etc, upper = the host dir (root's shell is /bin/sh there)
 *   /var/lib             overlay likewise, so /var/lib/kubelet and /var/lib/runbook can exist as mount points
 *                        without creating anything on the real filesystem
 *   /etc/kubernetes, /var/lib/kubelet, /var/lib/runbook, /var/backups, /root, /usr/local/sbin, /tmp
 *                        binds of <host dir>/root/<path>, so `hostPath()` reads and writes them from outside
 * Nothing is mounted outside the namespaces; they vanish with their processes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { quoteArg } from '../transport/quote.js';
import { isWithin } from '../actions/util.js';
import { packageRoot } from './sim/paths.js';
import { writeSlowSftp } from './slow-sftp.js';
import { killNow, mntnsOf, procStartTime, stopProcesses, type OwnProcesses } from './process.js';

export interface LabHost {
  name: string;
  address: string;
  port: number;
  user: 'root';
  pid: number;
  /** this host's mini-rootfs dir on the operator machine */
  root: string;
}

export interface Lab {
  dir: string;
  hosts: LabHost[];
  privateKeyPath: string;
  knownHostsPath: string;
  inventoryYaml(): string;
  /** the path on the operator machine behind `p` on host `h` (only the host-private trees, see PRIVATE_PATHS) */
  hostPath(h: LabHost, p: string): string;
  stop(): Promise<void>;
}

export interface StartLabOptions {
  count: number;
  /** created if missing; default a new temporary directory. Must not be under /run. */
  dir?: string;
  /** host names are `<prefix>-01`, ...; default `lab` */
  namePrefix?: string;
  /** default 127.1.0.1; later hosts take the next addresses (x.y.z.0 and .255 are skipped) */
  firstAddress?: string;
  /** default 22 */
  port?: number;
  /** how long to wait for every sshd to listen; default 30 s + 50 ms per host */
  readyTimeoutMs?: number;
  /**
   * Start the hosts inside the network namespace of this process (one the caller made, e.g. with
   * `unshare -n`): they are then reachable only from inside it, as hosts behind a bastion are.
   */
  netnsPid?: number;
  /**
   * Hosts on a slow link, by index (0 for the first): index → the bytes a second their SFTP server reads
   * from the client (src/lab/slow-sftp.ts). Uploads to them take at least size / rate on any machine.
   */
  slowSftp?: Record<number, number>;
  /** aborted (Ctrl-C): startLab stops what it started, as on any failure, and rejects with "interrupted" */
  signal?: AbortSignal;
}

/** Trees each host has for itself (bind mounts of `<host>/root/<path>`). */
export const PRIVATE_PATHS = ['/etc/kubernetes', '/var/lib/kubelet', '/var/lib/runbook', '/var/backups', '/root', '/usr/local/sbin', '/tmp'] as const;

/** Is `p` inside one of the trees each lab host has its own copy of (PRIVATE_PATHS)? */
export function isHostPrivate(p: string): boolean {
  return PRIVATE_PATHS.some((b) => isWithin(p, b));
}

/**
 * Machine commands the lab hosts must not see on their PATH: whether a host has etcdctl is the test's
 * decision (src/lab/sim-host.ts), not the operator machine's. Each is masked inside the namespace by a
 * non-executable empty file, and the machine's binary stays reachable at TOOLS_IN_NS/<name> for a test
 * that puts it on a host's PATH.
 */
export const HIDDEN_COMMANDS = ['etcdctl', 'etcd'] as const;
const HIDDEN_SEARCH = ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin'];
/** where a host's namespace sees the machine's hidden commands (HIDDEN_COMMANDS) */
export const TOOLS_IN_NS = '/run/runbook-lab-tools';

/** The hidden commands present on this machine: name → every path it has (the first one is exposed). */
function hiddenCommandPaths(): Array<[string, string[]]> {
  const out: Array<[string, string[]]> = [];
  for (const name of HIDDEN_COMMANDS) {
    const paths = HIDDEN_SEARCH.map((d) => `${d}/${name}`).filter((p) => existsSync(p));
    if (paths.length) out.push([name, paths]);
  }
  return out;
}

const SSHD = '/usr/sbin/sshd';
/** where the lab dir is seen from inside every host's namespace (its /tmp may hide the real path) */
export const IN_NS_LAB = '/run/runbook-lab';
const STATE_FILE = 'lab.json'; // read by stopLab(dir) and openLab(dir)

interface HostState {
  name: string;
  address: string;
  port: number;
  pid: number;
  /** /proc/<pid>/stat start time, so a recycled PID is never killed */
  startTime: string;
  /** mount namespace of the sshd (`mnt:[N]`): leftover sessions in it are killed on stop */
  mntns: string;
}

interface LabState {
  version: 1;
  dir: string;
  privateKeyPath: string;
  knownHostsPath: string;
  hosts: HostState[];
  /** the network namespace the hosts run in (StartLabOptions.netnsPid) */
  netnsPid?: number;
}

let support: { ok: boolean; reason?: string } | undefined;

/** Can this machine run the lab? (root, sshd, unshare, overlayfs, ssh-keygen) */
export function labSupport(): { ok: boolean; reason?: string } {
  if (support) return support;
  const no = (reason: string) => (support = { ok: false, reason: `lab unavailable: ${reason}` });
  if (process.platform !== 'linux') return no('needs Linux mount namespaces');
  if (process.getuid?.() !== 0) return no('needs root (mount namespaces, sshd on port 22)');
  if (!existsSync(SSHD)) return no(`${SSHD} not found (install openssh-server)`);
  for (const tool of ['unshare', 'ssh-keygen']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return no(`${tool} not found`);
  }
  const probe = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs /mnt && mkdir /mnt/l /mnt/u /mnt/w /mnt/m && mount -t overlay overlay -o lowerdir=/mnt/l,upperdir=/mnt/u,workdir=/mnt/w /mnt/m'], {
    encoding: 'utf8',
  });
  if (probe.status !== 0) return no(`cannot create a mount namespace with tmpfs and overlayfs: ${(probe.stderr || '').trim() || `exit ${probe.status}`}`);
  return (support = { ok: true });
}

function nextAddress(a: string): string {
  const p = a.split('.').map(Number);
  if (p.length !== 4 || p.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) throw new Error(`bad IPv4 address ${a}`);
  do {
    p[3]!++;
    for (let i = 3; i > 0; i--) {
      if (p[i]! > 255) {
        p[i] = 0;
        p[i - 1]!++;
      }
    }
  } while (p[3] === 0 || p[3] === 255);
  if (p[0] !== 127) throw new Error('lab addresses ran out of 127.0.0.0/8');
  return p.join('.');
}

/**
 * Moves a lab address into another 127.N.0.0/16 block when RUNBOOK_LAB_OCTET=N is set, so two
 * checkouts (or a developer and CI) can run the lab tests on one machine at the same time: every
 * test file picks fixed 127.1.x.y addresses, and sshd cannot bind one address twice.
 */
export function labNetwork(address: string): string {
  const octet = process.env.RUNBOOK_LAB_OCTET;
  if (!octet) return address;
  const n = Number(octet);
  if (!Number.isInteger(n) || n < 1 || n > 254) throw new Error(`RUNBOOK_LAB_OCTET must be 1..254, got ${octet}`);
  const p = address.split('.');
  if (p[0] !== '127' || p.length !== 4) return address;
  p[1] = String(n);
  return p.join('.');
}

function addresses(first: string, n: number): string[] {
  if (!first.startsWith('127.')) throw new Error(`lab addresses must be loopback (127.0.0.0/8), got ${first}`);
  const out = [first];
  while (out.length < n) out.push(nextAddress(out[out.length - 1]!));
  return out;
}

/** OpenSSH-format passwd with root's shell set to /bin/sh (root's bashrc here costs ~80 ms per command). */
function passwdWithShShell(): string {
  return readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((l) => {
      const f = l.split(':');
      if (f[0] === 'root' && f.length === 7) {
        f[6] = '/bin/sh';
        return f.join(':');
      }
      return l;
    })
    .join('\n');
}

/** shadow with root unlocked for key logins (sshd without PAM refuses a `!`-locked account); undefined when unchanged */
function shadowUnlocked(): string | undefined {
  let text: string;
  try {
    text = readFileSync('/etc/shadow', 'utf8');
  } catch {
    return undefined;
  }
  let changed = false;
  const out = text
    .split('\n')
    .map((l) => {
      const f = l.split(':');
      if (f[0] === 'root' && f[1]?.startsWith('!')) {
        f[1] = '*';
        changed = true;
        return f.join(':');
      }
      return l;
    })
    .join('\n');
  return changed ? out : undefined;
}

function sshdConfig(h: { name: string; address: string; port: number }, sftp: string): string {
  const H = `${IN_NS_LAB}/hosts/${h.name}`;
  return [
    `# runbook lab host ${h.name}`,
    `ListenAddress ${h.address}:${h.port}`,
    `PidFile ${H}/sshd.pid`,
    `HostKey ${H}/ssh_host_ed25519_key`,
    // the second file is for the non-root lab users (users.ts): they cannot read the 0700 lab dir
    `AuthorizedKeysFile ${IN_NS_LAB}/authorized_keys /etc/runbook-lab/authorized_keys`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    // MaxSessions left at OpenSSH's 10, as real hosts have it: a client opening more sessions at once fails there
    'MaxStartups 1000:30:1000',
    'LogLevel ERROR',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'X11Forwarding no',
    'AllowTcpForwarding yes',
    `Subsystem sftp ${sftp}`,
    '',
  ].join('\n');
}

/**
 * Start host `name`'s sshd: `unshare -m ... sh -c 'mounts; exec sshd'` (so the PID is sshd's),
 * detached into its own process group (it survives the caller, `runbook lab up`, and its Ctrl-C),
 * logging to its sshd.log. `exited` is filled in if it dies.
 */
function spawnHost(dir: string, name: string, netnsPid?: number): { pid: number; exited: { code: number | null } | null } {
  const log = openSync(join(dir, 'hosts', name, 'sshd.log'), 'a');
  const argv = ['unshare', '-m', '--propagation', 'private', 'sh', '-c', namespaceScript(dir, name)];
  // nsenter execs unshare, which execs sh, which execs sshd: the PID stays sshd's
  const cmd = netnsPid === undefined ? argv : ['nsenter', `--net=/proc/${netnsPid}/ns/net`, '--', ...argv];
  const child = spawn(cmd[0]!, cmd.slice(1), { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  const h = { pid: child.pid ?? -1, exited: null as { code: number | null } | null };
  child.on('exit', (code) => (h.exited = { code }));
  child.on('error', () => (h.exited = { code: null }));
  child.unref();
  return h;
}

/** sshd is up: record its mount namespace (never our own) and start time, which stopLab checks before killing. */
function markReady(hs: HostState, myns: string | undefined): void {
  hs.mntns = mntnsOf(hs.pid) ?? '';
  if (hs.mntns === myns) hs.mntns = '';
  if (!hs.startTime) hs.startTime = procStartTime(hs.pid) ?? '';
}

/** The sshds a lab state records as started (PID and start time), as stopProcesses takes them. */
function ownOf(hosts: HostState[]): OwnProcesses {
  return new Map(hosts.filter((h) => h.startTime !== '').map((h) => [h.pid, h.startTime]));
}

/** The shell script run inside the new mount namespace, ending in `exec sshd`. */
function namespaceScript(labDir: string, name: string): string {
  const keep = [...new Set([packageRoot, dirname(process.execPath)])].filter(isHostPrivate);
  const L = quoteArg(labDir);
  const H = `${IN_NS_LAB}/hosts/${name}`;
  const R = `${H}/root`;
  const lines = [
    'set -e',
    'mount -t tmpfs -o mode=755 runbook-lab-run /run',
    `mkdir -p /run/sshd ${IN_NS_LAB}`,
    'chmod 755 /run/sshd',
    `mount --bind ${L} ${IN_NS_LAB}`,
    // a simulated node's runtime sockets where kubeadm looks for them (src/lab/sim/agent/runtime-sockets.ts)
    `ln -s ${R}/run/containerd /run/containerd && ln -s ${R}/run/docker.sock /run/docker.sock`,
    `mount -t overlay runbook-lab-etc -o lowerdir=/etc,upperdir=${H}/ovl/etc/upper,workdir=${H}/ovl/etc/work /etc`,
    `mount -t overlay runbook-lab-varlib -o lowerdir=/var/lib,upperdir=${H}/ovl/varlib/upper,workdir=${H}/ovl/varlib/work /var/lib`,
    'mkdir -p /etc/kubernetes /var/lib/kubelet /var/lib/runbook /var/backups /usr/local/sbin',
    // the checkout and node stay visible where a private tree covers them (a clone in /tmp or /root):
    // set aside before the private binds, put back after. Binding them in later from outside the
    // namespace is not possible (the kernel refuses a bind source from another mount namespace).
    ...keep.map((k, i) => `mkdir -p /run/runbook-keep/${i} && mount --bind ${quoteArg(k)} /run/runbook-keep/${i}`),
    ...PRIVATE_PATHS.map((p) => `mount --bind ${R}${p} ${p}`),
    ...keep.map((k, i) => `mkdir -p ${quoteArg(k)} && mount --bind /run/runbook-keep/${i} ${quoteArg(k)}`),
    // the machine's etcd/etcdctl: kept at TOOLS_IN_NS, masked where the PATH would find them
    `mkdir -p ${TOOLS_IN_NS} && : > ${TOOLS_IN_NS}/.masked && chmod 644 ${TOOLS_IN_NS}/.masked`,
    ...hiddenCommandPaths().flatMap(([name, paths]) => [
      `: > ${TOOLS_IN_NS}/${name} && mount --bind ${quoteArg(paths[0]!)} ${TOOLS_IN_NS}/${name}`,
      ...paths.map((p) => `mount --bind ${TOOLS_IN_NS}/.masked ${quoteArg(p)}`),
    ]),
    `exec ${SSHD} -D -e -f ${H}/sshd_config`,
  ];
  return lines.join('\n');
}

function prepareHost(dir: string, h: { name: string; address: string; port: number }, passwd: string, shadow: string | undefined, sftpRate: number | undefined): void {
  const hd = join(dir, 'hosts', h.name);
  const root = join(hd, 'root');
  for (const d of ['ovl/etc/upper', 'ovl/etc/work', 'ovl/varlib/upper', 'ovl/varlib/work']) mkdirSync(join(hd, d), { recursive: true });
  for (const p of PRIVATE_PATHS) mkdirSync(join(root, p), { recursive: true, mode: 0o755 });
  chmodSync(join(root, 'tmp'), 0o1777);
  chmodSync(join(root, 'root'), 0o700);
  mkdirSync(join(root, 'root', '.kube'), { recursive: true });
  writeFileSync(join(hd, 'ovl/etc/upper/passwd'), passwd, { mode: 0o644 });
  if (shadow) writeFileSync(join(hd, 'ovl/etc/upper/shadow'), shadow, { mode: 0o640 });
  const sftp = sftpRate === undefined ? 'internal-sftp' : writeSlowSftp(hd, `${IN_NS_LAB}/hosts/${h.name}`, sftpRate);
  writeFileSync(join(hd, 'sshd_config'), sshdConfig(h, sftp));
}

/** `ssh-keygen` without blocking the event loop (500 hosts: keys are made 8 at a time); `signal` stops it (settles once it has exited). */
function keygen(path: string, comment: string, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('interrupted'));
    const child = spawn('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], { stdio: ['ignore', 'ignore', 'pipe'] });
    const stop = () => child.kill('SIGTERM');
    signal?.addEventListener('abort', stop, { once: true });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      signal?.removeEventListener('abort', stop);
      if (signal?.aborted) reject(new Error('interrupted'));
      else if (code === 0) resolve();
      else reject(new Error(`ssh-keygen failed for ${path}: ${err.trim() || `exit ${code}`}`));
    });
  });
}

/** `f` over `items`, `width` at a time; after a failure no new item starts, and it rejects once those running have settled. */
async function inPool<T>(items: readonly T[], width: number, f: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failed) await f(items[next++]!).catch((error: unknown) => void (failed ??= { error }));
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  if (failed) throw failed.error;
}

function labFromState(state: LabState): Lab {
  const hosts: LabHost[] = state.hosts.map((h) => ({
    name: h.name,
    address: h.address,
    port: h.port,
    user: 'root',
    pid: h.pid,
    root: join(state.dir, 'hosts', h.name, 'root'),
  }));
  return {
    dir: state.dir,
    hosts,
    privateKeyPath: state.privateKeyPath,
    knownHostsPath: state.knownHostsPath,
    inventoryYaml: () => inventoryYaml(state, hosts),
    hostPath: (h, p) => hostPath(h, p),
    stop: () => stopLab(state.dir),
  };
}

function hostPath(h: LabHost, p: string): string {
  if (!p.startsWith('/')) throw new Error(`hostPath needs an absolute path, got ${p}`);
  const norm = resolvePath(p);
  if (isHostPrivate(norm)) return join(h.root, norm);
  throw new Error(`${p} is not private to lab hosts (only ${PRIVATE_PATHS.join(', ')} are)`);
}

function yamlStr(s: string): string {
  return /^[A-Za-z0-9_./@:+-]+$/.test(s) && !/^[-:]/.test(s) ? s : JSON.stringify(s);
}

function inventoryYaml(state: LabState, hosts: LabHost[]): string {
  const lines = [
    '# runbook lab inventory (generated)',
    'all:',
    '  vars:',
    `    ansible_ssh_private_key_file: ${yamlStr(state.privateKeyPath)}`,
    `    runbook_known_hosts: ${yamlStr(state.knownHostsPath)}`,
    `    ansible_ssh_common_args: ${JSON.stringify(`-o UserKnownHostsFile=${state.knownHostsPath} -o StrictHostKeyChecking=yes`)}`,
    '  hosts:',
  ];
  for (const h of hosts) lines.push(`    ${yamlStr(h.name)}: { ansible_host: ${h.address}, ansible_port: ${h.port}, ansible_user: ${h.user} }`);
  return lines.join('\n') + '\n';
}

/** The lab recorded in `dir` (started earlier, maybe by another process, e.g. `runbook lab up`). */
export function openLab(dir: string): Lab {
  const state = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as LabState;
  return labFromState(state);
}

/**
 * startLab failed. Every process it had spawned was stopped again (by PID and start time, and whatever
 * ran in their mount namespaces) unless `leftover` names it; then the lab dir was removed, as stopLab does.
 */
export class LabStartError extends Error {
  constructor(
    message: string,
    readonly dir: string,
    /** every sshd (with its unshare/nsenter wrapper: the same PID) startLab spawned, ready or not */
    readonly started: ReadonlyArray<Readonly<Pick<HostState, 'name' | 'address' | 'port' | 'pid' | 'startTime'>>>,
    /** PIDs that did not stop; the lab dir and its state file are kept for `runbook lab down` */
    readonly leftover: readonly number[],
  ) {
    super(message);
    this.name = 'LabStartError';
  }
}

export async function startLab(opts: StartLabOptions): Promise<Lab> {
  const sup = labSupport();
  if (!sup.ok) throw new Error(sup.reason);
  if (!Number.isInteger(opts.count) || opts.count < 1) throw new Error(`lab host count must be a positive integer, got ${opts.count}`);
  const dir = resolvePath(opts.dir ?? mkdtempSync(join(tmpdir(), 'runbook-lab-')));
  if (dir === '/run' || dir.startsWith('/run/')) throw new Error(`the lab dir must not be under /run (each host mounts its own /run): ${dir}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (existsSync(join(dir, STATE_FILE))) throw new Error(`a lab is already recorded in ${dir}; stop it first (stopLab)`);
  const state: LabState = {
    version: 1,
    dir,
    privateKeyPath: join(dir, 'id_ed25519'),
    knownHostsPath: join(dir, 'known_hosts'),
    hosts: [], // filled in as each sshd is spawned, before anything else can fail
    ...(opts.netnsPid !== undefined ? { netnsPid: opts.netnsPid } : {}),
  };
  // The sshds are detached (they outlive `runbook lab up`): until startLab returns, every way out of it
  // must stop them, or they live on with PPID 1 holding their addresses.
  const own = (): OwnProcesses => ownOf(state.hosts);
  const onExit = () => killNow(own());
  process.on('exit', onExit);
  try {
    await bringUp(state, opts);
    return labFromState(state);
  } catch (e) {
    const leftover = await stopProcesses(own(), state.hosts.map((h) => h.mntns)).catch(() => [...own().keys()]);
    if (leftover.length === 0) rmSync(dir, { recursive: true, force: true });
    else writeState(state); // best effort: `runbook lab down` (stopLab) can try again
    const why = opts.signal?.aborted ? 'interrupted' : e instanceof Error ? e.message : String(e);
    const kept = leftover.length ? `; could not stop PID(s) ${leftover.join(', ')}: ${dir} is kept, stop them with stopLab or \`runbook lab down --dir ${dir}\`` : '';
    const started = state.hosts.map(({ name, address, port, pid, startTime }) => ({ name, address, port, pid, startTime }));
    throw new LabStartError(`lab start failed: ${why}${kept}`, dir, started, leftover);
  } finally {
    process.off('exit', onExit);
  }
}

function writeState(state: LabState): void {
  writeFileSync(join(state.dir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
}

/** Keys, host trees, then every sshd; resolves when all listen, throws (naming the hosts) otherwise. */
async function bringUp(state: LabState, opts: StartLabOptions): Promise<void> {
  const { dir } = state;
  const port = opts.port ?? 22;
  const prefix = opts.namePrefix ?? 'lab';
  const width = Math.max(2, String(opts.count).length);
  const addrs = addresses(labNetwork(opts.firstAddress ?? '127.1.0.1'), opts.count);
  const specs = addrs.map((address, i) => ({ name: `${prefix}-${String(i + 1).padStart(width, '0')}`, address, port }));

  // client key (ssh-keygen), authorized_keys, per-host host keys and known_hosts
  await keygen(state.privateKeyPath, 'runbook-lab', opts.signal);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(state.privateKeyPath + '.pub'), { mode: 0o600 });
  const passwd = passwdWithShShell();
  const shadow = shadowUnlocked();
  const known: string[] = [];
  const slow = Object.keys(opts.slowSftp ?? {}).filter((i) => !specs[Number(i)]);
  if (slow.length) throw new Error(`slowSftp: no host at index ${slow.join(', ')} (the lab has ${specs.length})`);
  specs.forEach((h, i) => prepareHost(dir, h, passwd, shadow, opts.slowSftp?.[i]));
  await inPool(specs, 8, (h) => keygen(join(dir, 'hosts', h.name, 'ssh_host_ed25519_key'), `root@${h.name}`, opts.signal));
  for (const h of specs) {
    const [type, b64] = readFileSync(join(dir, 'hosts', h.name, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/);
    known.push(`${port === 22 ? h.address : `[${h.address}]:${port}`} ${type} ${b64}`);
  }
  writeFileSync(state.knownHostsPath, known.join('\n') + '\n', { mode: 0o600 });
  writeState(state); // written before any process starts, so stopLab(dir) can always clean up
  if (opts.signal?.aborted) throw new Error('interrupted');

  // start every sshd at once; each one is `unshare -m ... sh -c 'mounts; exec sshd'`, so the PID is sshd's
  const started: { hs: HostState; child: ReturnType<typeof spawnHost> }[] = [];
  for (const spec of specs) {
    const child = spawnHost(dir, spec.name, opts.netnsPid); // its `exited` fills in later
    const hs: HostState = { ...spec, pid: child.pid, startTime: procStartTime(child.pid) ?? '', mntns: '' };
    state.hosts.push(hs);
    started.push({ hs, child });
  }
  writeState(state);

  // ready = sshd wrote its PidFile, which it does only after binding its listen socket
  const timeoutMs = opts.readyTimeoutMs ?? 30_000 + 50 * opts.count;
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(started);
  const failures: string[] = [];
  const myns = mntnsOf('self');
  for (;;) {
    // interrupted: the caller's catch stops every sshd spawned so far, ready or not
    if (opts.signal?.aborted) throw new Error('interrupted');
    for (const s of [...pending]) {
      const hd = join(dir, 'hosts', s.hs.name);
      if (readOr(join(hd, 'sshd.pid')).trim() !== '') {
        pending.delete(s);
        markReady(s.hs, myns);
      } else if (s.child.exited) {
        pending.delete(s);
        failures.push(exitedMessage(s.hs, s.child.exited.code, readOr(join(hd, 'sshd.log'))));
      }
    }
    if (failures.length > 0 || pending.size === 0) break;
    if (Date.now() > deadline) {
      const names = [...pending].slice(0, 3).map((s) => `${s.hs.name} (${s.hs.address}:${s.hs.port})`);
      failures.push(`sshd did not start listening within ${timeoutMs} ms on ${names.join(', ')}${pending.size > 3 ? ` and ${pending.size - 3} more host(s)` : ''}`);
      break;
    }
    await new Promise((r) => setTimeout(r, 15));
  }
  writeState(state);
  if (failures.length > 0) throw new Error(`${failures.slice(0, 3).join('; ')}${failures.length > 3 ? ` (and ${failures.length - 3} more)` : ''}`);
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return ''; // not there (yet)
  }
}

/** why host `h`'s sshd exited, from the last lines of its log; a taken address says who may hold it */
function exitedMessage(h: HostState, code: number | null, log: string): string {
  const tail = log.trim().split('\n').slice(-3).join(' | ');
  const taken = /Address already in use/.test(log)
    ? ` (something else listens on ${h.address}:${h.port}: another lab in the same address block? each test file needs a 127.1.X block of its own; RUNBOOK_LAB_OCTET=N moves a checkout's labs to 127.N)`
    : '';
  return `${h.name} (${h.address}:${h.port}) exited with ${code}: ${tail || 'no output'}${taken}`;
}

/** Kill this lab's processes (by recorded PID and start time, and mount namespace; nothing else) and remove its dir. */
export async function stopLab(dir: string): Promise<void> {
  const file = join(dir, STATE_FILE);
  if (!existsSync(file)) {
    throw new Error(`no lab state in ${dir} (${STATE_FILE} missing)`);
  }
  const state = JSON.parse(readFileSync(file, 'utf8')) as LabState;
  // a host that never became ready has no namespace recorded: stopProcesses reads it from the live PID
  const own = ownOf(state.hosts);
  const left = await stopProcesses(own, state.hosts.map((h) => h.mntns));
  if (left.length > 0) throw new Error(`lab processes did not exit: ${left.join(', ')}`);
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Start host `name`'s sshd again after a test killed it (fault injection): same address, host key
 * and private trees, in a new mount namespace. The host's old processes must be gone. Updates the
 * lab's state (so stopLab cleans the new process up) and `lab.hosts[i].pid` in place.
 */
export async function restartHost(lab: Lab, name: string, timeoutMs = 30_000): Promise<LabHost> {
  const file = join(lab.dir, STATE_FILE);
  const state = JSON.parse(readFileSync(file, 'utf8')) as LabState;
  const hs = state.hosts.find((h) => h.name === name);
  const lh = lab.hosts.find((h) => h.name === name);
  if (!hs || !lh) throw new Error(`no lab host ${name}`);
  if (hs.pid > 0 && procStartTime(hs.pid) === hs.startTime && hs.startTime !== '') throw new Error(`lab host ${name} is still running (pid ${hs.pid})`);
  const hd = join(lab.dir, 'hosts', name);
  rmSync(join(hd, 'sshd.pid'), { force: true });
  const started = spawnHost(lab.dir, name, state.netnsPid);
  const pid = started.pid;
  hs.pid = pid;
  hs.startTime = procStartTime(pid) ?? '';
  hs.mntns = '';
  writeState(state);
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(join(hd, 'sshd.pid'))) {
    if (started.exited || Date.now() > deadline) throw new Error(`lab host ${name} did not restart${started.exited ? ' (sshd exited; see its sshd.log)' : ' in time'}`);
    await new Promise((r) => setTimeout(r, 15));
  }
  markReady(hs, mntnsOf('self'));
  writeState(state);
  lh.pid = pid;
  return lh;
}
