/**
 * Deferred backups, in the runbook's order. A `backup` step is taken just before the apply of the
 * first later step that is not read-only by contract (src/engine/safety.ts isReadOnlyStep), or
 * that needs its registered result: so a run that changes nothing makes no backup, and no step
 * that may change the host runs before a backup that comes before it in the runbook. While a
 * backup is deferred, the events of the (read-only) steps after it are held, and released after
 * it: the output follows the runbook's order.
 */
import type { StepInfo } from '../runbook/model.js';
import type { Event, EventSink } from './events.js';

export interface DeferredStep {
  step: StepInfo;
  index: number;
}

export class DeferredBackups {
  /** backups not taken yet, and the events of the steps after them, in order */
  private readonly held: Array<DeferredStep | Event> = [];
  private releasing = 0;

  constructor(private readonly sink: EventSink) {}

  get pending(): DeferredStep[] {
    return this.held.filter((h): h is DeferredStep => !('kind' in h));
  }

  defer(step: StepInfo, index: number): void {
    this.held.push({ step, index });
  }

  /** Events pass through, unless a backup before them is still deferred. */
  emit(e: Event): void {
    if (this.releasing === 0 && this.held.length) this.held.push(e);
    else this.sink.emit(e);
  }

  /**
   * Take the deferred backups (`take` runs one and says whether it failed), releasing the held
   * events in between; after a failed one the rest are `skip`ped. The failure, if any.
   */
  async flush<T extends { hostFailed: boolean }>(take: (d: DeferredStep) => Promise<T>, skip: (d: DeferredStep, why: string) => void): Promise<T | undefined> {
    const queue = this.held.splice(0);
    this.releasing++;
    try {
      for (let i = 0; i < queue.length; i++) {
        const q = queue[i]!;
        if ('kind' in q) {
          this.sink.emit(q);
          continue;
        }
        const out = await take(q);
        if (out.hostFailed) {
          for (const r of queue.slice(i + 1)) {
            if ('kind' in r) this.sink.emit(r);
            else skip(r, 'not taken: an earlier backup failed');
          }
          return out;
        }
      }
      return undefined;
    } finally {
      this.releasing--;
    }
  }

  /** The run on this host is over: backups still deferred were not needed (each `skip`ped in place). */
  drop(skip: (d: DeferredStep, why: string) => void): void {
    const queue = this.held.splice(0);
    this.releasing++;
    try {
      for (const q of queue) {
        if ('kind' in q) this.sink.emit(q);
        else skip(q, 'no backup needed: nothing changed after it');
      }
    } finally {
      this.releasing--;
    }
  }
}
