/**
 * Deferred backups, in the runbook's order. A `backup` step is taken just before the apply of the
 * first later step that is not read-only by contract (src/engine/safety.ts isReadOnlyStep), or
 * that needs its registered result: so a run that changes nothing makes no backup, and no step
 * that may change the host runs before a backup that comes before it in the runbook. While a
 * backup is deferred, the events of the (read-only) steps after it are held, and released after
 * it: the output follows the runbook's order. A backup still deferred at the end of a play stays
 * deferred when a later play of the host may change it: that play's runner takes it before its
 * own first change (src/engine/plays.ts, HostRunnerOptions.earlier); it is dropped only when the
 * host's run ends. The order "backup before change" holds across play boundaries.
 */
import type { StepInfo } from '../runbook/model.js';
import type { Event, EventSink } from './events.js';
import type { ProbeResult } from '../actions/types.js';
import { rootPaths } from '../actions/tree.js';

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

  /**
   * The play is over and a later one may change the host: the held events go out now (the play's
   * output stays in its place), the backups stay deferred until the later play's first change.
   */
  releaseEvents(): void {
    const queue = this.held.splice(0);
    this.releasing++;
    try {
      for (const q of queue) {
        if ('kind' in q) this.sink.emit(q);
        else this.held.push(q);
      }
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

/** The directory a backup step made (its facts), or, made earlier by this run, its probe's. */
export function backupDirOf(probe: ProbeResult<unknown> | undefined, facts: Record<string, unknown> | undefined): string | undefined {
  if (facts && typeof facts.dir === 'string') return facts.dir;
  const st = probe?.state as { to?: unknown; done?: unknown } | undefined;
  if (st && typeof st.to === 'string' && st.done === true) return st.to;
  return undefined;
}

/** The paths a backup step copied: its facts' roots, or (made earlier by this run) its probe's paths. */
export function backupPathsOf(probe: ProbeResult<unknown> | undefined, facts: Record<string, unknown> | undefined): string[] | undefined {
  const held = rootPaths(facts?.roots);
  if (held) return held;
  const st = probe?.state as { paths?: unknown } | undefined;
  if (st && Array.isArray(st.paths) && st.paths.every((p) => typeof p === 'string')) return st.paths as string[];
  return undefined;
}
