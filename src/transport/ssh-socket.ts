/** The byte stream an SSH connection runs over: TCP, a channel through a jump host, or a ProxyCommand. */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { messageOf, userError } from '../errors.js';
import { connectError } from './ssh-auth.js';
import { startProxyCommand, type ProxyProcess } from './proxy-command.js';

/** What forwards a TCP connection to the target: the last hop of a ProxyJump chain. */
export interface Forwarder {
  readonly host: string;
  forwardOut(host: string, port: number): Promise<Duplex>;
}

export async function openSocket(
  to: { host: string; port: number; proxyJump?: Forwarder | undefined; proxyCommand?: string | undefined },
  target: string,
  where: { host: string },
  timeoutMs: number,
): Promise<{ sock: Duplex; proxy?: ProxyProcess }> {
  if (to.proxyCommand) {
    const proxy = startProxyCommand(to.proxyCommand);
    return { sock: proxy.sock, proxy };
  }
  if (to.proxyJump) {
    try {
      return { sock: await to.proxyJump.forwardOut(to.host, to.port) };
    } catch (e) {
      throw userError('connect', `cannot reach ${target} through ${to.proxyJump.host}: ${messageOf(e)}`, where);
    }
  }
  const sock = await new Promise<Socket>((resolve, reject) => {
    const s = new Socket();
    const timer = setTimeout(() => {
      s.destroy();
      reject(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.connect({ host: to.host, port: to.port }, () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      s.setNoDelay(true);
      resolve(s);
    });
  }).catch((e) => {
    throw connectError(e, target, where, timeoutMs);
  });
  return { sock };
}

/** An ssh2 error that means the byte stream under the handshake ended (not a refusal, a protocol error or a timeout). */
export function streamLost(e: unknown): boolean {
  const err = e as { level?: string; message?: string };
  return err?.level === 'client-socket' || /connection closed during the SSH handshake|Connection lost before handshake/i.test(err?.message ?? '');
}
