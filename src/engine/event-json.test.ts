import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { eventJson, eventJsonAt } from './event-json.js';
import type { Event } from './events.js';

test('event-json: the journal line built from the shared JSON is the line a copy with `t` first would give', () => {
  const time = new Date(0).toISOString();
  fc.assert(
    // an event's own keys are names (an index-like key would come before `t` in the copy)
    fc.property(fc.dictionary(fc.string({ minLength: 1 }).filter((k) => k !== 't' && !/^\d+$/.test(k)), fc.jsonValue()), (fields) => {
      const e = { kind: 'step-end', ...fields } as unknown as Event;
      assert.equal(eventJsonAt(time, e), JSON.stringify({ t: time, ...e }));
      assert.equal(eventJson(e), JSON.stringify(e));
    }),
  );
});

test('event-json: one stringify per event, whatever the number of sinks', () => {
  let calls = 0;
  const e = { kind: 'run-end', toJSON: () => (calls++, { kind: 'run-end' }) } as unknown as Event;
  eventJson(e);
  eventJsonAt('now', e);
  eventJson(e);
  assert.equal(calls, 1);
});
