/**
 * The sessions one SSH connection may have open at once. OpenSSH's MaxSessions (10 unless
 * configured; hardened hosts set less) counts every session: the exec channels, the SFTP session
 * and a kill; sshd refuses one more ("open failed"). So exec channels take turns, EXEC_CHANNELS at
 * once, kills one at a time beside them, and a refusal while others are open teaches the
 * connection the host's own limit.
 */
import pLimit, { type LimitFunction } from 'p-limit';
import type { ClientChannel } from 'ssh2';
import type { LocalSudoResult } from './local-sudo.js';

export const EXEC_CHANNELS = 8;

/** A channel sshd refused because too many sessions are open: the command waits for its turn again. */
export const SESSIONS_FULL = new Error('sessions full');

export class SessionBudget {
  /** exec channels: EXEC_CHANNELS at once, fewer once sshd refused one */
  readonly execs: LimitFunction = pLimit(EXEC_CHANNELS);
  /** kills, one at a time: the session kept for them beside the execs and the SFTP session */
  readonly kills: LimitFunction = pLimit(1);
  /** exec channels asked for and not answered yet */
  opening = 0;
  /** bumped by cancel(): a command that was waiting for its turn then never starts */
  epoch = 0;

  /**
   * sshd refused a session (`reason`, from the channel-open failure) while `open` others of this
   * connection were open or being opened. True: its MaxSessions is lower than ours, so from now on
   * as many execs at once as it allowed less the SFTP session and a kill (an over-count while
   * refusals of a burst are still on the way: each lowers it further), and the command waits its
   * turn. False: nothing else was open, a real refusal.
   */
  refused(reason: unknown, open: number): boolean {
    // OpenSSH says "open failed" with reason 2 (connect failed); other servers 1 (administratively prohibited)
    if ((reason !== 1 && reason !== 2) || open <= 0) return false;
    this.execs.concurrency = Math.max(1, Math.min(this.execs.concurrency, open - 2));
    return true;
  }
}

/** A command cancel() stopped before it started: reported as timed out, as the ones it killed. */
export function cancelledBeforeStart(): LocalSudoResult {
  return { code: null, signal: null, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), durationMs: 0, timedOut: true };
}

/** A command running on its channel, as cancel() and a timeout find it. */
export interface Running {
  ch: ClientChannel;
  pgid?: string;
  /** the user it runs as through sudo (its process group is killed as that user) */
  sudoUser: string | undefined;
  /** killed by cancel(): reported like a timeout, not as a lost connection */
  cancelled: boolean;
  closed: Promise<void>;
}
