/**
 * SshTransport: one ssh2 connection per host, reused for every command (one channel each),
 * host keys verified against known_hosts (known-hosts.ts), files through one lazily opened
 * SFTP session, or as commands through sudo (exec-files.ts) when become makes SFTP the wrong user.
 * `withBecome()` gives views on the same connection that run everything as another user.
 */
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { programOf, type ProxyProcess } from './proxy-command.js';
import { openSocket, streamLost } from './ssh-socket.js';
import ssh2, { type Client as ClientT, type ClientChannel, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { ioError, userError, messageOf, UserError } from '../errors.js';
import { knownHostsFor, knownKeyTypes } from './known-hosts.js';
import { cdPrefix, withEnv } from './local.js';
import { type Arg, shellJoin } from './quote.js';
import { authMethods, connectError, hostKeyAlgorithms, hostVerifier } from './ssh-auth.js';
import type { LocalSudoResult } from './local-sudo.js';
import { becomeUser, newSudoMarkers, SudoDialog, SudoGate, sudoArgv, watchSudo, type BecomeSpec, type SudoMarkers } from './become.js';
import { errnoOf, readViaExec, statFromMode, statViaExec, writeViaExec, type RawRun } from './exec-files.js';
import { SFTP_NO_SUCH_FILE, sftpReaddir } from './sftp-readdir.js';
import type { DirEntry, ExecOptions, ExecResult, FileStat, Transport } from './types.js';
import { movePhase } from '../engine/profile.js';
import { loginShellLine, MAX_REQUEST_BYTES, newPidMarker, noPosixShell, pidLine, type LoginShell } from './login-shell.js';
import type { SshConnectOptions } from './ssh-connect-options.js';
import { sendKill } from './ssh-kill.js';
import { cancelledBeforeStart, SESSIONS_FULL, SessionBudget, type Running } from './ssh-sessions.js';

const { Client } = ssh2; // CommonJS: no named exports at run time

export { EXEC_CHANNELS } from './ssh-sessions.js';

export type { HostKeyPolicy } from './ssh-auth.js';
export { errnoOf } from './exec-files.js';

export type { SshConnectOptions } from './ssh-connect-options.js';

/** a command's raw outcome: the same shape the local sudo runner returns */
type RawResult = LocalSudoResult;
/** a command through sudo: its markers, whom it runs as, and whom to tell when sudo let it start */
type SudoTurn = { m: SudoMarkers; user: string; confirmed?: () => void } | undefined;


/** What every view of one connection shares. */
interface Shared {
  conn: ClientT;
  sftpP: Promise<SFTPWrapper> | undefined;
  sftpS: SFTPWrapper | undefined;
  /** commands running now: their channel and (once reported) process group, for cancel() */
  running: Set<Running>;
  /** temp files of writes in flight, removed by cancel() */
  writing: Set<string>;
  /** SFTP transfers in flight: cancel() fails them (ssh2 never answers a request of a closed SFTP session) */
  transfers: Set<(e: Error) => void>;
  broken: string | undefined;
  /** the underlying connection emitted 'close' */
  connClosed: boolean;
  closed: boolean;
  gate: SudoGate;
  becomePassword: string | undefined;
  /** ansible_become_user: whom `become` without a user means (default root) */
  becomeUser: string | undefined;
  onClose: (() => void) | undefined;
  /** the ProxyCommand the connection runs over, stopped with it */
  proxy: ProxyProcess | undefined;
  loginShell: LoginShell;
  sessions: SessionBudget;
}

export class SshTransport implements Transport {
  readonly host: string;
  readonly address: string;
  readonly port: number;
  readonly user: string;
  /** whom this view runs as through sudo; undefined: the login user */
  private readonly become: BecomeSpec | undefined;

  private constructor(
    private readonly s: Shared,
    info: { name: string; host: string; port: number; user: string },
    become: BecomeSpec | undefined,
  ) {
    this.address = info.host;
    this.port = info.port;
    this.user = info.user;
    this.host = info.name;
    this.become = become;
  }

  /** `user@host:port` for messages */
  get target(): string {
    return `${this.user}@${this.address}:${this.port}`;
  }

  /** A view of this connection that runs commands and file operations as `spec.user` through sudo (false: as the login user). */
  withBecome(spec: BecomeSpec | false): SshTransport {
    return new SshTransport(this.s, { name: this.host, host: this.address, port: this.port, user: this.user }, spec === false ? undefined : spec);
  }

  static async connect(opts: SshConnectOptions): Promise<SshTransport> {
    const port = opts.port ?? 22;
    const user = opts.user ?? process.env.USER ?? 'root';
    const name = opts.name ?? opts.host;
    const where = { host: name };
    const target = name === opts.host ? `${user}@${opts.host}:${port}` : `${name} (${user}@${opts.host}:${port})`;
    const timeoutMs = opts.connectTimeoutMs ?? 10_000;
    const { files: knownFiles, shown: shownFiles, keyName, entries } = knownHostsFor({ ...opts, port });
    const keyPaths = opts.privateKeyPaths ?? (opts.privateKeyPath ? [opts.privateKeyPath] : undefined);
    const methods = await authMethods({ ...opts, user, ...(keyPaths ? { privateKeyPaths: keyPaths } : {}) }, where, target);
    const hv = hostVerifier({ entries, keyName, hostPort: opts.hostKeyAlias ? `${opts.host}:${port} (HostKeyAlias ${opts.hostKeyAlias})` : `${opts.host}:${port}`, knownFiles, shownFiles, policy: opts.hostKeyPolicy ?? 'strict', where });
    const serverHostKey = hostKeyAlgorithms(knownKeyTypes(entries, keyName), opts.hostKeyAlgorithms, where);
    // ---- the socket: TCP with TCP_NODELAY, a channel through the jump host, or a ProxyCommand ----
    const { sock, proxy } = await openSocket({ host: opts.host, port, proxyJump: opts.proxyJump, proxyCommand: opts.proxyCommand }, target, where, timeoutMs);

    // a proxy that has exited, in its own words: the reason the connection could not be made or was lost
    const proxyGone = () => {
      const f = proxy?.failure();
      return f ? `its ProxyCommand (\`${programOf(opts.proxyCommand!)}\`) ${f}` : undefined;
    };
    const conn = new Client();
    const keepaliveInterval = opts.keepalive === true ? 15_000 : typeof opts.keepalive === 'number' ? opts.keepalive : 0;
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        // the proxy's own end is the reason only when the stream was lost (not for a refused key, a
        // protocol error or a timeout): taken before the stream is cut, which ends any proxy
        const lost = proxy !== undefined && (proxy.failure() !== undefined || streamLost(e));
        sock.destroy();
        const report = () => {
          const gone = lost ? proxyGone() : undefined;
          const said = proxy?.said();
          proxy?.stop();
          if (gone) return reject(hv.refusal() ?? userError('connect', `cannot reach ${target}: ${gone}`, where));
          const refusal = hv.refusal();
          const err = refusal ?? connectError(e, target, where, timeoutMs);
          // what a proxy still running said (`ssh -W`: "Connection timed out") belongs with the error
          reject(said && !refusal ? new UserError({ ...err.diagnostic, message: `${err.diagnostic.message} (its ProxyCommand said: ${said})` }) : err);
        };
        if (lost) void proxy.ended(500).then(report);
        else report();
      };
      // --profile: authentication is from the key exchange's end to ready (src/engine/profile.ts)
      let kexDone = 0;
      conn.once('handshake', () => (kexDone = performance.now()));
      conn.once('ready', () => {
        settled = true;
        if (kexDone) movePhase('connect', 'auth', performance.now() - kexDone);
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
        ...(opts.keepaliveCountMax !== undefined ? { keepaliveCountMax: opts.keepaliveCountMax } : {}),
        hostVerifier: hv.verify,
        algorithms: { serverHostKey: serverHostKey as never },
      });
    });
    conn.removeAllListeners('error');
    conn.removeAllListeners('close');
    const shared: Shared = { conn, sftpP: undefined, sftpS: undefined, running: new Set(), writing: new Set(), transfers: new Set(), broken: undefined, connClosed: false, closed: false, gate: new SudoGate(), becomePassword: opts.becomePassword, becomeUser: opts.becomeUser, onClose: opts.onClose, proxy, loginShell: opts.loginShell ?? 'sh', sessions: new SessionBudget() };
    conn.on('error', (e) => {
      shared.broken ??= proxyGone() ?? messageOf(e);
    });
    conn.on('close', () => {
      proxy?.stop();
      shared.broken ??= proxyGone() ?? 'connection closed';
      shared.connClosed = true;
      shared.sftpP = undefined;
      const f = shared.onClose;
      shared.onClose = undefined;
      f?.();
    });
    const become = opts.become ? {} : undefined;
    return new SshTransport(shared, { name, host: opts.host, port, user }, become);
  }

  /** A direct-tcpip channel from this host to host:port (ProxyJump). */
  forwardOut(host: string, port: number): Promise<ClientChannel> {
    this.assertUsable();
    return new Promise((resolve, reject) => {
      this.s.conn.forwardOut('127.0.0.1', 0, host, port, (err, ch) => (err ? reject(err) : resolve(ch)));
    });
  }

  private assertUsable(): void {
    if (this.s.closed) throw userError('connect', `connection to ${this.host} is closed`, { host: this.host });
    if (this.s.broken) throw userError('connect', `connection to ${this.host} (${this.target}) was lost: ${this.s.broken}`, { host: this.host });
  }

  /** The user a command runs as through sudo, or undefined when it runs as the login user. */
  private sudoUser(become: boolean | undefined): string | undefined {
    const spec = become === false ? undefined : become === true ? (this.become ?? {}) : this.become;
    if (!spec) return undefined;
    const u = becomeUser({ user: spec.user ?? this.s.becomeUser });
    return u === this.user ? undefined : u; // already that user: no sudo
  }

  /**
   * The shell string sent for argv (what `exec` runs), with the sudo markers `m` when it runs
   * through sudo. The become password is never part of it.
   */
  commandLine(argv: readonly Arg[], options: ExecOptions = {}, m: SudoMarkers = newSudoMarkers()): string {
    const as = this.sudoUser(options.become);
    const full = withEnv(argv, options.env, this.host);
    // through sudo, the directory is entered as the become user (become.ts), not as the login user
    if (as !== undefined) return shellJoin(sudoArgv(full, as, m, options.cwd));
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
    const as = this.sudoUser(options.become);
    if (as === undefined) return this.channel(this.commandLine(argv, { ...options, become: false }), options, undefined);
    return this.s.gate.run(as, (confirmed) => {
      const m = newSudoMarkers();
      return this.channel(this.commandLine(argv, options, m), options, { m, user: as, confirmed });
    });
  }

  // One command line on a new channel when its turn comes (ssh-sessions.ts; a kill, `urgent`, in the kills'
  // turn); one still waiting when cancel() runs never starts, it ends as timed out. With `sudo`, stdin waits for READY.
  private channel(line: string, options: ExecOptions, sudo: SudoTurn, urgent = false, tries = 0): Promise<RawResult> {
    this.assertUsable();
    const b = this.s.sessions;
    const epoch = b.epoch;
    const turn = urgent ? b.kills : b.execs;
    return turn(() => (b.epoch !== epoch ? Promise.resolve(cancelledBeforeStart()) : this.openChannel(line, options, sudo, epoch))).catch((e: unknown) => {
      if (e !== SESSIONS_FULL) throw e;
      if (b.epoch !== epoch) return cancelledBeforeStart();
      if (!urgent) return this.channel(line, options, sudo);
      // a kill refused beside a full house tries again shortly, for a while (the commands it kills free sessions)
      if (tries >= 10) throw userError('connect', `${this.host}: sshd refused a session to kill a command (too many open)`, { host: this.host });
      return new Promise<void>((r) => setTimeout(r, 200)).then(() => this.channel(line, options, sudo, urgent, tries + 1));
    });
  }

  private openChannel(line: string, options: ExecOptions, sudo: SudoTurn, epoch: number): Promise<RawResult> {
    this.assertUsable();
    const timed = !!options.timeoutMs && options.timeoutMs > 0;
    // The shell first reports its PID on stderr: it leads the session's process group, which we
    // kill on timeout or cancel() (OpenSSH ignores `signal` requests on root sessions: no privsep child).
    const marker = newPidMarker();
    const request = loginShellLine(line, this.s.loginShell, marker);
    if (Buffer.byteLength(request) > MAX_REQUEST_BYTES) return Promise.reject(userError('usage', `a command for ${this.host} is ${Buffer.byteLength(request)} bytes long, over the ${MAX_REQUEST_BYTES} bytes Linux allows the one argument sshd passes it as`, { host: this.host }));
    const stdin: Buffer | undefined = options.stdin === undefined ? undefined : Buffer.from(options.stdin);
    const started = Date.now();
    return new Promise<RawResult>((resolve, reject) => {
      const b = this.s.sessions;
      const opened = (err: Error | undefined, ch?: ClientChannel): void => {
        b.opening--;
        if (err || !ch) {
          const open = this.s.running.size + b.opening + (this.s.sftpS ? 1 : 0);
          reject(b.refused((err as { reason?: unknown } | undefined)?.reason, open) ? SESSIONS_FULL : userError('connect', `cannot run a command on ${this.host} (${this.target}): ${messageOf(err)}`, { host: this.host }));
          return;
        }
        if (b.epoch !== epoch) {
          // answered after cancel(): it must not run
          ch.close();
          resolve(cancelledBeforeStart());
          return;
        }
        this.command(ch, { stdin, started, timed, marker, options, sudo }, resolve, reject);
      };
      b.opening++;
      try {
        this.s.conn.exec(request, opened);
      } catch (e) {
        opened(e instanceof Error ? e : new Error(String(e))); // ssh2 throws when the connection is gone
      }
    });
  }

  /** One command on its open channel, to its end: output, exit, timeout, the sudo dialog. */
  private command(ch: ClientChannel, c: { stdin: Buffer | undefined; started: number; timed: boolean; marker: string; options: ExecOptions; sudo: SudoTurn }, resolve: (r: RawResult) => void, reject: (e: unknown) => void): void {
    const { stdin, started, timed, marker, options, sudo } = c;
    const entry: Running = { ch, sudoUser: sudo?.user, cancelled: false, closed: new Promise<void>((r) => ch.once('close', () => r())) };
    this.s.running.add(entry);
    const out: Buffer[] = [];
    const errOut: Buffer[] = [];
    let code: number | null = null;
    let signal: string | null = null;
    let timedOut = false;
    let done = false;
    let failure: UserError | undefined;
    let timer: NodeJS.Timeout | undefined;
    let grace: NodeJS.Timeout | undefined;
    const sendStdin = () => (stdin ? ch.end(stdin) : ch.end());
    const dialog = sudo
      ? new SudoDialog(sudo.m, { user: sudo.user, loginUser: this.user, host: this.host }, this.s.becomePassword, (pw) => ch.write(pw))
      : undefined;
    // a stalled sudo reads its PAM question's answer from our stdin: closing the channel ends it
    const unwatch = dialog ? watchSudo(dialog, (e) => ((failure = e), ch.close())) : undefined;
    const finish = () => {
      if (done) return;
      done = true;
      unwatch?.();
      this.s.running.delete(entry);
      if (timer) clearTimeout(timer);
      if (grace) clearTimeout(grace);
      if (entry.cancelled) timedOut = true; // cancel(): killed like a timeout
      if (failure) return reject(failure);
      const ended = !timedOut && (code !== null || signal !== null);
      // no PID line: the login shell never ran the command (a csh or fish one), whatever it exited
      if (head && ended) return reject(noPosixShell({ host: this.host, user: this.user }, this.s.loginShell, head.toString('utf8'), code));
      if (dialog && !dialog.ready && ended) return reject(dialog.refusedAtExit(code));
      if (!timedOut && code === null && signal === null) {
        // the channel closed with no exit status: sshd (or its session) went away under us
        this.s.broken ??= 'the connection closed while a command was running';
        reject(userError('connect', `the connection to ${this.host} (${this.target}) was lost while a command was running: it may or may not have finished`, { host: this.host }));
        return;
      }
      resolve({ code: timedOut ? null : code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(errOut), durationMs: Date.now() - started, timedOut });
    };
    const toStderr = (b: Buffer) => {
      if (!dialog) return void errOut.push(b);
      const r = dialog.feed(b);
      if (r.pass) errOut.push(r.pass);
      if (r.event?.kind === 'ready') {
        sudo?.confirmed?.(); // sudo took the password (or needed none): the other commands may go
        sendStdin();
      }
      else if (r.event?.kind === 'fail') {
        failure = r.event.error;
        ch.close();
      }
    };
    let head: Buffer | undefined = Buffer.alloc(0); // stderr until the PID line
    ch.on('data', (b: Buffer) => out.push(b));
    ch.stderr.on('data', (b: Buffer) => {
      if (!head) return toStderr(b);
      head = Buffer.concat([head, b]);
      const found = pidLine(head, marker);
      if (!found) return;
      entry.pgid = found.pid;
      const rest = found.rest;
      head = undefined;
      if (rest.length) toStderr(rest);
    });
    ch.on('exit', (c: number | null, sig?: string) => {
      if (typeof c === 'number') code = c;
      else signal = sig ?? null;
    });
    ch.on('close', finish);
    ch.on('error', () => undefined);
    if (timed) {
      timer = setTimeout(() => {
        timedOut = true;
        void this.killRunning([entry]);
        grace = setTimeout(finish, 1000); // do not wait forever for the server's close
      }, options.timeoutMs);
    }
    if (!dialog) sendStdin(); // with sudo: only once sudo let the command start
  }

  /**
   * Kill running commands: the KILL signal request on each channel, then their process groups, one
   * kill for each user they run as (through sudo, with the same password dialog, for another user),
   * then close their channels.
   */
  private async killRunning(entries: Running[]): Promise<void> {
    for (const e of entries) sendKill(e.ch); // honoured by OpenSSH for non-root sessions (killpg of the session)
    if (!this.s.connClosed && !this.s.broken) {
      const groups = new Map<string | undefined, string[]>();
      for (const e of entries) {
        // never `kill -- -1` (every process the user may signal), whatever came as a PID
        if (e.pgid && /^\d+$/.test(e.pgid) && Number(e.pgid) > 1) groups.set(e.sudoUser, [...(groups.get(e.sudoUser) ?? []), `-${e.pgid}`]);
      }
      const kills = [...groups].map(([user, pgids]) => {
        const kill = ['kill', '-s', 'KILL', '--', ...pgids];
        const m = newSudoMarkers();
        return (user ? this.channel(shellJoin(sudoArgv(kill, user, m)), {}, { m, user }, true) : this.channel(shellJoin(kill), {}, undefined, true)).catch(() => undefined);
      });
      await Promise.race([Promise.all(kills), new Promise((r) => setTimeout(r, 3000))]);
    }
    for (const e of entries) e.ch.close();
  }

  /**
   * A step timed out: stop everything in flight before rollback starts. Running commands' process
   * groups are killed; the SFTP session is ended and its close awaited (sftp-server has then
   * exited: no request it had queued can still land); temp files of unfinished writes removed.
   */
  async cancel(): Promise<void> {
    const s = this.s;
    if (s.closed || s.broken) return;
    const tmps = [...s.writing]; // before the session ends: a failing write forgets its temp file
    s.writing.clear();
    s.sessions.epoch++; // the commands still waiting for their turn never start
    const entries = [...s.running];
    for (const e of entries) e.cancelled = true;
    await this.killRunning(entries);
    await Promise.all(entries.map((e) => Promise.race([e.closed, new Promise((r) => setTimeout(r, 2000))])));
    const sftp = s.sftpS;
    if (sftp) {
      s.sftpP = undefined;
      s.sftpS = undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 3000);
        sftp.once('close', () => (clearTimeout(t), resolve()));
        sftp.end();
      });
    }
    // the transfers on the closed session would wait forever for an answer: they fail now
    const stopped = userError('timeout', `a file transfer on ${this.host} was cancelled (the step timed out)`, { host: this.host });
    for (const fail of [...s.transfers]) fail(stopped);
    s.transfers.clear();
    if (tmps.length && !s.broken) await this.execRaw(['rm', '-f', '--', ...tmps], {}).catch(() => undefined);
  }

  /** A transfer's SFTP calls race this: it rejects when cancel() ends the session under them. */
  private transfer(): { stopped: Promise<never>; done: () => void } {
    let fail!: (e: Error) => void;
    const stopped = new Promise<never>((_, reject) => (fail = reject));
    stopped.catch(() => undefined);
    this.s.transfers.add(fail);
    return { stopped, done: () => void this.s.transfers.delete(fail) };
  }

  // ---- files ----

  /** SFTP acts as the login user; with become to another user, files go through sudo instead. */
  private get filesViaSudo(): boolean {
    return this.sudoUser(undefined) !== undefined;
  }

  get filesInProcess(): boolean {
    return !this.filesViaSudo;
  }

  private readonly run: RawRun = async (argv, stdin) => this.execRaw(argv, stdin ? { stdin } : {});

  private sftp(): Promise<SFTPWrapper> {
    this.assertUsable();
    const s = this.s;
    if (!s.sftpP) {
      s.sftpP = new Promise<SFTPWrapper>((resolve, reject) => {
        s.conn.sftp((err, w) => {
          if (err) {
            s.sftpP = undefined;
            reject(userError('connect', `cannot open SFTP on ${this.host} (${this.target}): ${messageOf(err)}`, { host: this.host }));
          } else {
            // a session ended by cancel() must not clear the one opened after it
            w.on('close', () => void (s.sftpS === w && ((s.sftpP = undefined), (s.sftpS = undefined))));
            s.sftpS = w;
            resolve(w);
          }
        });
      });
    }
    return s.sftpP;
  }

  private ioError(op: string, path: string, e: unknown): UserError {
    if (e instanceof UserError) return e;
    return ioError(op, path, this.host, messageOf(e), errnoOf(e));
  }

  async read(path: string): Promise<Buffer> {
    if (this.filesViaSudo) return readViaExec(this.run, this.host, path);
    const sftp = await this.sftp();
    const t = this.transfer();
    const read = new Promise<Buffer>((resolve, reject) => {
      sftp.readFile(path, (err, data) => {
        if (err) reject(this.ioError('read', path, (err as { code?: number }).code === SFTP_NO_SUCH_FILE ? 'no such file' : err));
        else resolve(data);
      });
    });
    return Promise.race([read, t.stopped]).finally(t.done);
  }

  async list(dir: string): Promise<DirEntry[] | null> {
    if (this.filesViaSudo) throw new Error('internal: list() through sudo (filesInProcess is false)');
    // the session first, as read() does: a transfer registered before a failed sftp() would never be done
    const sftp = await this.sftp();
    const t = this.transfer();
    const listed = sftpReaddir(sftp, dir).catch((e: unknown) => Promise.reject(this.ioError('list', dir, e)));
    return Promise.race([listed, t.stopped]).finally(t.done);
  }

  async stat(path: string): Promise<FileStat | null> {
    if (this.filesViaSudo) return statViaExec(this.run, this.host, path);
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
    const tmp = this.s.writing.has(fixed) ? `${fixed}-${randomBytes(6).toString('hex')}` : fixed;
    this.s.writing.add(tmp);
    try {
      await this.writeVia(tmp, path, buf, options);
    } finally {
      this.s.writing.delete(tmp);
    }
  }

  private async writeVia(tmp: string, path: string, buf: Buffer, options: { mode?: number }): Promise<void> {
    if (this.filesViaSudo) return writeViaExec(this.run, this.host, tmp, path, buf, options.mode);
    const sftp = await this.sftp();
    const t = this.transfer();
    try {
      await this.writeOver(sftp, t.stopped, tmp, path, buf, options);
    } finally {
      t.done();
    }
  }

  private async writeOver(sftp: SFTPWrapper, stopped: Promise<never>, tmp: string, path: string, buf: Buffer, options: { mode?: number }): Promise<void> {
    const call = <T>(f: (cb: (err: Error | undefined | null, v?: T) => void) => void): Promise<T> =>
      Promise.race([new Promise<T>((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v as T)))), stopped]);
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

  /** Closes the connection (every view of it). */
  async close(): Promise<void> {
    const s = this.s;
    if (s.closed) return;
    s.closed = true;
    // a transport marked broken (a session lost mid-command) may still hold an open socket
    if (s.connClosed) return;
    if (s.broken) {
      s.conn.destroy();
      s.proxy?.stop();
      return;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        s.conn.destroy();
        // ssh2 destroys only a socket still writable; a proxy that ignores the end of its input is stopped here
        s.proxy?.stop();
        resolve();
      }, 2000);
      s.conn.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      s.conn.end();
    });
  }
}

