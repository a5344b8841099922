/**
 * SshTransport: one ssh2 connection per host, reused for every command (one channel each),
 * host keys verified against known_hosts (known-hosts.ts), files through one lazily opened
 * SFTP session, or through `sudo cat`/`mv` when become would make SFTP act as the wrong user.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import ssh2, { type AnyAuthMethod, type Client as ClientT, type ClientChannel, type ConnectConfig, type ParsedKey, type SFTPWrapper } from 'ssh2';
import { ioError, userError, messageOf, UserError } from '../errors.js';
import { appendKnownHost, checkHostKey, fingerprint, hostKeyName, keyTypeOf, knownKeyTypes, loadKnownHosts } from './known-hosts.js';
import { cdPrefix, withEnv } from './local.js';
import { resolveSshConfig } from './ssh-config.js';
import { type Arg, shellJoin } from './quote.js';
import type { ExecOptions, ExecResult, FileStat, Transport } from './types.js';

const { Client, utils } = ssh2; // CommonJS: no named exports at run time

export type HostKeyPolicy = 'strict' | 'accept-new';

export interface SshConnectOptions {
  /** inventory name, used in messages; default host */
  name?: string;
  host: string;
  /** default 22 */
  port?: number;
  /** default: $USER, else root */
  user?: string;
  privateKeyPath?: string;
  privateKeyPaths?: string[];
  passphrase?: string;
  /** ssh-agent socket; `true` means $SSH_AUTH_SOCK */
  agent?: string | boolean;
  password?: string;
  /** default ~/.ssh/known_hosts */
  knownHostsPath?: string;
  knownHostsPaths?: string[];
  /** strict (default): unknown key refuses; accept-new: record an unknown key. A changed key always refuses. */
  hostKeyPolicy?: HostKeyPolicy;
  /** TCP connect + SSH handshake; default 10 s */
  connectTimeoutMs?: number;
  /** SSH keepalive interval in ms (true = 15 s); off by default */
  keepalive?: boolean | number;
  /** reach this host through another host's direct-tcpip channel */
  proxyJump?: SshTransport;
  /** run commands through sudo */
  become?: boolean;
  /** sent on sudo's stdin (`sudo -S -p ''`), never in argv or messages */
  becomePassword?: string;
}

const DEFAULT_HOST_KEY_ALGOS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

/** Host key algorithms, the types known_hosts already has for this host first (as OpenSSH orders them). */
function hostKeyAlgorithms(knownTypes: string[]): string[] {
  const first: string[] = [];
  for (const t of knownTypes) {
    if (t === 'ssh-rsa') first.push('rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa');
    else if (DEFAULT_HOST_KEY_ALGOS.includes(t)) first.push(t);
  }
  return [...new Set([...first, ...DEFAULT_HOST_KEY_ALGOS])];
}

// Keys are read and parsed once per process: 500 hosts share one lab key.
const keyCache = new Map<string, ParsedKey>();
function loadKey(path: string, passphrase: string | undefined, where: { host: string }): ParsedKey {
  const cached = keyCache.get(path);
  if (cached) return cached;
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    throw userError('connect', `cannot read private key ${path}: ${messageOf(e)}`, where);
  }
  const parsed = utils.parseKey(data, passphrase);
  if (parsed instanceof Error) {
    const hint = /encrypted|passphrase/i.test(parsed.message) ? 'the key is encrypted: load it into ssh-agent' : undefined;
    throw userError('connect', `cannot use private key ${path}: ${parsed.message}`, { ...where, ...(hint ? { hint } : {}) });
  }
  const key = Array.isArray(parsed) ? parsed[0]! : parsed;
  keyCache.set(path, key);
  return key;
}

/** Errors while connecting, in words an operator can act on. */
function connectError(e: unknown, target: string, where: { host: string }, timeoutMs: number): UserError {
  if (e instanceof UserError) return e;
  const err = e as NodeJS.ErrnoException & { level?: string };
  const code = err?.code;
  let msg: string;
  if (code === 'ECONNREFUSED') msg = `cannot connect to ${target}: connection refused (is sshd running and listening there?)`;
  else if (code === 'ETIMEDOUT' || /timed out/i.test(messageOf(e))) msg = `cannot connect to ${target}: timed out after ${timeoutMs} ms`;
  else if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') msg = `cannot connect to ${target}: host unreachable`;
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') msg = `cannot connect to ${target}: unknown host name`;
  else if (code === 'ECONNRESET') msg = `cannot connect to ${target}: connection reset during the SSH handshake`;
  else if (err?.level === 'client-authentication') msg = `authentication failed for ${target}: ${messageOf(e)}`;
  else msg = `cannot connect to ${target}: ${messageOf(e)}`;
  return userError('connect', msg, where);
}

interface RawResult {
  code: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: Buffer;
  durationMs: number;
  timedOut: boolean;
}

const SFTP_NO_SUCH_FILE = 2;

export class SshTransport implements Transport {
  readonly host: string;
  readonly address: string;
  readonly port: number;
  readonly user: string;
  private readonly become: boolean;
  private readonly becomePassword: string | undefined;
  private sftpP: Promise<SFTPWrapper> | undefined;
  /** commands running now: their channel and (once reported) process group, for cancel() */
  private readonly running = new Set<Running>();
  private sftpS: SFTPWrapper | undefined;
  /** temp files of writes in flight, removed by cancel() */
  private readonly writing = new Set<string>();
  private broken: string | undefined;
  /** the underlying connection emitted 'close' */
  private connClosed = false;
  private closed = false;

  private constructor(
    private readonly conn: ClientT,
    opts: SshConnectOptions,
  ) {
    this.address = opts.host;
    this.port = opts.port ?? 22;
    this.user = opts.user ?? process.env.USER ?? 'root';
    this.host = opts.name ?? opts.host;
    this.become = opts.become ?? false;
    this.becomePassword = opts.becomePassword;
    conn.on('error', (e) => {
      this.broken ??= messageOf(e);
    });
    conn.on('close', () => {
      this.broken ??= 'connection closed';
      this.connClosed = true;
      this.sftpP = undefined;
    });
  }

  /** `user@host:port` for messages */
  get target(): string {
    return `${this.user}@${this.address}:${this.port}`;
  }

  static async connect(opts: SshConnectOptions): Promise<SshTransport> {
    const port = opts.port ?? 22;
    const user = opts.user ?? process.env.USER ?? 'root';
    const name = opts.name ?? opts.host;
    const where = { host: name };
    const target = name === opts.host ? `${user}@${opts.host}:${port}` : `${name} (${user}@${opts.host}:${port})`;
    const timeoutMs = opts.connectTimeoutMs ?? 10_000;
    const knownFiles = opts.knownHostsPaths ?? [opts.knownHostsPath ?? join(homedir(), '.ssh', 'known_hosts')];
    const policy = opts.hostKeyPolicy ?? 'strict';
    const keyName = hostKeyName(opts.host, port);
    const entries = loadKnownHosts(knownFiles);
    const hostPort = `${opts.host}:${port}`;

    // ---- authentication methods, tried in order: agent, keys, password ----
    const methods: AnyAuthMethod[] = [];
    const agent = opts.agent === true ? process.env.SSH_AUTH_SOCK : opts.agent || undefined;
    if (agent) methods.push({ type: 'agent', username: user, agent });
    let keyPaths = opts.privateKeyPaths ?? (opts.privateKeyPath ? [opts.privateKeyPath] : undefined);
    if (!keyPaths && !agent && opts.password === undefined) {
      keyPaths = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => join(homedir(), '.ssh', f)).filter((f) => existsSync(f));
      if (process.env.SSH_AUTH_SOCK) methods.push({ type: 'agent', username: user, agent: process.env.SSH_AUTH_SOCK });
    }
    for (const p of keyPaths ?? []) methods.push({ type: 'publickey', username: user, key: loadKey(p, opts.passphrase, where) });
    if (opts.password !== undefined) methods.push({ type: 'password', username: user, password: opts.password });
    if (methods.length === 0) {
      throw userError('connect', `no way to authenticate to ${target}: no private key, ssh-agent or password`, {
        ...where,
        hint: 'set ansible_ssh_private_key_file or start ssh-agent',
      });
    }

    // ---- host key verification ----
    let refusal: UserError | undefined;
    const hostVerifier = (key: Buffer): boolean => {
      const fp = `${keyTypeOf(key)} ${fingerprint(key)}`;
      const v = checkHostKey(entries, keyName, key);
      if (v.status === 'ok') return true;
      if (v.status === 'revoked') {
        refusal = userError('host-key', `host key for ${hostPort} (${fp}) is REVOKED in ${v.entry.file} line ${v.entry.line}; refusing to connect`, where);
        return false;
      }
      if (v.status === 'changed') {
        refusal = userError(
          'host-key',
          `HOST KEY CHANGED for ${hostPort} (now ${fp}): possible man-in-the-middle; remove the old key from ${v.entry.file} line ${v.entry.line} if the change is expected`,
          where,
        );
        return false;
      }
      if (policy === 'accept-new') {
        try {
          appendKnownHost(knownFiles[0]!, keyName, key);
        } catch (e) {
          refusal = userError('host-key', `cannot record the host key for ${hostPort} in ${knownFiles[0]}: ${messageOf(e)}`, where);
          return false;
        }
        return true;
      }
      const also = v.otherTypes.length ? ` (known_hosts has only ${v.otherTypes.join(', ')} keys for it)` : '';
      refusal = userError(
        'host-key',
        `host key for ${hostPort} is not in ${knownFiles.join(', ')} (${fp})${also}; run with --accept-new to trust it`,
        where,
      );
      return false;
    };

    // ---- the socket: TCP with TCP_NODELAY, or a channel through the jump host ----
    let sock: Duplex;
    if (opts.proxyJump) {
      try {
        sock = await opts.proxyJump.forwardOut(opts.host, port);
      } catch (e) {
        throw userError('connect', `cannot reach ${target} through ${opts.proxyJump.host}: ${messageOf(e)}`, where);
      }
    } else {
      sock = await new Promise<Socket>((resolve, reject) => {
        const s = new Socket();
        const timer = setTimeout(() => {
          s.destroy();
          reject(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }));
        }, timeoutMs);
        s.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        s.connect({ host: opts.host, port }, () => {
          clearTimeout(timer);
          s.removeAllListeners('error');
          s.setNoDelay(true);
          resolve(s);
        });
      }).catch((e) => {
        throw connectError(e, target, where, timeoutMs);
      });
    }

    const conn = new Client();
    const keepaliveInterval = opts.keepalive === true ? 15_000 : typeof opts.keepalive === 'number' ? opts.keepalive : 0;
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        sock.destroy();
        reject(refusal ?? connectError(e, target, where, timeoutMs));
      };
      conn.once('ready', () => {
        settled = true;
        resolve();
      });
      conn.on('error', fail);
      conn.once('close', () => fail(new Error('connection closed during the SSH handshake')));
      conn.connect({
        sock: sock as unknown as ConnectConfig['sock'],
        username: user,
        authHandler: methods,
        readyTimeout: timeoutMs,
        keepaliveInterval,
        hostVerifier,
        algorithms: { serverHostKey: hostKeyAlgorithms(knownKeyTypes(entries, keyName)) as never },
      });
    });
    conn.removeAllListeners('error');
    conn.removeAllListeners('close');
    return new SshTransport(conn, { ...opts, port, user, name });
  }

  /** A direct-tcpip channel from this host to host:port (ProxyJump). */
  forwardOut(host: string, port: number): Promise<ClientChannel> {
    this.assertUsable();
    return new Promise((resolve, reject) => {
      this.conn.forwardOut('127.0.0.1', 0, host, port, (err, ch) => (err ? reject(err) : resolve(ch)));
    });
  }

  private assertUsable(): void {
    if (this.closed) throw userError('connect', `connection to ${this.host} is closed`, { host: this.host });
    if (this.broken) throw userError('connect', `connection to ${this.host} (${this.target}) was lost: ${this.broken}`, { host: this.host });
  }

  /** The exact shell string sent for argv (what `exec` runs). The become password is never part of it. */
  commandLine(argv: readonly Arg[], options: ExecOptions = {}): string {
    const become = options.become ?? this.become;
    let full = withEnv(argv, options.env, this.host);
    if (become) full = this.becomePassword !== undefined ? ['sudo', '-S', '-p', '', '--', ...full] : ['sudo', '-n', '--', ...full];
    return cdPrefix(options.cwd) + shellJoin(full);
  }

  async exec(argv: readonly Arg[], options: ExecOptions = {}): Promise<ExecResult> {
    if (argv.length === 0) throw userError('usage', 'empty command', { host: this.host });
    const r = await this.execRaw(argv, options);
    return {
      code: r.code,
      signal: r.signal,
      stdout: r.stdout.toString('utf8'),
      stderr: r.stderr.toString('utf8'),
      durationMs: r.durationMs,
      ...(r.timedOut ? { timedOut: true } : {}),
    };
  }

  private execRaw(argv: readonly Arg[], options: ExecOptions): Promise<RawResult> {
    this.assertUsable();
    const become = options.become ?? this.become;
    // The shell first reports its PID on stderr: it leads the session's process group, which we
    // kill on timeout or cancel() (OpenSSH ignores `signal` requests on root sessions: no privsep child).
    const timed = true;
    const cmd = 'echo "$$" >&2; ' + this.commandLine(argv, options);
    let stdin: Buffer | undefined = options.stdin === undefined ? undefined : Buffer.from(options.stdin);
    if (become && this.becomePassword !== undefined) stdin = Buffer.concat([Buffer.from(this.becomePassword + '\n'), stdin ?? Buffer.alloc(0)]);
    const started = Date.now();
    return new Promise<RawResult>((resolve, reject) => {
      this.conn.exec(cmd, (err, ch) => {
        if (err) {
          reject(userError('connect', `cannot run a command on ${this.host} (${this.target}): ${messageOf(err)}`, { host: this.host }));
          return;
        }
        const entry: Running = { ch, become, cancelled: false, closed: new Promise<void>((r) => ch.once('close', () => r())) };
        this.running.add(entry);
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        let code: number | null = null;
        let signal: string | null = null;
        let timedOut = false;
        let done = false;
        let timer: NodeJS.Timeout | undefined;
        let grace: NodeJS.Timeout | undefined;
        const finish = () => {
          if (done) return;
          done = true;
          this.running.delete(entry);
          if (timer) clearTimeout(timer);
          if (grace) clearTimeout(grace);
          if (entry.cancelled) timedOut = true; // cancel(): killed like a timeout
          if (!timedOut && code === null && signal === null) {
            // the channel closed with no exit status: sshd (or its session) went away under us
            this.broken ??= 'the connection closed while a command was running';
            reject(userError('connect', `the connection to ${this.host} (${this.target}) was lost while a command was running: it may or may not have finished`, { host: this.host }));
            return;
          }
          resolve({
            code: timedOut ? null : code,
            signal,
            stdout: Buffer.concat(out),
            stderr: Buffer.concat(head ? [head, ...errOut] : errOut),
            durationMs: Date.now() - started,
            timedOut,
          });
        };
        let pgid: string | undefined;
        let head: Buffer | undefined = timed ? Buffer.alloc(0) : undefined; // stderr until the PID line
        ch.on('data', (b: Buffer) => out.push(b));
        ch.stderr.on('data', (b: Buffer) => {
          if (!head) return void errOut.push(b);
          head = Buffer.concat([head, b]);
          const nl = head.indexOf(0x0a);
          if (nl < 0) return;
          pgid = head.subarray(0, nl).toString().trim();
          entry.pgid = pgid;
          if (nl + 1 < head.length) errOut.push(head.subarray(nl + 1));
          head = undefined;
        });
        ch.on('exit', (c: number | null, sig?: string) => {
          if (typeof c === 'number') code = c;
          else signal = sig ?? null;
        });
        ch.on('close', finish);
        ch.on('error', () => undefined);
        if (options.timeoutMs && options.timeoutMs > 0) {
          timer = setTimeout(() => {
            timedOut = true;
            void this.killRunning(entry);
            grace = setTimeout(finish, 1000); // do not wait forever for the server's close
          }, options.timeoutMs);
        }
        if (stdin) ch.end(stdin);
        else ch.end();
      });
    });
  }

  /** Kill one running command: the KILL signal request, then its process group (as the same user), then close the channel. */
  private async killRunning(entry: Running): Promise<void> {
    sendKill(entry.ch); // honoured by OpenSSH for non-root sessions (killpg of the session)
    const pgid = entry.pgid;
    if (pgid && /^\d+$/.test(pgid) && !this.connClosed) {
      await new Promise<void>((resolve) => {
        const argv = entry.become ? ['sudo', '-n', '--', 'kill', '-s', 'KILL', '--', `-${pgid}`] : ['kill', '-s', 'KILL', '--', `-${pgid}`];
        const t = setTimeout(resolve, 3000);
        this.conn.exec(shellJoin(argv), (e, k) => {
          if (e) return void (clearTimeout(t), resolve());
          k.on('error', () => undefined);
          k.on('close', () => (clearTimeout(t), resolve()));
          k.resume();
          k.stderr.resume();
          k.end();
        });
      });
    }
    entry.ch.close();
  }

  /**
   * A step timed out: stop everything in flight before rollback starts. Running commands' process
   * groups are killed; the SFTP session is ended and its close awaited (sftp-server has then
   * exited: no request it had queued can still land); temp files of unfinished writes removed.
   */
  async cancel(): Promise<void> {
    if (this.closed || this.broken) return;
    const tmps = [...this.writing]; // before the session ends: a failing write forgets its temp file
    this.writing.clear();
    const entries = [...this.running];
    for (const e of entries) e.cancelled = true;
    await Promise.all(entries.map((e) => this.killRunning(e)));
    await Promise.all(entries.map((e) => Promise.race([e.closed, new Promise((r) => setTimeout(r, 2000))])));
    const sftp = this.sftpS;
    if (sftp) {
      this.sftpP = undefined;
      this.sftpS = undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 3000);
        sftp.once('close', () => (clearTimeout(t), resolve()));
        sftp.end();
      });
    }
    if (tmps.length && !this.broken) await this.execRaw(['rm', '-f', '--', ...tmps], {}).catch(() => undefined);
  }

  // ---- files ----

  /** SFTP acts as the login user; with become to another user, files go through sudo instead. */
  private get filesViaSudo(): boolean {
    return this.become && this.user !== 'root';
  }

  get filesInProcess(): boolean {
    return !this.filesViaSudo;
  }

  private sftp(): Promise<SFTPWrapper> {
    this.assertUsable();
    if (!this.sftpP) {
      this.sftpP = new Promise<SFTPWrapper>((resolve, reject) => {
        this.conn.sftp((err, s) => {
          if (err) {
            this.sftpP = undefined;
            reject(userError('connect', `cannot open SFTP on ${this.host} (${this.target}): ${messageOf(err)}`, { host: this.host }));
          } else {
            // a session ended by cancel() must not clear the one opened after it
            s.on('close', () => void (this.sftpS === s && ((this.sftpP = undefined), (this.sftpS = undefined))));
            this.sftpS = s;
            resolve(s);
          }
        });
      });
    }
    return this.sftpP;
  }

  private ioError(op: string, path: string, e: unknown): UserError {
    if (e instanceof UserError) return e;
    return ioError(op, path, this.host, messageOf(e), errnoOf(e));
  }

  async read(path: string): Promise<Buffer> {
    if (this.filesViaSudo) {
      const r = await this.execRaw(['cat', '--', path], {});
      if (r.code !== 0) throw this.ioError('read', path, r.stderr.toString().trim() || `cat exited with ${r.code}`);
      return r.stdout;
    }
    const sftp = await this.sftp();
    return new Promise((resolve, reject) => {
      sftp.readFile(path, (err, data) => {
        if (err) reject(this.ioError('read', path, (err as { code?: number }).code === SFTP_NO_SUCH_FILE ? 'no such file' : err));
        else resolve(data);
      });
    });
  }

  async stat(path: string): Promise<FileStat | null> {
    if (this.filesViaSudo) {
      const r = await this.execRaw(['stat', '-c', '%f %s %u %g %Y', '--', path], {});
      if (r.code !== 0) {
        if (/No such file|Not a directory/i.test(r.stderr.toString())) return null;
        throw this.ioError('stat', path, r.stderr.toString().trim());
      }
      const [modeHex, size, uid, gid, mtime] = r.stdout.toString().trim().split(' ');
      return statFromMode(parseInt(modeHex!, 16), Number(size), Number(uid), Number(gid), Number(mtime) * 1000);
    }
    const sftp = await this.sftp();
    return new Promise((resolve, reject) => {
      sftp.lstat(path, (err, st) => {
        if (err) {
          if ((err as { code?: number }).code === SFTP_NO_SUCH_FILE) resolve(null);
          else reject(this.ioError('stat', path, err));
        } else resolve(statFromMode(st.mode, st.size, st.uid, st.gid, st.mtime * 1000));
      });
    });
  }

  async writeAtomic(path: string, data: Buffer | string, options: { mode?: number } = {}): Promise<void> {
    const buf = Buffer.from(data);
    // one temp name per target: a runner killed mid-write leaves at most one, which the next write
    // of that path (a resumed run) removes and replaces (O_EXCL after the unlink: never written through a link)
    const fixed = join(dirname(path), `.${basename(path)}.runbook-tmp`);
    const tmp = this.writing.has(fixed) ? `${fixed}-${randomBytes(6).toString('hex')}` : fixed;
    this.writing.add(tmp);
    try {
      await this.writeVia(tmp, path, buf, options);
    } finally {
      this.writing.delete(tmp);
    }
  }

  private async writeVia(tmp: string, path: string, buf: Buffer, options: { mode?: number }): Promise<void> {
    if (this.filesViaSudo) {
      // keep the old file's mode and owner unless a mode is given; rename over the target
      const script =
        'set -e; umask 077; rm -f -- "$1"; set -C; cat > "$1"; set +C; m=$3; ' +
        'if [ -e "$2" ]; then chown --reference="$2" -- "$1" 2>/dev/null || true; [ -n "$m" ] || m=$(stat -c %a -- "$2"); fi; ' +
        '[ -n "$m" ] || m=644; chmod "$m" -- "$1"; mv -f -- "$1" "$2"';
      const mode = options.mode === undefined ? '' : options.mode.toString(8);
      const r = await this.execRaw(['sh', '-c', script, 'sh', tmp, path, mode], { stdin: buf });
      if (r.code !== 0) {
        await this.execRaw(['rm', '-f', '--', tmp], {}).catch(() => undefined);
        throw this.ioError('write', path, r.stderr.toString().trim() || `exit ${r.code}`);
      }
      return;
    }
    const sftp = await this.sftp();
    const call = <T>(f: (cb: (err: Error | undefined | null, v?: T) => void) => void): Promise<T> =>
      new Promise((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v as T))));
    // only "absent" is null: a stat that fails otherwise stops the write (its mode would be guessed)
    const old: FileStat | null = await this.stat(path);
    const mode = options.mode ?? (old && old.type === 'file' ? old.mode : 0o644);
    let handle: Buffer | undefined;
    await call((cb) => sftp.unlink(tmp, cb)).catch(() => undefined); // a killed run's leftover
    try {
      handle = await call<Buffer>((cb) => sftp.open(tmp, 'wx', { mode }, cb));
      if (buf.length) await call((cb) => sftp.write(handle!, buf, 0, buf.length, 0, cb));
      await call((cb) => sftp.fchmod(handle!, mode, cb)); // the remote umask must not narrow the mode
      if (old && old.type === 'file') await call((cb) => sftp.fchown(handle!, old!.uid, old!.gid, cb)).catch(() => undefined);
      try {
        await call((cb) => sftp.ext_openssh_fsync(handle!, cb));
      } catch {
        /* fsync@openssh.com not offered */
      }
      const h = handle;
      handle = undefined;
      await call((cb) => sftp.close(h, cb));
      try {
        await call((cb) => sftp.ext_openssh_rename(tmp, path, cb));
      } catch (e) {
        if (!/does not support/.test(messageOf(e))) throw e;
        // no posix-rename: plain SFTP rename refuses to replace, so remove first (not atomic)
        await call((cb) => sftp.unlink(path, cb)).catch(() => undefined);
        await call((cb) => sftp.rename(tmp, path, cb));
      }
    } catch (e) {
      if (handle) await call((cb) => sftp.close(handle!, cb)).catch(() => undefined);
      await call((cb) => sftp.unlink(tmp, cb)).catch(() => undefined);
      throw this.ioError('write', path, e);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // a transport marked broken (a session lost mid-command) may still hold an open socket
    if (this.connClosed) return;
    if (this.broken) {
      this.conn.destroy();
      return;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      this.conn.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      this.conn.end();
    });
  }
}

interface Running {
  ch: ClientChannel;
  pgid?: string;
  become: boolean;
  /** killed by cancel(): reported like a timeout, not as a lost connection */
  cancelled: boolean;
  closed: Promise<void>;
}

/** SFTP status codes (draft-ietf-secsh-filexfer-02) and tools' messages → errno names; only ENOENT/ENOTDIR mean absent. */
export function errnoOf(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'number') return ({ 2: 'ENOENT', 3: 'EACCES', 4: 'EIO', 5: 'EBADMSG', 6: 'ENOTCONN', 7: 'ECONNRESET', 8: 'ENOTSUP' } as Record<number, string>)[code] ?? 'EIO';
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  const text = typeof e === 'string' ? e : messageOf(e);
  if (/no such file/i.test(text)) return 'ENOENT';
  if (/not a directory/i.test(text)) return 'ENOTDIR';
  if (/permission denied/i.test(text)) return 'EACCES';
  if (/is a directory/i.test(text)) return 'EISDIR';
  if (/too many levels of symbolic links/i.test(text)) return 'ELOOP';
  if (/no space left/i.test(text)) return 'ENOSPC';
  return 'EIO';
}

/**
 * Send the `signal` channel request for KILL. ssh2's `Channel.signal()` silently does nothing once
 * we have sent EOF on stdin (it checks `writable`), which is always the case here, so the request
 * goes through the protocol object directly while the channel is open.
 */
function sendKill(ch: ClientChannel): void {
  const c = ch as unknown as { outgoing?: { id?: number; state?: string }; _client?: { _protocol?: { signal(id: number, name: string): void } } };
  try {
    if (c.outgoing && c.outgoing.state !== 'closed' && typeof c.outgoing.id === 'number' && c._client?._protocol) c._client._protocol.signal(c.outgoing.id, 'KILL');
    else ch.signal('KILL');
  } catch {
    /* the server may not support signals; closing the channel still ends our wait */
  }
}

function statFromMode(mode: number, size: number, uid: number, gid: number, mtimeMs: number): FileStat {
  const fmt = mode & 0o170000;
  const type: FileStat['type'] = fmt === 0o100000 ? 'file' : fmt === 0o040000 ? 'directory' : fmt === 0o120000 ? 'symlink' : 'other';
  return { type, size, mode: mode & 0o7777, uid, gid, mtimeMs };
}

/**
 * Connection options for an inventory host: inventory values first, then ~/.ssh/config
 * (`sshConfigText`, default none) for what the inventory leaves open, as Ansible's ssh does.
 */
export function sshOptionsForHost(
  entry: import('../inventory/types.js').HostEntry,
  opts: { acceptNew?: boolean; sshConfigText?: string; connectTimeoutMs?: number } = {},
): Omit<SshConnectOptions, 'proxyJump'> & { proxyJumpSpec?: string } {
  const cfg = opts.sshConfigText !== undefined ? resolveSshConfig(opts.sshConfigText, entry.address) : { identityFiles: [] as string[] };
  const str = (k: string) => (typeof entry.vars[k] === 'string' ? (entry.vars[k] as string) : undefined);
  const becomePassword = str('ansible_become_password') ?? str('ansible_become_pass');
  const keys = entry.privateKeyFile ? [entry.privateKeyFile] : cfg.identityFiles.filter((f) => existsSync(f));
  const known = entry.knownHostsFile ? [entry.knownHostsFile] : cfg.userKnownHostsFiles;
  const out: Omit<SshConnectOptions, 'proxyJump'> & { proxyJumpSpec?: string } = {
    name: entry.name,
    host: cfg.hostName ?? entry.address,
    port: entry.port !== 22 || cfg.port === undefined ? entry.port : cfg.port,
    become: entry.become,
    hostKeyPolicy: opts.acceptNew ? 'accept-new' : (cfg.hostKeyPolicy ?? 'strict'),
  };
  const user = entry.user ?? cfg.user;
  if (user) out.user = user;
  if (keys.length) out.privateKeyPaths = keys;
  if (known) out.knownHostsPaths = known;
  if (becomePassword !== undefined) out.becomePassword = becomePassword;
  const timeout = opts.connectTimeoutMs ?? cfg.connectTimeoutMs;
  if (timeout !== undefined) out.connectTimeoutMs = timeout;
  if (cfg.proxyJump) out.proxyJumpSpec = cfg.proxyJump;
  return out;
}
