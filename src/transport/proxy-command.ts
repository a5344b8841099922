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

/** host names, addresses (IPv6 too), ports and user names as ssh(1) would take them */
const PLAIN_VALUE = /^[A-Za-z0-9._:@[\]-]+$/;

export interface ProxyTokens {
  /** %h: the host name dialled (HostName, else the inventory address) */
  host: string;
  port: number;
  /** %r: the remote user */
  user: string;
  /** %n: the host as the configuration names it */
  alias: string;
}

/** The command with its tokens expanded; throws (a message for the operator) on a token or value it cannot take. */
export function expandProxyCommand(command: string, t: ProxyTokens): string {
  return command.replace(/%(.?)/g, (_m, c: string) => {
    if (c === '%') return '%';
    const v = c === 'h' ? t.host : c === 'p' ? String(t.port) : c === 'r' ? t.user : c === 'n' ? t.alias : undefined;
    if (v === undefined) throw new Error(`\`%${c}\` is not a ProxyCommand token (ssh expands %h, %p, %r, %n and %% there)`);
    if (!PLAIN_VALUE.test(v)) throw new Error(`the value of %${c}, ${JSON.stringify(v)}, has characters a shell would read`);
    return v;
  });
}

/** The program of a command, not its arguments (they may hold a password: `sshpass -p ...`). */
export function programOf(command: string): string {
  const words = command.trim().split(/\s+/);
  return words.length > 1 ? `${words[0]} …` : words[0]!;
}

export interface ProxyProcess {
  /** the byte stream to hand ssh2 as its socket */
  sock: Duplex;
  /** why the command is gone (its exit and the end of its stderr), once it is */
  failure(): string | undefined;
  /** resolves when the command has ended, or after `ms` */
  ended(ms: number): Promise<void>;
  /** ends the command (the connection is closed) */
  stop(): void;
}

export function startProxyCommand(command: string): ProxyProcess {
  const child = spawn(process.env.SHELL || '/bin/sh', ['-c', `exec ${command}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let ended: string | undefined;
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  child.once('error', (e) => (ended ??= `could not be started: ${e.message}`));
  child.once('exit', (code, signal) => (ended ??= signal ? `was ended by ${signal}` : `exited with code ${code}`));
  const sock = Duplex.from({ readable: child.stdout, writable: child.stdin });
  // a write after the command exited (EPIPE) is the connection's end, reported by failure()
  sock.on('error', () => undefined);
  return {
    sock,
    failure: () => {
      if (ended === undefined) return undefined;
      const last = stderr.trim().split('\n').slice(-3).join(' / ');
      return `${ended}${last ? `: ${last}` : ''}`;
    },
    ended: (ms) =>
      ended !== undefined
        ? Promise.resolve()
        : new Promise((resolve) => {
            const t = setTimeout(resolve, ms);
            child.once('close', () => (clearTimeout(t), resolve()));
          }),
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}
