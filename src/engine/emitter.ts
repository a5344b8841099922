import { Redactor } from '../runbook/vars.js';
import type { Event, EventSink } from './events.js';

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
