import { Redactor } from '../runbook/vars.js';
import type { Event, EventSink } from './events.js';

/**
 * What to redact for these secret values: each value, and the form it takes inside the
 * single quotes of a displayed command (`'` becomes `'\''`), where the plain value does not
 * appear when it holds a quote.
 */
export function secretForms(values: Iterable<string>): string[] {
  const out: string[] = [];
  for (const v of values) {
    out.push(v);
    if (v.includes("'")) out.push(v.replace(/'/g, `'\\''`));
  }
  return out;
}

/** Fans events out to sinks (journal, reporter, collectors), redacting secrets first. */
export class Emitter implements EventSink {
  private readonly sinks: EventSink[] = [];
  redactor: Redactor = new Redactor([]);

  add(sink: EventSink | undefined): this {
    if (sink) this.sinks.push(sink);
    return this;
  }

  emit(e: Event): void {
    const r = this.redactor.redactDeep(e);
    // Where a backup went and what it copied are paths the runbook named, and rollback matches
    // them against the manifest on the host: a secret that happens to be a path segment (a
    // password `vagrant`, /home/vagrant) must not turn them into /home/*** and block the rollback.
    if (e.kind === 'step-end' && r.kind === 'step-end') {
      if (e.backupDir) r.backupDir = e.backupDir;
      if (e.backupPaths) r.backupPaths = e.backupPaths;
    }
    for (const s of this.sinks) s.emit(r);
  }
}

/** Collects every event (tests, saved plans). */
export class Collector implements EventSink {
  readonly events: Event[] = [];
  emit(e: Event): void {
    this.events.push(e);
  }
}
