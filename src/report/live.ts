/**
 * The terminal view of a run with more hosts than the terminal has lines: a bounded summary
 * (hosts per state, the steps hosts are on now, the latest failures, the hosts that finished
 * last) redrawn in place at most every 200 ms. Each event only updates counters (O(1)); a frame
 * costs O(lines shown + steps), whatever the number of hosts, so 2,000 hosts cost what 200 do.
 * A frame never has more lines than the terminal minus one, nor wider lines than it, so the
 * terminal can always erase it and nothing piles up in the scrollback.
 */
import type { Event, HostStatus } from '../engine/events.js';

export interface TermSize {
  columns: number;
  rows: number;
}

const RECENT_MAX = 32;
const FAILURES_MAX = 64;

/** A line shown on one terminal row: control characters out, cut to the width (no wrapping). */
export function fitLine(s: string, columns: number): string {
  // eslint-disable-next-line no-control-regex
  const plain = s.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
  const width = Math.max(1, columns - 1); // the last column would make some terminals wrap
  return plain.length <= width ? plain : plain.slice(0, Math.max(0, width - 1)) + '…';
}

/** Counters of a run, updated per event, and the frame drawn from them. */
export class FleetProgress {
  private total = 0;
  private title = 'apply';
  private started = 0;
  private connected = 0;
  private readonly done = new Map<HostStatus | 'changed', number>();
  private finished = 0;
  /** host → the 1-based index of the step it is on (only hosts that are running) */
  private readonly onStep = new Map<string, number>();
  private stepHosts: number[] = [];
  private stepNames: string[] = [];
  private stepTotal = 0;
  /** newest last, bounded */
  private readonly recent: string[] = [];
  private readonly failures: string[] = [];
  private failureCount = 0;
  private readonly t0 = Date.now();

  /** true when the frame would change */
  update(e: Event): boolean {
    switch (e.kind) {
      case 'run-start':
        this.total = e.inventory.hosts.length;
        this.title = e.mode === 'plan' ? 'plan' : e.mode === 'rollback' ? 'rollback' : 'apply';
        this.stepNames = e.steps.map((s) => s.name);
        this.stepTotal = e.steps.length;
        this.stepHosts = new Array<number>(this.stepTotal + 1).fill(0);
        return true;
      case 'host-start':
        this.started++;
        return true;
      case 'host-connected':
        this.connected++;
        return true;
      case 'step-start': {
        this.moveHost(e.host, e.index);
        if (e.total > this.stepTotal) this.stepTotal = e.total;
        if (!this.stepNames[e.index - 1]) this.stepNames[e.index - 1] = e.name;
        return true;
      }
      case 'host-unreachable':
        this.pushFailure(`${e.host}: unreachable: ${e.message.split('\n')[0]}`);
        return true;
      case 'host-end': {
        this.moveHost(e.host, undefined);
        this.finished++;
        const key = e.status === 'ok' && e.counts.changed > 0 ? 'changed' : e.status;
        this.done.set(key, (this.done.get(key) ?? 0) + 1);
        const what = e.status === 'ok' ? (e.counts.changed > 0 ? `changed ${e.counts.changed}` : 'ok') : e.status;
        push(this.recent, `${e.host} ${what}`, RECENT_MAX);
        if (e.status !== 'ok' && e.status !== 'unreachable') this.pushFailure(`${e.host}: ${e.status}${e.message ? `: ${e.message.split('\n')[0]}` : ''}`);
        return true;
      }
      default:
        return false;
    }
  }

  private moveHost(host: string, index: number | undefined): void {
    const before = this.onStep.get(host);
    if (before !== undefined) this.stepHosts[before] = (this.stepHosts[before] ?? 1) - 1;
    if (index === undefined) {
      this.onStep.delete(host);
      return;
    }
    this.onStep.set(host, index);
    this.stepHosts[index] = (this.stepHosts[index] ?? 0) + 1;
  }

  private pushFailure(line: string): void {
    this.failureCount++;
    push(this.failures, line, FAILURES_MAX);
  }

  /** The frame: at most `rows - 1` lines, none wider than `columns - 1`. */
  lines(size: TermSize, now = Date.now()): string[] {
    const room = Math.max(1, size.rows - 1);
    const n = (k: HostStatus | 'changed') => this.done.get(k) ?? 0;
    const pct = this.total ? Math.floor((100 * this.finished) / this.total) : 100;
    const out: string[] = [`${this.title}: ${this.finished}/${this.total} hosts done (${pct} %), ${((now - this.t0) / 1000).toFixed(0)} s`];
    const running = this.onStep.size;
    const connecting = Math.max(0, this.started - this.finished - running);
    const waiting = Math.max(0, this.total - this.started);
    const states = [`ok ${n('ok')}`, `changed ${n('changed')}`, `failed ${n('failed') + n('rollback-failed')}`, `unreachable ${n('unreachable')}`];
    if (n('rolled-back')) states.push(`rolled back ${n('rolled-back')}`);
    if (n('not-run') + n('aborted')) states.push(`not run ${n('not-run') + n('aborted')}`);
    states.push(`running ${running}`, `connecting ${connecting}`, `waiting ${waiting}`);
    out.push(states.join(' · '));
    if (running > 0) {
      const busiest = this.stepHosts
        .map((hosts, index) => ({ hosts, index }))
        .filter((s) => s.hosts > 0)
        .sort((a, b) => b.hosts - a.hosts || a.index - b.index);
      out.push('now: ' + busiest.map((s) => `${s.index}/${this.stepTotal} ${this.stepNames[s.index - 1] ?? ''} ×${s.hosts}`).join(' · '));
    }
    if (this.recent.length) out.push('last done: ' + [...this.recent].reverse().join(', '));
    const left = room - out.length - 1;
    if (this.failureCount > 0 && left > 0) {
      const shown = this.failures.slice(-left).reverse();
      out.push(`failed or unreachable (${this.failureCount}${this.failureCount > shown.length ? `, newest ${shown.length} shown; all in the recap` : ''}):`);
      for (const f of shown) out.push('  ' + f);
    }
    return out.slice(0, room).map((l) => fitLine(l, size.columns));
  }
}

function push(list: string[], item: string, max: number): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}

/**
 * Draws FleetProgress frames in place on a terminal: each frame moves the cursor back to where
 * the previous one started and erases below. Events mark the frame dirty; a timer draws.
 */
export class LiveSummary {
  readonly progress = new FleetProgress();
  private drawn = 0;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  frames = 0;

  constructor(
    private readonly out: NodeJS.WritableStream & { columns?: number; rows?: number },
    private readonly intervalMs = 200,
  ) {}

  emit(e: Event): void {
    if (!this.progress.update(e)) return;
    this.dirty = true;
    if (e.kind === 'run-start') this.draw();
    this.timer ??= setInterval(() => this.dirty && this.draw(), this.intervalMs).unref();
  }

  private size(): TermSize {
    return { columns: this.out.columns || 80, rows: this.out.rows || 24 };
  }

  draw(): void {
    const lines = this.progress.lines(this.size());
    // cursor to the start of the previous frame's first line, erase from there down
    const back = this.drawn ? `\x1b[${this.drawn}F\x1b[J` : '';
    this.out.write(back + lines.join('\n') + '\n');
    this.drawn = lines.length;
    this.dirty = false;
    this.frames++;
  }

  /** the last frame stays on the screen */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.dirty || this.frames === 0) this.draw();
  }
}
