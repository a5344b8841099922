/**
 * `assert`: every CEL condition in `that` must be true. Read-only, no round trip.
 * probe evaluates too: ok when all hold; `unknown` when one refers to something not known yet
 * (a result registered by a step that has not run: evaluate throws kind 'undefined-variable')
 * or does not hold yet (earlier steps may change that) — the engine then runs apply, which fails.
 * `fail_msg` is rendered only for a failing assertion (Action.lazyParams), and apply trusts a probe
 * that found every condition true: nothing between the two can change a variable.
 */
import type { AssertParams } from '../runbook/schema-types.js';
import { isUserError, messageOf } from '../errors.js';
import type { Action, StepContext } from './types.js';
import { stepError } from './util.js';

function conditions(params: AssertParams): string[] {
  const that = params.that;
  const list = Array.isArray(that) ? that : [that];
  if (list.length === 0 || list.some((c) => typeof c !== 'string' || c.length === 0)) throw stepError('assert.that: give a CEL expression or a list of them');
  return list as string[];
}

/** The first condition that is not true (with why), or undefined when all hold. */
function firstFailure(ctx: StepContext, that: string[]): string | undefined {
  for (const c of that) {
    const v = ctx.evaluate(c);
    if (typeof v !== 'boolean') return `\`${c}\` must be true or false, got ${JSON.stringify(v)}`;
    if (!v) return `\`${c}\` is false`;
  }
  return undefined;
}

/** fail_msg as written, rendered now; a message that cannot be rendered still fails the step, saying why. */
function failMessage(ctx: StepContext, template: string): string {
  try {
    // as the message was built when the engine rendered it (a template of one expression keeps its value's type)
    return String(ctx.render(template));
  } catch (e) {
    return `fail_msg cannot be rendered: ${messageOf(e)}`;
  }
}

export const assertAction: Action<AssertParams, undefined> = {
  type: 'assert',
  readOnly: true,
  lazyParams: ['fail_msg'],

  async probe(ctx, params) {
    const that = conditions(params);
    try {
      const fail = firstFailure(ctx, that);
      if (fail) return { status: 'unknown', commands: [], summary: `does not hold now: ${fail}`, state: undefined };
      return { status: 'ok', commands: [], summary: `${that.length === 1 ? 'holds' : `all ${that.length} hold`}`, state: undefined };
    } catch (e) {
      if (isUserError(e) && e.kind === 'undefined-variable') {
        return { status: 'unknown', commands: [], summary: `known after earlier steps run (${e.message})`, state: undefined };
      }
      throw e;
    }
  },

  async apply(ctx, params, probe) {
    const that = conditions(params);
    if (probe.status === 'ok') return { changed: false, commands: [] };
    let fail: string | undefined;
    try {
      fail = firstFailure(ctx, that);
    } catch (e) {
      fail = messageOf(e);
    }
    if (!fail) return { changed: false, commands: [] };
    return { changed: false, failed: true, commands: [], message: params.fail_msg ? `${failMessage(ctx, params.fail_msg)} (${fail})` : `assertion failed: ${fail}` };
  },
};

export default assertAction;
