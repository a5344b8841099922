/**
 * `retries` / `until` / `delay` on any step (Ansible's): apply, and while the step failed or its
 * `until` condition (CEL over `result`, the step's facts) is false, wait `delay` (default 5s),
 * probe again and apply again, up to `retries` more times (default 3 when `until` is given).
 * The attempts make one result: changed when any attempt changed, the first attempt's undo
 * record (the state before the step), the last attempt's facts plus `attempts`. A dry run probes
 * once and never retries.
 */
import type { ApplyResult, ProbeResult, StepContext } from '../actions/types.js';
import { parseDuration } from '../runbook/duration.js';
import { messageOf } from '../errors.js';
import { phase } from './profile.js';
import { changedNothing, partialUndoOf } from '../actions/partial.js';
import type { Step } from '../runbook/schema-types.js';

export interface RetrySpec {
  retries: number;
  delayMs: number;
  until?: string;
}

/** The step's retry settings; undefined when it has none (one attempt, as always). */
export function retrySpec(step: Step): RetrySpec | undefined {
  if (step.retries === undefined && step.until === undefined) return undefined;
  return { retries: step.retries ?? 3, delayMs: step.delay ? parseDuration(step.delay) : 5_000, ...(step.until !== undefined ? { until: step.until } : {}) };
}

const sleep = (ms: number) => phase('wait', () => new Promise<void>((r) => setTimeout(r, ms)));

/** Whether an attempt is good: not failed, and its `until` holds (an `until` that cannot be evaluated does not). */
function holds(spec: RetrySpec, ctx: StepContext, res: ApplyResult): { ok: boolean; why?: string } {
  if (res.failed) return { ok: false, why: res.message ?? 'failed' };
  if (spec.until === undefined) return { ok: true };
  let v: unknown;
  try {
    v = ctx.evaluate(spec.until, { result: res.facts ?? {} });
  } catch (e) {
    return { ok: false, why: `until \`${spec.until}\`: ${messageOf(e)}` };
  }
  if (typeof v !== 'boolean') return { ok: false, why: `until \`${spec.until}\` must be true or false, got ${JSON.stringify(v)}` };
  return v ? { ok: true } : { ok: false, why: `until \`${spec.until}\` is false` };
}

export async function applyWithRetries(
  spec: RetrySpec | undefined,
  ctx: StepContext,
  probe: ProbeResult<unknown>,
  apply: (p: ProbeResult<unknown>) => Promise<ApplyResult>,
  reprobe: () => Promise<ProbeResult<unknown>>,
): Promise<ApplyResult> {
  if (!spec) return apply(probe);
  let res = await apply(probe);
  let changed = res.changed;
  const commands = [...res.commands];
  let attempts = 1;
  // the state before the step: the undo record of the first attempt that made one
  let undo = res.undo;
  let check = holds(spec, ctx, res);
  while (!check.ok && attempts <= spec.retries) {
    await sleep(spec.delayMs);
    let p: ProbeResult<unknown> | undefined;
    try {
      p = await reprobe();
    } catch (e) {
      res = { changed: false, commands: [], failed: true, message: messageOf(e) };
    }
    if (p) {
      try {
        res = p.status === 'skip' ? { changed: false, commands: [], ...(p.summary ? { message: p.summary } : {}), ...(p.facts ? { facts: p.facts } : {}) } : await apply(p);
      } catch (e) {
        // a later attempt that throws is a failed attempt: the earlier attempts' changes stay
        // recorded, and so does what it did itself before it failed (src/actions/partial.ts)
        const partial = partialUndoOf(e);
        res = { changed: !changedNothing(e), commands: [], failed: true, message: messageOf(e), ...(partial ? { undo: partial } : {}) };
      }
    }
    attempts++;
    changed ||= res.changed;
    commands.push(...res.commands);
    undo ??= res.undo;
    check = holds(spec, ctx, res);
  }
  return {
    ...res,
    changed,
    commands,
    ...(undo ? { undo } : {}),
    facts: { ...(res.facts ?? {}), attempts },
    ...(check.ok ? {} : { failed: true, message: `still failing after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${check.why}` }),
  };
}
