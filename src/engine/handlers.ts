/**
 * Handlers (Ansible's): a step that changed something `notify`s handlers by name; the notified
 * handlers run once per host at the end of the play, or at a `flush_handlers` step, in the order
 * they are written (not the order they were notified). A handler may notify a later one, which
 * then runs in the same flush; one it notifies that comes earlier runs at the next flush.
 * In a plan a step that would (or might) change notifies; the handlers show as "runs if notified
 * by …", probed like steps when notified, skipped otherwise.
 */
import type { StepInfo } from '../runbook/model.js';
import type { EventSink, StepStatus } from './events.js';
import type { HostRunner, StepOutcome } from './steps.js';

/** The notified handlers of one host in one play: each due at most once per flush, in definition order. */
export class HandlerQueue {
  /** handler index → names of the steps that notified it since the last flush */
  private readonly due = new Map<number, string[]>();

  constructor(private readonly names: readonly string[]) {}

  notify(handler: string, by: string): void {
    const i = this.names.indexOf(handler);
    if (i < 0) return; // the loader refuses unknown names
    const list = this.due.get(i) ?? [];
    if (!list.includes(by)) list.push(by);
    this.due.set(i, list);
  }

  get pending(): boolean {
    return this.due.size > 0;
  }

  /** The first due handler after index `after` (taken off the queue), or undefined. */
  next(after: number): { index: number; by: string[] } | undefined {
    let best: number | undefined;
    for (const i of this.due.keys()) if (i > after && (best === undefined || i < best)) best = i;
    if (best === undefined) return undefined;
    const by = this.due.get(best)!;
    this.due.delete(best);
    return { index: best, by };
  }
}

/** Whether a step's outcome notifies its handlers: it changed (apply), or would or might (plan). */
export function notifies(status: StepStatus, dryRun: boolean): boolean {
  return dryRun ? status === 'change' || status === 'unknown' : status === 'changed';
}

export function notifyTargets(step: StepInfo): string[] {
  const n = step.raw.notify;
  return n === undefined ? [] : typeof n === 'string' ? [n] : n;
}

export interface FlushOptions {
  runner: HostRunner;
  handlers: StepInfo[];
  queue: HandlerQueue;
  dryRun: boolean;
  host: string;
  sink: EventSink;
  /** report position of the first handler (they follow the steps) */
  firstIndex: number;
  total: number;
  /** names of the steps that notify each handler (for "runs if notified by …" in a plan) */
  notifiers: Map<string, string[]>;
  /** indices of the handlers that ran (filled in) */
  ran: Set<number>;
}

/** Handler name → the names of the play's steps and handlers that notify it. */
export function notifiersOf(steps: StepInfo[], handlers: StepInfo[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const st of [...steps, ...handlers]) for (const t of notifyTargets(st)) out.set(t, [...(out.get(t) ?? []), st.name]);
  return out;
}

/** Run the due handlers in definition order; the first failed outcome, if any. */
export async function flushHandlers(o: FlushOptions): Promise<StepOutcome | undefined> {
  const quote = (names: string[]) => names.map((n) => `"${n}"`).join(', ');
  let at = -1;
  for (;;) {
    const due = o.queue.next(at);
    if (!due) break;
    at = due.index;
    o.ran.add(due.index);
    const h = o.handlers[due.index]!;
    // in a plan the name says why it runs; in apply the journal keeps the handler's own name
    const step = o.dryRun ? { ...h, name: `${h.name} (runs if notified by ${quote(due.by)})` } : h;
    const out = await o.runner.runStep(step, o.firstIndex + due.index);
    for (const t of notifyTargets(h)) if (notifies(out.status, o.dryRun)) o.queue.notify(t, h.name);
    if (out.hostFailed) return out;
  }
  return undefined;
}

/** Plan: the handlers nothing notified on this host, shown as skipped with who could notify them. */
export function reportUnnotified(o: Omit<FlushOptions, 'queue' | 'runner'>, ran: Set<number>): void {
  o.handlers.forEach((h, i) => {
    if (ran.has(i)) return;
    const by = o.notifiers.get(h.name) ?? [];
    o.sink.emit({
      kind: 'step-end',
      host: o.host,
      step: h.id,
      name: `${h.name} (runs if notified by ${by.map((n) => `"${n}"`).join(', ') || 'nothing'})`,
      type: h.type,
      index: o.firstIndex + i,
      total: o.total,
      status: 'skipped',
      commands: [],
      message: 'not notified on this host',
      durationMs: 0,
    });
  });
}
