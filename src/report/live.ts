/**
 * The terminal view of a run with more than a few hosts, redrawn in place at most every 200 ms:
 * one line per host while they fit the terminal, else a bounded summary (hosts per state, the
 * steps hosts are on now, the latest failures, the hosts that finished last). Each event only
 * updates counters (O(1)); a frame costs O(lines shown + steps), whatever the number of hosts,
 * so 2,000 hosts cost what 200 do. A frame never has more lines than the terminal minus one, nor
 * wider lines than it, so the terminal can always erase it and nothing piles up in the scrollback.
 */
import type { Event, HostEndEvent, HostStatus, RunMode } from '../engine/events.js';
import { countsText } from './format.js';

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

/** A finished host in one line: `web-1: failed — ok=2 changed=1 … — the first line of why`. */
export function hostSummary(e: HostEndEvent, plan: boolean): string {
  return `${e.host}: ${e.status === 'ok' ? '' : `${e.status} — `}${countsText(e.counts, plan)}${e.message && e.status !== 'ok' ? ` — ${e.message.split('\n')[0]}` : ''}`;
}

const MARK: Partial<Record<HostStatus, string>> = { ok: '✔', 'rolled-back': '↺', 'not-run': '-' };

/** Counters of a run, updated per event, and the frame drawn from them. */
export class FleetProgress {
  private total = 0;
  /** the run's mode: the frame's title, and plan's counts say `change=` */
  private mode: RunMode = 'apply';
  /**
   * with perHost: each host's line, in inventory order. Without, none: `hostLines?.set(host, line)`
   * then skips building the line (an optional call evaluates no arguments).
   */
  private readonly hostLines: Map<string, string> | undefined;
  private started = 0;
  private readonly done = new Map<HostStatus | 'changed', number>();
  private finished = 0;
  /** host → the 1-based index of the step it is on (only hosts that are running) */
  private readonly onStep = new Map<string, number>();
  /** connected or past their first step, not finished */
  private readonly active = new Set<string>();
  private stepHosts: number[] = [];
  private stepNames: string[] = [];
  private stepTotal = 0;
  /** newest last, bounded */
  private readonly recent: string[] = [];
  private readonly failures: string[] = [];
  private failureCount = 0;
  private readonly t0 = Date.now();

  constructor(opts: { perHost?: boolean } = {}) {
    this.hostLines = opts.perHost ? new Map() : undefined;
  }

  /** true when the frame would change */
  update(e: Event): boolean {
    switch (e.kind) {
      case 'run-start':
        this.total = e.inventory.hosts.length;
        this.mode = e.mode === 'plan' ? 'plan' : e.mode === 'rollback' ? 'rollback' : 'apply';
        if (this.hostLines) for (const h of e.inventory.hosts) this.hostLines.set(h.name, `  ${h.name}: waiting`);
        this.stepNames = e.steps.map((s) => s.name);
        this.stepTotal = e.steps.length;
        this.stepHosts = new Array<number>(this.stepTotal + 1).fill(0);
        return true;
      case 'host-start':
        this.started++;
        return true;
      case 'host-connected':
        this.active.add(e.host);
        return true;
      case 'step-start': {
        this.active.add(e.host);
        this.moveHost(e.host, e.index);
        this.hostLines?.set(e.host, `… ${e.host}: ${e.index}/${e.total} ${e.name}`);
        if (e.total > this.stepTotal) this.stepTotal = e.total;
        if (!this.stepNames[e.index - 1]) this.stepNames[e.index - 1] = e.name;
        return true;
      }
      case 'host-unreachable': {
        const first = e.message.split('\n')[0];
        this.pushFailure(`${e.host}: unreachable: ${first}`);
        this.hostLines?.set(e.host, `✖ ${e.host}: unreachable — ${first}`);
        return true;
      }
      case 'host-end': {
        this.moveHost(e.host, undefined);
        this.active.delete(e.host);
        this.finished++;
        const key = e.status === 'ok' && e.counts.changed > 0 ? 'changed' : e.status;
        this.done.set(key, (this.done.get(key) ?? 0) + 1);
        const what = e.status === 'ok' ? (e.counts.changed > 0 ? `changed ${e.counts.changed}` : 'ok') : e.status;
        push(this.recent, `${e.host} ${what}`, RECENT_MAX);
        if (e.status !== 'ok' && e.status !== 'unreachable') this.pushFailure(`${e.host}: ${e.status}${e.message ? `: ${e.message.split('\n')[0]}` : ''}`);
        if (e.status !== 'unreachable') this.hostLines?.set(e.host, `${MARK[e.status] ?? '✖'} ${hostSummary(e, this.mode === 'plan')}`);
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
    const pct = this.total ? Math.floor((100 * this.finished) / this.total) : 100;
    const head = `${this.mode}: ${this.finished}/${this.total} hosts done (${pct} %), ${((now - this.t0) / 1000).toFixed(0)} s`;
    // one line per host while they fit (the terminal may have shrunk since the run started)
    if (this.hostLines?.size && this.hostLines.size + 1 <= room) return [head, ...this.hostLines.values()].map((l) => fitLine(l, size.columns));
    const n = (k: HostStatus | 'changed') => this.done.get(k) ?? 0;
    const out: string[] = [head];
    const running = this.active.size;
    const connecting = Math.max(0, this.started - this.finished - running);
    const waiting = Math.max(0, this.total - this.started);
    const states = [`ok ${n('ok')}`, `changed ${n('changed')}`, `failed ${n('failed') + n('rollback-failed')}`, `unreachable ${n('unreachable')}`];
    if (n('rolled-back')) states.push(`rolled back ${n('rolled-back')}`);
    if (n('not-run') + n('aborted')) states.push(`not run ${n('not-run') + n('aborted')}`);
    states.push(`running ${running}`, `connecting ${connecting}`, `waiting ${waiting}`);
    out.push(states.join(' · '));
    if (this.onStep.size > 0) {
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
 * the previous one started and erases below. An event draws when the last frame is older than
 * the interval, else marks the frame dirty for a timer. Both are needed: at 2,000 hosts on two
 * busy cores one turn of the event loop took up to a minute (thousands of socket callbacks
 * before the timers' turn), so a timer alone drew 5 frames in a 152 s run; and when events
 * stop, only the timer shows the last of them.
 */
export class LiveSummary {
  readonly progress: FleetProgress;
  private readonly intervalMs: number;
  private drawn = 0;
  private dirty = false;
  private lastDraw = 0;
  private timer: NodeJS.Timeout | undefined;
  frames = 0;

  constructor(
    private readonly out: NodeJS.WritableStream & { columns?: number; rows?: number },
    opts: { perHost?: boolean; intervalMs?: number } = {},
  ) {
    this.progress = new FleetProgress({ perHost: opts.perHost === true });
    this.intervalMs = opts.intervalMs ?? 200;
  }

  emit(e: Event): void {
    if (!this.progress.update(e)) return;
    this.dirty = true;
    if (e.kind === 'run-start' || Date.now() - this.lastDraw >= this.intervalMs) this.draw();
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
    this.lastDraw = Date.now();
    this.frames++;
  }

  /** the last frame stays on the screen */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.dirty || this.frames === 0) this.draw();
  }
}
