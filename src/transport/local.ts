/**
 * LocalTransport: this machine, through zx. The command string is built by `shellJoin`
 * (the one quoting function) and handed to zx as a raw template, so zx quotes nothing itself.
 */
import { promises as fsp } from 'node:fs';
import { runLocalSudo } from './local-sudo.js';
import { becomeUser, cdOperand, SudoGate, type BecomeSpec } from './become.js';
import { readViaExec, statViaExec, writeViaExec, type RawRun } from './exec-files.js';
import { basename, dirname, join } from 'node:path';
import { ioError, userError, messageOf } from '../errors.js';
import { type Arg, quoteArg, shellJoin } from './quote.js';
import type { DirEntry, ExecOptions, ExecResult, FileStat, Transport } from './types.js';
import { passwdLogin } from './local-login.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The argv that runs `argv` with extra environment `env` (as `env K=V ... --`),
 * so variables are quoted like any other argument. Shared by local and SSH.
 */
export function withEnv(argv: readonly Arg[], env: Record<string, string> | undefined, host?: string): Arg[] {
  const entries = Object.entries(env ?? {});
  if (entries.length === 0) return [...argv];
  for (const [k] of entries) {
    if (!ENV_NAME.test(k)) throw userError('usage', `invalid environment variable name ${JSON.stringify(k)}`, host ? { host } : {});
  }
  return ['env', ...entries.map(([k, v]) => `${k}=${v}`), ...argv];
}

/** `cd DIR && ` prefix (built with the quoting function), or '' when no cwd. */
export function cdPrefix(cwd: string | undefined): string {
  if (cwd === undefined || cwd === '') return '';
  return `${shellJoin(['cd', cdOperand(cwd)])} && `;
}

// zx costs ~40 ms to load; runs that only use SSH never need it.
let zx: Promise<typeof import('zx')> | undefined;
const loadZx = () => (zx ??= import('zx'));

/** Raw template for zx: the string is used as is, zx's own quoting never runs. */
function raw(cmd: string): TemplateStringsArray {
  return Object.assign([cmd], { raw: [cmd] }) as unknown as TemplateStringsArray;
}

export function fileStatOf(st: import('node:fs').Stats): FileStat {
  return {
    type: st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'other',
    size: st.size,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtimeMs: st.mtimeMs,
  };
}

export interface LocalTransportOptions {
  /** name shown in messages; default 'localhost' */
  host?: string;
  /** extra environment for every command (e.g. PATH for a sandbox) */
  env?: Record<string, string>;
  /** written to sudo when it asks (become to another user than the one running runbook) */
  becomePassword?: string;
  /** whom `become` without a user means (ansible_become_user; default root) */
  becomeUser?: string;
}

/**
 * The user running this process (`root` for uid 0 even without a passwd entry; without one, $USER,
 * else nobody: become then always goes through sudo rather than assume it is already that user).
 */
function localUser(): string {
  if (process.getuid?.() === 0) return 'root';
  return passwdLogin() ?? process.env.USER ?? '';
}

export class LocalTransport implements Transport {
  readonly host: string;
  private readonly baseEnv: NodeJS.ProcessEnv;
  private readonly opts: LocalTransportOptions;
  /** whom to become through sudo (undefined: this process's user) */
  private readonly become: BecomeSpec | undefined;
  private readonly gate: SudoGate;

  constructor(opts: LocalTransportOptions = {}, become?: BecomeSpec, gate?: SudoGate) {
    this.host = opts.host ?? 'localhost';
    this.baseEnv = { ...process.env, ...(opts.env ?? {}) };
    this.opts = opts;
    this.become = become;
    this.gate = gate ?? new SudoGate();
  }

  /** This machine as `spec.user` through sudo (no sudo when that is already who runs runbook). */
  withBecome(spec: BecomeSpec | false): LocalTransport {
    return new LocalTransport(this.opts, spec === false ? undefined : spec, this.gate);
  }

  private sudoUser(become: boolean | undefined): string | undefined {
    const spec = become === false ? undefined : become === true ? (this.become ?? {}) : this.become;
    if (!spec) return undefined;
    const u = becomeUser({ user: spec.user ?? this.opts.becomeUser });
    return u === localUser() ? undefined : u;
  }

  get filesInProcess(): boolean {
    return this.sudoUser(undefined) === undefined;
  }

  private readonly run: RawRun = (argv, stdin) => {
    const as = this.sudoUser(undefined)!;
    return this.gate.run(as, (onReady) => runLocalSudo(argv, { user: as, host: this.host, env: this.baseEnv, onReady, ...(stdin ? { stdin } : {}), ...(this.opts.becomePassword !== undefined ? { password: this.opts.becomePassword } : {}) }));
  };

  async exec(argv: readonly Arg[], options: ExecOptions = {}): Promise<ExecResult> {
    if (argv.length === 0) throw userError('usage', 'empty command', { host: this.host });
    const as = this.sudoUser(options.become);
    if (as !== undefined) {
      const r = await this.gate.run(as, (onReady) =>
        runLocalSudo(withEnv(argv, options.env, this.host), {
          user: as,
          host: this.host,
          onReady,
          env: this.baseEnv,
          ...(options.stdin !== undefined ? { stdin: Buffer.from(options.stdin) } : {}),
          ...(options.cwd ? { cwd: options.cwd } : {}),
          ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
          ...(this.opts.becomePassword !== undefined ? { password: this.opts.becomePassword } : {}),
        }),
      );
      return { code: r.code, signal: r.signal, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), durationMs: r.durationMs, ...(r.timedOut ? { timedOut: true } : {}) };
    }
    const cmd = shellJoin(withEnv(argv, options.env, this.host));
    const started = Date.now();
    const { $ } = await loadZx();
    const shell = $({
      nothrow: true,
      quiet: true,
      verbose: false,
      shell: '/bin/sh',
      prefix: '',
      postfix: '',
      quote: quoteArg,
      env: this.baseEnv,
      ...(options.cwd ? { cwd: options.cwd } : {}),
      ...(options.stdin !== undefined ? { input: options.stdin } : { stdio: ['ignore', 'pipe', 'pipe'] as const }),
    } as Parameters<typeof $>[0]);
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    let out;
    try {
      const proc = shell(raw(cmd));
      if (options.timeoutMs && options.timeoutMs > 0) {
        timer = setTimeout(() => {
          timedOut = true;
          void proc.kill('SIGKILL').catch(() => undefined);
        }, options.timeoutMs);
      }
      out = await proc;
    } catch (e) {
      throw userError('io', `cannot run a command on ${this.host}: ${messageOf(e)}`, { host: this.host });
    } finally {
      if (timer) clearTimeout(timer);
    }
    return {
      code: timedOut ? null : out.exitCode,
      signal: out.signal ?? null,
      stdout: out.stdout,
      stderr: out.stderr,
      durationMs: Date.now() - started,
      ...(timedOut ? { timedOut: true } : {}),
    };
  }

  async read(path: string): Promise<Buffer> {
    if (!this.filesInProcess) return readViaExec(this.run, this.host, path);
    try {
      return await fsp.readFile(path);
    } catch (e) {
      throw ioError('read', path, this.host, messageOf(e), (e as NodeJS.ErrnoException).code ?? 'EIO');
    }
  }

  async writeAtomic(path: string, data: Buffer | string, options: { mode?: number } = {}): Promise<void> {
    // one temp name per target (see ssh.ts): a killed run's leftover is replaced by the next write
    const tmp = join(dirname(path), `.${basename(path)}.runbook-tmp`);
    if (!this.filesInProcess) return writeViaExec(this.run, this.host, tmp, path, Buffer.from(data), options.mode);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    try {
      let mode = options.mode;
      if (mode === undefined) {
        const old = await fsp.stat(path).catch(() => null);
        if (old) mode = old.mode & 0o7777;
      }
      const fh = await fsp.open(tmp, 'wx', mode ?? 0o644);
      try {
        await fh.writeFile(data);
        if (mode !== undefined) await fh.chmod(mode); // the umask must not narrow an explicit mode
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, path);
    } catch (e) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw ioError('write', path, this.host, messageOf(e), (e as NodeJS.ErrnoException).code ?? 'EIO');
    }
  }

  async list(dir: string): Promise<DirEntry[] | null> {
    if (!this.filesInProcess) throw new Error('internal: list() through sudo (filesInProcess is false)');
    try {
      return (await fsp.readdir(dir, { withFileTypes: true })).map((d) => ({ name: d.name, type: d.isFile() ? 'file' : d.isDirectory() ? 'directory' : d.isSymbolicLink() ? 'symlink' : 'other' }));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw ioError('list', dir, this.host, messageOf(e), (e as NodeJS.ErrnoException).code ?? 'EIO');
    }
  }

  async stat(path: string): Promise<FileStat | null> {
    if (!this.filesInProcess) return statViaExec(this.run, this.host, path);
    try {
      return fileStatOf(await fsp.lstat(path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw ioError('stat', path, this.host, messageOf(e), (e as NodeJS.ErrnoException).code ?? 'EIO');
    }
  }

  async close(): Promise<void> {}
}
