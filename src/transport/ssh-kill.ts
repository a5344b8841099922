/** Killing a command's channel: the SSH `signal` request, sent even after our stdin's EOF. */
import type { ClientChannel } from 'ssh2';

/**
 * Send the `signal` channel request for KILL. ssh2's `Channel.signal()` silently does nothing once
 * we have sent EOF on stdin (it checks `writable`), which is always the case here, so the request
 * goes through the protocol object directly while the channel is open.
 */
export function sendKill(ch: ClientChannel): void {
  const c = ch as unknown as { outgoing?: { id?: number; state?: string }; _client?: { _protocol?: { signal(id: number, name: string): void } } };
  try {
    if (c.outgoing && c.outgoing.state !== 'closed' && typeof c.outgoing.id === 'number' && c._client?._protocol) c._client._protocol.signal(c.outgoing.id, 'KILL');
    else ch.signal('KILL');
  } catch {
    /* the server may not support signals; closing the channel still ends our wait */
  }
}
