/**
 * `runbook resume`: the values the interrupted run's done steps registered, from the journal
 * (each step-end carries its item's result: `registered`), and the one case resume refuses.
 */
import type { LoadedRunbook, StepInfo } from '../runbook/model.js';
import type { ResumeSpec } from './resume-spec.js';
import { isReadOnlyStep } from './safety.js';
import { namesIn, type JournaledItem } from './step-results.js';

/** Whether a step registers a value (`register:`, or set_fact's variables). */
export function registersValue(step: Pick<StepInfo, 'type' | 'raw'>): boolean {
  return step.raw.register !== undefined || step.type === 'set_fact';
}

/**
 * A done step's items with what they registered, from the journal; undefined when it registers
 * nothing; `missing` when it does and the journal does not hold the value (kept out: no_log, a
 * secret; or a journal from before values were journaled).
 */
export function journaledValue(spec: ResumeSpec, host: string, step: Pick<StepInfo, 'id' | 'type' | 'raw'>): JournaledItem[] | undefined | 'missing' {
  if (!registersValue(step)) return undefined;
  const items = spec.registered.get(host)?.get(step.id);
  if (items === undefined || items === 'withheld' || items.length === 0 || items.some((i) => i.facts === undefined)) return 'missing';
  return items;
}

/**
 * Refuse before touching any host when a step that changed a host registered a value the journal
 * does not hold, and a later step reads it: running it again is not resuming, and without it the
 * later step cannot run.
 */
export function unresumable(rb: LoadedRunbook, spec: ResumeSpec, hosts: string[]): { host: string; step: StepInfo; name: string } | undefined {
  const all = [...rb.steps, ...rb.plays.flatMap((p) => [...p.handlers, ...p.rollback])];
  for (const host of hosts) {
    for (const step of rb.steps) {
      if (!spec.done.get(host)?.has(step.id) || isReadOnlyStep(step) || journaledValue(spec, host, step) !== 'missing') continue;
      const names = step.type === 'set_fact' && step.params && typeof step.params === 'object' ? Object.keys(step.params) : [step.raw.register!];
      const name = names.find((n) => all.some((other) => other !== step && namesIn(other.raw).includes(n)));
      if (name) return { host, step, name };
    }
  }
  return undefined;
}

