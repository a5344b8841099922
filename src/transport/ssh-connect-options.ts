/** What SshTransport.connect takes: where and how to connect, authenticate and become. */
import type { AuthOptions, HostKeyPolicy } from './ssh-auth.js';
import type { KnownHostsChoice } from './known-hosts.js';
import type { Forwarder } from './ssh-socket.js';
import type { LoginShell } from './login-shell.js';

/** Where and how to connect; key, agent and password options as ssh-auth.ts takes them. */
export interface SshConnectOptions extends Omit<AuthOptions, 'user'>, Omit<KnownHostsChoice, 'host' | 'port'> {
  /** inventory name, used in messages; default host */
  name?: string;
  host: string;
  /** default 22 */
  port?: number;
  /** default: $USER, else root */
  user?: string;
  privateKeyPath?: string;
  /** strict (default): unknown key refuses; accept-new: record an unknown key. A changed key always refuses. */
  hostKeyPolicy?: HostKeyPolicy;
  /** HostKeyAlgorithms as in ssh_config (`a,b`, `+a`, `-a`, `^a`) */
  hostKeyAlgorithms?: string;
  /** TCP connect + SSH handshake; default 10 s */
  connectTimeoutMs?: number;
  /** SSH keepalive interval in ms (true = 15 s); off by default */
  keepalive?: boolean | number;
  /** unanswered keepalives before the connection counts as lost (ServerAliveCountMax; default 3) */
  keepaliveCountMax?: number;
  /** reach this host through another host's direct-tcpip channel (the last hop of a ProxyJump chain) */
  proxyJump?: Forwarder;
  /** reach this host through this command's stdin and stdout (ProxyCommand, its tokens expanded: ./proxy-command.ts) */
  proxyCommand?: string;
  /** called once when this connection closes (the jump pool releases its hops) */
  onClose?: () => void;
  /** run every operation through sudo as root */
  become?: boolean;
  /** ... as this user (ansible_become_user); implies nothing without `become` */
  becomeUser?: string;
  /** written on sudo's stdin when sudo asks for it (become.ts), never in argv or messages */
  becomePassword?: string;
  /** ansible_shell_type: the login shell's kind, csh or fish for one that is not POSIX (login-shell.ts) */
  loginShell?: LoginShell;
}
