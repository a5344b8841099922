/**
 * An event's JSON, made once for every sink that writes it: the journal and `--json` write the
 * same object, and a fleet cert-check's step-ends carry every certificate's facts (~12 KB a host).
 * src/engine/emitter.ts hands the object it built to its sinks one after the other, so the last
 * event's JSON is all there is to keep (nothing outlives the fan-out; a Collector's events stay
 * without their JSON). Events are not changed once emitted.
 */
import type { Event } from './events.js';

let last: { e: Event; json: string } | undefined;

export function eventJson(e: Event): string {
  if (last?.e !== e) last = { e, json: JSON.stringify(e) };
  return last.json;
}

/** `{"t": time, ...e}` as JSON, built from the event's JSON rather than from a copy of it. */
export function eventJsonAt(time: string, e: Event): string {
  const json = eventJson(e);
  return `{"t":${JSON.stringify(time)}${json === '{}' ? '}' : `,${json.slice(1)}`}`;
}
