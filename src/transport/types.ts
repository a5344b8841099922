import type { Arg } from './quote.js';
import type { BecomeSpec } from './become.js';

/** One result object for every command, local or remote (zx's lesson). */
export interface ExecResult {
  /** exit code; null when killed by a signal or timed out */
  code: number | null;
  signal?: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut?: boolean;
}

export interface ExecOptions {
  /** kill the command after this long; result has timedOut=true */
  timeoutMs?: number;
  /** bytes for stdin */
  stdin?: string | Buffer;
  /** extra environment, passed as `env K=V` argv so it is quoted like anything else */
  env?: Record<string, string>;
  /** working directory on the target */
  cwd?: string;
  /** true: through sudo as the become user (root unless one is set); false: as the login user; default: the transport's setting */
  become?: boolean;
}

export interface DirEntry {
  name: string;
  type: FileStat['type'];
}

export interface FileStat {
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  mode: number; // permission bits, e.g. 0o644
  uid: number;
  gid: number;
  mtimeMs: number;
}

/**
 * How the engine reaches a host. Implementations: local.ts (this machine), ssh.ts (ssh2).
 * Paths are absolute paths on the target.
 */
export interface Transport {
  readonly host: string;
  /** run argv; never throws for a non-zero exit, only for a broken transport */
  exec(argv: readonly Arg[], options?: ExecOptions): Promise<ExecResult>;
  /** whole file contents; throws UserError kind 'io' when missing */
  read(path: string): Promise<Buffer>;
  /** write to a temp name beside `path`, then rename over it */
  writeAtomic(path: string, data: Buffer | string, options?: { mode?: number }): Promise<void>;
  /** null when the path does not exist; does not follow a final symlink */
  stat(path: string): Promise<FileStat | null>;
  /**
   * true when stat and read start no process on the host (local fs, SFTP): probes may then read a
   * small file and hash it here rather than run `sha256sum` there (one fork fewer per probe, which
   * is what 500 hosts pay for). Absent means false.
   */
  readonly filesInProcess?: boolean;
  /**
   * A directory's entries, typed as lstat sees them (a symlink is `symlink`), or null when it does
   * not exist. Only where filesInProcess (an SFTP readdir, no process on the host); absent elsewhere.
   */
  list?(dir: string): Promise<DirEntry[] | null>;
  /**
   * The same host (the same connection) with every operation — commands, reads, stats, writes — run
   * as `spec.user` through sudo (false: as the login user). Closing a view closes the connection.
   */
  withBecome?(spec: BecomeSpec | false): Transport;
  /**
   * Stop the work in flight (a step timed out): kill every running command's process group,
   * close the file-transfer session and remove temp files of writes not finished. Resolves once
   * nothing started before it can still change the host. Later calls work as usual.
   */
  cancel?(): Promise<void>;
  close(): Promise<void>;
}
