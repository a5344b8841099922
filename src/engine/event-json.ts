/**
 * An event's JSON, made once for every sink that writes it: the journal and `--json` write the
 * same object, and a fleet cert-check's step-ends carry every certificate's facts (~12 KB a host).
 * Events are not changed once emitted (src/engine/emitter.ts fans out the object it built).
 */
import type { Event } from './events.js';

const made = new WeakMap<Event, string>();

export function eventJson(e: Event): string {
  let json = made.get(e);
  if (json === undefined) {
    json = JSON.stringify(e);
    made.set(e, json);
  }
  return json;
}

/** `{"t": time, ...e}` as JSON, built from the event's JSON rather than from a copy of it. */
export function eventJsonAt(time: string, e: Event): string {
  const json = eventJson(e);
  return `{"t":${JSON.stringify(time)}${json === '{}' ? '}' : `,${json.slice(1)}`}`;
}
