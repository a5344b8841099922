/**
 * ProxyCommand as ssh(1) runs it (a bastion's `ssh -W %h:%p`, `aws ssm start-session`, an IAP
 * tunnel): the command through the user's shell, with `exec` so no shell lingers, its stdin and
 * stdout carrying the SSH connection. %h %p %r %n %% are expanded first (the tokens ssh_config(5)
 * allows there). ssh(1) pastes the values in as they are; here a value with anything a shell would
 * read is refused instead, and not quoted, since quotes inside the command's own quotes would change
 * what it passes on.
 */
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';

/**
 * host names, addresses (IPv6 with a zone too), ports and user names: nothing a shell reads (no
 * brackets: they glob), and no leading `-`, which the proxy would take for an option (OpenSSH 9.6
 * refuses such names too)
 */
const PLAIN_VALUE = /^(?!-)[A-Za-z0-9._:@+,/%-]+$/;

export interface ProxyTokens {
  /** %h: the host name dialled (HostName, else the inventory address) */
  host: string;
  port: number;
  /** %r: the remote user */
  user: string;
  /** %n: the host as the configuration names it */
  alias: string;
}

/**
 * `command` with its %-tokens replaced by `values` (a letter each); throws (a message for the
 * operator) on a token it does not have or a value with anything a shell would read.
 */
export function expandCommandTokens(command: string, values: Record<string, string>, keyword: string): string {
  return command.replace(/%(.?)/g, (_m, c: string) => {
    if (c === '%') return '%';
    const v = values[c];
    if (v === undefined) throw new Error(`\`%${c}\` is not a ${keyword} token (ssh expands ${Object.keys(values).map((k) => `%${k}`).join(', ')} and %% there)`);
    if (!PLAIN_VALUE.test(v)) throw new Error(`the value of %${c}, ${JSON.stringify(v)}, has characters a shell would read`);
    return v;
  });
}

/** The command with its tokens expanded; throws (a message for the operator) on a token or value it cannot take. */
export function expandProxyCommand(command: string, t: ProxyTokens): string {
  return expandCommandTokens(command, { h: t.host, p: String(t.port), r: t.user, n: t.alias }, 'ProxyCommand');
}

/**
 * The program of a command, not its arguments, nor variables set before it (they may hold a password:
 * `SSHPASS=... sshpass -e ssh ...`, `sshpass -p ...`).
 */
export function programOf(command: string): string {
  const words = command.trim().split(/\s+/);
  let i = 0;
  while (i < words.length - 1 && (/^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!) || words[i] === 'exec' || words[i] === 'env')) i++;
  const program = (words[i] ?? '').split('/').pop()!;
  return i < words.length - 1 ? `${program} …` : program;
}

export interface ProxyProcess {
  /** the byte stream to hand ssh2 as its socket */
  sock: Duplex;
  /** why the command is gone (its exit and the end of its stderr), once it has exited */
  failure(): string | undefined;
  /** the end of what it wrote on stderr so far */
  said(): string;
  /** resolves when the command has ended and its output is read, or after `ms` */
  ended(ms: number): Promise<void>;
  /** ends the command (the connection is closed): SIGTERM, then SIGKILL if it is still there 2 s later */
  stop(): void;
}

/** what of its stderr goes into a message: the last lines, printable, at most this long */
const SAID_MAX = 300;

export function startProxyCommand(command: string): ProxyProcess {
  const shell = process.env.SHELL || '/bin/sh';
  // a process group of its own: stop() ends what the command started too (`sh -c "aws ssm ..."` forks)
  const child = spawn(shell, ['-c', `exec ${command}`], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  // no pipes when the spawn itself failed (out of file descriptors): say so, not a TypeError
  if (!child.stdin || !child.stdout || !child.stderr) throw new Error(`its ProxyCommand (\`${programOf(command)}\`) could not be started through ${shell}`);
  let stderr = '';
  let ended: string | undefined;
  let closed = false;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  child.once('error', (e) => (ended ??= `could not be started through ${shell}: ${e.message}`));
  child.once('exit', (code, signal) => (ended ??= signal ? `was ended by ${signal}` : `exited with code ${code}`));
  child.once('close', () => (closed = true));
  const sock = Duplex.from({ readable: child.stdout, writable: child.stdin });
  // a write after the command exited (EPIPE) is the connection's end, reported by failure()
  sock.on('error', () => undefined);
  // its stderr goes into a one-line message: terminal escapes and control characters out
  /* eslint-disable no-control-regex */
  const said = () =>
    stderr
      .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
      .split('\n')
      .map((l) => l.replace(/[\x00-\x1f\x7f]/g, '').trim())
      .filter(Boolean)
      .slice(-3)
      .join(' / ')
      .slice(-SAID_MAX);
  /* eslint-enable no-control-regex */
  let stopping = false;
  return {
    sock,
    said,
    failure: () => (ended === undefined ? undefined : `${ended}${said() ? `: ${said()}` : ''}`),
    ended: (ms) =>
      closed
        ? Promise.resolve()
        : new Promise((resolve) => {
            const t = setTimeout(resolve, ms);
            child.once('close', () => (clearTimeout(t), resolve()));
          }),
    stop: () => {
      if (stopping) return;
      stopping = true;
      sock.destroy();
      if (!signalGroup(child.pid, 'SIGTERM')) return;
      // a proxy that ignores SIGTERM must not keep runbook from exiting (its stderr pipe keeps
      // the event loop, and so this timer, alive until the group is gone)
      const t = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), 2000);
      t.unref();
      child.unref();
    },
  };
}

/** Signals the command's process group; false when nothing of it is left. */
function signalGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (!pid) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}
