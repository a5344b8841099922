/**
 * Reporters subscribe to engine events: plain lines (not a terminal, or CI), JSON lines
 * (`--json`), or a listr2 tree on a terminal. `makeReporter` picks one.
 */
import type { Event, EventSink, RecapRow } from '../engine/events.js';
import { eventJson } from '../engine/event-json.js';
import { formatEvent, type FormatContext } from './format.js';
import { recapTable } from './recap.js';

export interface Reporter extends EventSink {
  /** after the run: flush, print the recap */
  close(): Promise<void>;
}

export interface ReporterOptions {
  json?: boolean;
  /** default: process.stdout */
  out?: NodeJS.WritableStream & { isTTY?: boolean };
  /** force plain lines even on a terminal */
  plain?: boolean;
  /** hosts in the run (decides per-step or per-host lines) */
  hostCount?: number;
  /** above this many hosts, one line per host instead of per step (default 20) */
  perStepMaxHosts?: number;
}

/**
 * JSON lines: every event, one object per line, as the journal has them. The lines of one turn of
 * the event loop go out in one write, at the end of that turn: stdout to a pipe is a blocking
 * write on Linux, and hundreds of hosts finish in the same turn (one write per event was a write
 * and a wakeup of the reader each, several a host).
 */
export class JsonReporter implements Reporter {
  private pending: string[] = [];
  private scheduled = false;
  private closed = false;
  // a process that ends in process.exit() before the turn is over still prints what it emitted
  // (a signal that kills it does not run 'exit': at most that turn's lines are lost)
  private readonly flushOnExit = (): void => this.flush();

  constructor(private readonly out: NodeJS.WritableStream = process.stdout) {
    process.once('exit', this.flushOnExit);
  }

  emit(e: Event): void {
    this.pending.push(eventJson(e));
    if (this.closed) return this.flush(); // after close nothing is scheduled: written at once, as before
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.join('\n') + '\n';
    this.pending = [];
    this.out.write(text);
  }

  async close(): Promise<void> {
    this.flush();
    this.closed = true;
    process.removeListener('exit', this.flushOnExit);
  }
}

/** Plain lines for logs and CI: a line per step with few hosts, else a line per host; then the recap. */
export class PlainReporter implements Reporter {
  private readonly ctx: FormatContext;
  private recap: RecapRow[] | undefined;
  private plan = false;
  private buffer: string[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly opts: { hostCount?: number; perStepMaxHosts?: number } = {},
  ) {
    this.ctx = { perStep: (opts.hostCount ?? 1) <= (opts.perStepMaxHosts ?? 20), showCommands: false, hostWidth: 8 };
  }

  emit(e: Event): void {
    if (e.kind === 'run-start') {
      const hosts = e.inventory.hosts;
      this.ctx.perStep = hosts.length <= (this.opts.perStepMaxHosts ?? 20);
      this.ctx.showCommands = e.dryRun;
      this.ctx.hostWidth = Math.max(8, ...hosts.map((h) => h.name.length));
      this.plan = e.mode === 'plan';
    }
    if (e.kind === 'run-end') this.recap = e.recap;
    const lines = formatEvent(e, this.ctx);
    if (lines.length === 0) return;
    this.buffer.push(...lines);
    // throttle writes: many hosts finish in the same few milliseconds
    if (this.buffer.length > 200 || e.kind === 'run-end' || e.kind === 'run-start') this.flush();
    else this.timer ??= setTimeout(() => this.flush(), 50);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length) this.out.write(this.buffer.join('\n') + '\n');
    this.buffer = [];
  }

  async close(): Promise<void> {
    this.flush();
    if (this.recap) this.out.write('\n' + recapTable(this.recap, { plan: this.plan, maxRows: 50 }) + '\n');
  }
}

export async function makeReporter(o: ReporterOptions = {}): Promise<Reporter> {
  const out = o.out ?? process.stdout;
  // `runbook show ID | head`: a closed pipe ends the output, not the run
  if (out === process.stdout && process.stdout.listenerCount('error') === 0) process.stdout.on('error', (e: NodeJS.ErrnoException) => void (e.code === 'EPIPE' || console.error(e)));
  if (o.json) return new JsonReporter(out);
  const tty = (out as { isTTY?: boolean }).isTTY === true && !process.env.CI && process.env.TERM !== 'dumb';
  // listr2 needs a real terminal width; a pseudo-terminal without one gets plain lines
  const wide = ((out as { columns?: number }).columns ?? 0) >= 40;
  if (!tty || !wide || o.plain) return new PlainReporter(out, { ...(o.hostCount !== undefined ? { hostCount: o.hostCount } : {}), ...(o.perStepMaxHosts !== undefined ? { perStepMaxHosts: o.perStepMaxHosts } : {}) });
  const { ListrReporter } = await import('./listr.js');
  return new ListrReporter(out);
}
