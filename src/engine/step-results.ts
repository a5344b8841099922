/**
 * A step's results on one host: its status from its items', what it registers (`register:`,
 * `previous`, set_fact's variables), and what of that its step-end journals for `runbook resume`.
 */
import { candidateNames, type Scope } from '../runbook/expressions.js';
import type { StepInfo } from '../runbook/model.js';
import type { StepEndEvent, StepStatus } from './events.js';

export interface ItemResult {
  status: StepStatus;
  facts?: Record<string, unknown>;
  /** dry run: the registered value is only partly known */
  uncertain: boolean;
  failed: boolean;
  message?: string;
}

/** One item of a step as the journal has it (`runbook resume`). */
export interface JournaledItem {
  status: StepStatus;
  facts?: Record<string, unknown>;
  item?: unknown;
}

/** A registered result larger than this (JSON) is not journaled: resume re-runs the step if read-only. */
const MAX_JOURNALED_REGISTER = 256 * 1024;

/** Identifiers in every string of a step as written (its expressions and templates). */
export function namesIn(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(...candidateNames(v));
  else if (Array.isArray(v)) for (const x of v) namesIn(x, out);
  else if (v !== null && typeof v === 'object') for (const x of Object.values(v)) namesIn(x, out);
  return out;
}

/** The step's status from its items'. */
export function stepStatus(results: ItemResult[]): StepStatus {
  if (results.some((r) => r.failed)) return 'failed';
  for (const s of ['changed', 'change', 'unknown'] as const) if (results.some((r) => r.status === s)) return s;
  return results.every((r) => r.status === 'skipped') ? 'skipped' : 'ok';
}

/** Register the step's results in `scope` (`previous`, its `register:`, set_fact's names); `uncertain` tracks what a dry run cannot know. */
export function registerResults(scope: Scope, uncertainNames: Set<string>, step: StepInfo, results: ItemResult[], loop: boolean): void {
  const uncertain = results.some((r) => r.uncertain);
  let value: Record<string, unknown> | undefined;
  if (loop) {
    value = {
      results: results.map((r) => r.facts ?? {}),
      changed: results.some((r) => r.facts?.changed === true),
      failed: results.some((r) => r.failed),
      skipped: results.length > 0 && results.every((r) => r.status === 'skipped'),
    };
    if (uncertain && results.some((r) => r.facts === undefined)) value = undefined;
  } else value = results[0]?.facts;
  const set = (name: string) => {
    if (value === undefined) delete scope[name];
    else scope[name] = value;
    if (uncertain) uncertainNames.add(name);
    else uncertainNames.delete(name);
  };
  set('previous');
  if (step.raw.register) set(step.raw.register);
  if (step.type === 'set_fact') setFacts(scope, uncertainNames, step, results);
}

/**
 * set_fact: each key becomes a variable of this host for the later steps (the loader already
 * lets them be named). In a loop the last item wins; a skipped or failed item sets nothing; in a
 * dry run an item whose values are unknowable makes its names uncertain.
 */
function setFacts(scope: Scope, uncertainNames: Set<string>, step: StepInfo, results: ItemResult[]): void {
  const p = step.params;
  const names = p !== null && typeof p === 'object' && !Array.isArray(p) ? Object.keys(p) : [];
  for (const r of results) {
    if (r.status === 'skipped' || r.failed) continue;
    for (const name of names) {
      if (r.uncertain || !r.facts || !(name in r.facts)) {
        delete scope[name];
        uncertainNames.add(name);
      } else {
        scope[name] = r.facts[name];
        uncertainNames.delete(name);
      }
    }
  }
}

/**
 * What a step's step-end carries of its registered result, for `runbook resume`: the item's
 * facts, unless they must stay out of the journal (`withheld`: no_log, a secret in the step's
 * templates, which the redactor cannot know in every form) or are too large for a journal line.
 */
export function journaledRegister(step: StepInfo, r: ItemResult, o: { dryRun: boolean; withheld: boolean }): Pick<StepEndEvent, 'registered' | 'registeredWithheld'> {
  if ((step.raw.register === undefined && step.type !== 'set_fact') || o.dryRun || r.facts === undefined || r.failed) return {};
  // a skipped item registers only that it was skipped: nothing secret in it
  if ((o.withheld && r.status !== 'skipped') || JSON.stringify(r.facts).length > MAX_JOURNALED_REGISTER) return { registeredWithheld: true };
  return { registered: r.facts };
}
