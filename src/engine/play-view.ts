/** How a multi-play runbook looks to one play, and to the rollback of some of its plays. */
import type { LoadedRunbook, PlayInfo } from '../runbook/model.js';
import type { Step } from '../runbook/schema-types.js';

/** The runbook as one play sees it: its hosts, settings, vars over the runbook's, and its steps. */
export function playView(rb: LoadedRunbook, play: PlayInfo): LoadedRunbook {
  if (!rb.multiPlay) return rb;
  const { vars: _vars, plays: _plays, ...top } = rb.runbook;
  return {
    ...rb,
    runbook: { ...top, hosts: play.hosts, ...play.settings, vars: { ...(rb.runbook.vars ?? {}), ...play.vars }, steps: play.steps.map((s) => s.raw) as [Step, ...Step[]], rollback: play.rollback.map((s) => s.raw) },
    steps: play.steps,
    rollback: play.rollback,
    plays: [play],
  };
}

/** The runbook whose `rollback` steps are those of the given plays, newest play first. */
export function rollbackView(rb: LoadedRunbook, plays: Iterable<number>): LoadedRunbook {
  if (!rb.multiPlay) return rb;
  const order = [...new Set(plays)].filter((p) => rb.plays[p]).sort((a, b) => b - a);
  return { ...rb, rollback: order.flatMap((p) => rb.plays[p]!.rollback) };
}

/** The plays a step id belongs to (`plays[2].steps[0]` → 2; the single-play form's ids → 0). */
export function playOfStepId(id: string): number {
  const m = /^plays\[(\d+)\]\./.exec(id);
  return m ? Number(m[1]) : 0;
}
