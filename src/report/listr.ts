/**
 * The terminal view: a listr2 tree, one task per host. With few hosts every step appears under
 * its host; with more, each host is one summary line; when the hosts do not fit the terminal
 * (or there are over 100), a bounded summary redrawn at most every 200 ms (./live.ts), whose
 * cost does not grow with the hosts. listr2 only displays: the engine runs and rolls back, and
 * tells it through events.
 */
import { Listr, type ListrTaskWrapper } from 'listr2';
import type { Event, EventSink, HostCounts, RecapRow } from '../engine/events.js';
import { countsText, formatEvent, type FormatContext } from './format.js';
import { recapTable } from './recap.js';
import { LiveSummary } from './live.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Task = ListrTaskWrapper<any, any, any>;

interface HostView {
  task?: Task;
  done: () => void;
  fail: (msg: string) => void;
  finished: Promise<void>;
  title: string;
  pending: { output?: string; title?: string };
}

const STEP_LINES_MAX_HOSTS = 10;
const HOST_LINES_MAX_HOSTS = 100;

// a Reporter (./reporter.ts, which loads this module only on a terminal; makeReporter's return type checks it)
export class ListrReporter implements EventSink {
  private listr: Listr | undefined;
  private running: Promise<unknown> | undefined;
  private readonly hosts = new Map<string, HostView>();
  private recap: RecapRow[] | undefined;
  private plan = false;
  private mode: 'steps' | 'hosts' | 'aggregate' = 'steps';
  private readonly ctx: FormatContext = { perStep: true, showCommands: false, hostWidth: 8 };
  private readonly after: string[] = [];
  private live: LiveSummary | undefined;

  constructor(private readonly out: NodeJS.WritableStream & { rows?: number } = process.stdout) {}

  /** listr2 redraws every line on each change: a tree taller than the terminal leaves copies of itself in the scrollback */
  private pickMode(hosts: number, steps: number): 'steps' | 'hosts' | 'aggregate' {
    const rows = this.out.rows || 24;
    if (hosts <= STEP_LINES_MAX_HOSTS && hosts * (steps + 1) + 4 <= rows) return 'steps';
    if (hosts <= HOST_LINES_MAX_HOSTS && hosts + 4 <= rows) return 'hosts';
    return 'aggregate';
  }

  private startListr(names: string[], steps: number): void {
    this.mode = this.pickMode(names.length, steps);
    if (this.mode === 'aggregate') {
      this.live = new LiveSummary(this.out);
      return;
    } else {
      const tasks = names.map((name) => {
        let done!: () => void;
        let fail!: (m: string) => void;
        const finished = new Promise<void>((res, rej) => {
          done = res;
          fail = (m) => rej(new Error(m));
        });
        finished.catch(() => undefined);
        const view: HostView = { done, fail, finished, title: name, pending: {} };
        this.hosts.set(name, view);
        return {
          title: `${name}: waiting`,
          task: async (_c: unknown, task: Task) => {
            view.task = task;
            if (view.pending.title) task.title = view.pending.title;
            if (view.pending.output) task.output = view.pending.output;
            await view.finished;
          },
          rendererOptions: { outputBar: this.mode === 'steps' ? Infinity : 1, persistentOutput: this.mode === 'steps' },
        };
      });
      this.listr = new Listr(tasks, { concurrent: true, exitOnError: false, rendererOptions: { collapseErrors: false, formatOutput: 'truncate' } });
    }
    this.running = this.listr.run().catch(() => undefined);
  }

  private setTitle(host: string, title: string): void {
    const v = this.hosts.get(host);
    if (!v) return;
    if (v.task) v.task.title = title;
    else v.pending.title = title;
  }

  private output(host: string, line: string): void {
    const v = this.hosts.get(host);
    if (!v) return;
    if (v.task) v.task.output = line;
    else v.pending.output = line;
  }

  emit(e: Event): void {
    if (e.kind !== 'run-start') this.live?.emit(e);
    switch (e.kind) {
      case 'run-start': {
        this.plan = e.mode === 'plan';
        this.ctx.showCommands = e.dryRun;
        this.ctx.hostWidth = Math.max(8, ...e.inventory.hosts.map((h) => h.name.length));
        this.out.write(formatEvent(e, this.ctx).join('\n') + '\n');
        this.startListr(e.inventory.hosts.map((h) => h.name), e.steps.length);
        this.live?.emit(e);
        return;
      }
      case 'step-start':
        if (this.mode !== 'aggregate') this.setTitle(e.host, `${e.host}: ${e.index}/${e.total} ${e.name}`);
        return;
      case 'step-end': {
        if (this.mode === 'steps') {
          const lines = formatEvent(e, { ...this.ctx, perStep: true, hostWidth: 0 }).map((l) => l.replace(/^\S*\s+/, ''));
          this.output(e.host, lines.join('\n'));
        } else if (this.mode === 'hosts' && e.status === 'failed') this.output(e.host, `${e.name}: ${e.message ?? 'failed'}`);
        else if (e.diff) this.after.push(...formatEvent(e, { ...this.ctx, perStep: false })); // --diff: shown after the progress
        return;
      }
      case 'host-unreachable':
        if (this.mode !== 'aggregate') this.output(e.host, e.message);
        return;
      case 'rollback-start':
      case 'restore':
      case 'undo':
      case 'rollback-end':
        if (this.mode === 'aggregate') this.after.push(...formatEvent(e as never, this.ctx));
        else this.output(e.host, formatEvent(e as never, { ...this.ctx, hostWidth: 0 }).map((l) => l.replace(/^\S*\s+/, '')).join('\n'));
        return;
      case 'host-end': {
        const counts: HostCounts = e.counts;
        if (this.mode === 'aggregate') {
          if (e.status !== 'ok') this.after.push(...formatEvent(e, { ...this.ctx, perStep: false }));
          return;
        }
        const v = this.hosts.get(e.host);
        const summary = `${e.host}: ${e.status === 'ok' ? '' : `${e.status} — `}${countsText(counts, this.plan)}${e.message && e.status !== 'ok' ? ` — ${e.message.split('\n')[0]}` : ''}`;
        this.setTitle(e.host, summary);
        if (!v) return;
        if (e.status === 'ok' || e.status === 'rolled-back' || e.status === 'not-run') v.done();
        else v.fail(summary);
        return;
      }
      case 'warning':
      case 'play-start':
      case 'batch-end':
        this.after.push(...formatEvent(e as never, this.ctx));
        return;
      case 'run-end':
        this.recap = e.recap;
        this.live?.stop();
        for (const v of this.hosts.values()) v.done();
        this.after.push(...formatEvent(e, this.ctx));
        return;
      case 'batch-start':
      case 'host-start':
      case 'host-connected':
        return;
    }
  }

  async close(): Promise<void> {
    this.live?.stop();
    await this.running;
    if (this.after.length) this.out.write(this.after.join('\n') + '\n');
    if (this.recap) this.out.write('\n' + recapTable(this.recap, { plan: this.plan, maxRows: 50 }) + '\n');
  }
}
