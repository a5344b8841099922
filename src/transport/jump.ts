/**
 * ProxyJump: hosts behind bastions. Each hop of a chain is one SSH connection, opened through the
 * hop before it (a direct-tcpip channel), its host key checked against the known_hosts files and
 * with the StrictHostKeyChecking policy of its own ssh_config entry, else the target's. A pool
 * shares every hop among all the hosts behind it: 200 nodes behind one bastion make one
 * connection to the bastion, closed when the last of them closes.
 */
import { messageOf, userError } from '../errors.js';
import { SshTransport, type SshConnectOptions } from './ssh.js';
import type { JumpHop } from './ssh-options.js';

interface PoolEntry {
  conn: Promise<SshTransport>;
  refs: number;
  /** the hop this one goes through, released with it */
  parent: string | undefined;
}

/** What a hop shares with its target: how host keys are checked and how to authenticate. */
export type HopSettings = Pick<SshConnectOptions, 'knownHostsPaths' | 'globalKnownHostsPaths' | 'hostKeyPolicy' | 'connectTimeoutMs' | 'agent' | 'identitiesOnly' | 'passphrase' | 'askPassphrase' | 'keepalive' | 'keepaliveCountMax' | 'hostKeyAlgorithms'>;

export class JumpPool {
  private readonly entries = new Map<string, PoolEntry>();

  /** Opens (or shares) every hop of `chain` and returns the last one, with a release for the caller. */
  async through(chain: JumpHop[], settings: HopSettings, forHost: string): Promise<{ last: SshTransport; release: () => void }> {
    let parent: string | undefined;
    const taken: string[] = [];
    try {
      for (const hop of chain) {
        // the hop's own known_hosts and policy (its ssh_config entry), else the target's
        const knownHostsPaths = hop.knownHostsPaths ?? settings.knownHostsPaths;
        const globalKnownHostsPaths = hop.globalKnownHostsPaths ?? settings.globalKnownHostsPaths;
        const hostKeyPolicy = hop.hostKeyPolicy ?? settings.hostKeyPolicy;
        // the first hop may be reached through its own ProxyCommand (ssh-options.ts); a later one never is
        const proxyCommand = parent ? undefined : hop.proxyCommand;
        // shared only by hosts that would log in there alike: a hop without keys of its own is offered the target's
        const auth = `${hop.privateKeyPaths.join(':')}|${String(settings.agent ?? '')}|${settings.identitiesOnly ? 'only' : ''}`;
        const key = `${parent ?? ''}>${hop.user}@${hop.host}:${hop.port}|${(knownHostsPaths ?? []).join(':')}|${(globalKnownHostsPaths ?? []).join(':')}|${hop.hostKeyAlias ?? ''}|${hostKeyPolicy ?? 'strict'}|${proxyCommand ?? ''}|${auth}`;
        let e = this.entries.get(key);
        if (!e) {
          const via = parent ? await this.entries.get(parent)!.conn : undefined;
          const conn = SshTransport.connect({
            ...settings,
            ...(knownHostsPaths ? { knownHostsPaths } : {}),
            ...(globalKnownHostsPaths ? { globalKnownHostsPaths } : {}),
            ...(hop.hostKeyAlias ? { hostKeyAlias: hop.hostKeyAlias } : {}),
            ...(hostKeyPolicy ? { hostKeyPolicy } : {}),
            name: hop.alias === hop.host ? hop.host : hop.alias,
            host: hop.host,
            port: hop.port,
            user: hop.user,
            ...(hop.privateKeyPaths.length ? { privateKeyPaths: hop.privateKeyPaths } : {}),
            ...(via ? { proxyJump: via } : {}),
            ...(proxyCommand ? { proxyCommand } : {}),
            onClose: () => {
              if (this.entries.get(key)?.conn === conn) this.entries.delete(key);
            },
          });
          e = { conn, refs: 0, parent };
          this.entries.set(key, e);
          conn.catch(() => {
            if (this.entries.get(key) === e) this.entries.delete(key);
          });
        }
        e.refs++;
        taken.push(key);
        try {
          await e.conn;
        } catch (err) {
          // in the message, not a hint: run events and the connect table carry messages only
          const refusedLogin = hop.userByDefault && /^authentication failed/.test(messageOf(err));
          const why = refusedLogin ? `; ${hop.alias} was logged into as ${hop.user}, your login name, as ssh does when neither the ProxyJump nor ${hop.alias}'s ssh config names a user: if it wants another, write the jump as USER@${hop.alias} or give ${hop.alias} a User in ~/.ssh/config` : '';
          throw userError((err as { kind?: string }).kind === 'host-key' ? 'host-key' : 'connect', `cannot reach ${forHost} through the jump host ${hop.alias}: ${messageOf(err)}${why}`, { host: forHost });
        }
        parent = key;
      }
    } catch (e) {
      this.release(taken);
      throw e;
    }
    const last = await this.entries.get(parent!)!.conn;
    let released = false;
    return {
      last,
      release: () => {
        if (released) return;
        released = true;
        this.release(taken);
      },
    };
  }

  private release(keys: string[]): void {
    for (const key of [...keys].reverse()) {
      const e = this.entries.get(key);
      if (!e) continue;
      if (--e.refs > 0) continue;
      this.entries.delete(key);
      void e.conn.then((c) => c.close()).catch(() => undefined);
    }
  }

  /** hops open now (tests: one connection per hop) */
  get size(): number {
    return this.entries.size;
  }
}
