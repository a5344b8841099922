/**
 * The terminal view. With few hosts, a listr2 tree: every step appears under its host. With
 * more, ./live.ts redraws at most every 200 ms: one line per host while they fit the terminal,
 * else a bounded summary (counts, steps in progress, latest failures). listr2 renders its whole
 * tree on every title change, which at 60 hosts took half the process's CPU (BENCHMARKS.md);
 * live.ts only counts per event. The views only display: the engine runs and rolls back, and
 * tells them through events.
 */
import { Listr, type ListrTaskWrapper } from 'listr2';
import type { Event, EventSink, RecapRow } from '../engine/events.js';
import { formatEvent, type FormatContext } from './format.js';
import { recapTable } from './recap.js';
import { hostSummary, LiveSummary } from './live.js';

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
  private readonly ctx: FormatContext = { perStep: true, showCommands: false, hostWidth: 8 };
  private readonly after: string[] = [];
  /** set when the run has more hosts than a step tree fits (startListr): then it draws them */
  private live: LiveSummary | undefined;

  constructor(private readonly out: NodeJS.WritableStream & { rows?: number } = process.stdout) {}

  /** a listr2 tree taller than the terminal loses its top lines (log-update shows the last screenful) */
  private pickMode(hosts: number, steps: number): 'steps' | 'hosts' | 'aggregate' {
    const rows = this.out.rows || 24;
    if (hosts <= STEP_LINES_MAX_HOSTS && hosts * (steps + 1) + 4 <= rows) return 'steps';
    if (hosts <= HOST_LINES_MAX_HOSTS && hosts + 4 <= rows) return 'hosts';
    return 'aggregate';
  }

  /** a line per step under each host: the listr2 tree, not the live summary */
  private get stepLines(): boolean {
    return this.live === undefined;
  }

  private startListr(names: string[], steps: number): void {
    const mode = this.pickMode(names.length, steps);
    this.live?.stop(); // a later run-start on the same reporter: the earlier summary stays as drawn
    this.live = undefined;
    if (mode !== 'steps') {
      this.live = new LiveSummary(this.out, { perHost: mode === 'hosts' });
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
          rendererOptions: { outputBar: Infinity, persistentOutput: true },
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
        if (this.stepLines) this.setTitle(e.host, `${e.host}: ${e.index}/${e.total} ${e.name}`);
        return;
      case 'step-end': {
        if (this.stepLines) {
          const lines = formatEvent(e, { ...this.ctx, perStep: true, hostWidth: 0 }).map((l) => l.replace(/^\S*\s+/, ''));
          this.output(e.host, lines.join('\n'));
        } else if (e.diff) this.after.push(...formatEvent(e, { ...this.ctx, perStep: false })); // --diff: shown after the progress
        return;
      }
      case 'host-unreachable':
        if (this.stepLines) this.output(e.host, e.message);
        return;
      case 'rollback-start':
      case 'restore':
      case 'undo':
      case 'rollback-end':
        if (!this.stepLines) this.after.push(...formatEvent(e as never, this.ctx));
        else this.output(e.host, formatEvent(e as never, { ...this.ctx, hostWidth: 0 }).map((l) => l.replace(/^\S*\s+/, '')).join('\n'));
        return;
      case 'host-end': {
        if (!this.stepLines) {
          if (e.status !== 'ok') this.after.push(...formatEvent(e, { ...this.ctx, perStep: false }));
          return;
        }
        const v = this.hosts.get(e.host);
        const summary = hostSummary(e, this.plan);
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
      case 'step-apply':
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
