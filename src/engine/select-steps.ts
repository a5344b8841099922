/** Which of a runbook's steps a run takes: --tags, --skip-tags, --start-at-step. */
import { userError } from '../errors.js';
import type { LoadedRunbook, StepInfo } from '../runbook/model.js';

export interface SelectedStep {
  step: StepInfo;
  /** 1-based position in the runbook */
  index: number;
}

/** --tags / --skip-tags / --start-at-step. `always` runs unless skipped by name. */
export function selectSteps(rb: LoadedRunbook, o: { tags?: string[]; skipTags?: string[]; startAtStep?: string }): SelectedStep[] {
  let start = 0;
  if (o.startAtStep !== undefined && o.startAtStep !== '') {
    const s = o.startAtStep.trim();
    const byIndex = /^\d+$/.test(s) ? Number(s) - 1 : -1;
    const byId = rb.steps.findIndex((st) => st.id === s);
    const byName = rb.steps.findIndex((st) => st.name === s);
    start = byIndex >= 0 && byIndex < rb.steps.length ? byIndex : byId >= 0 ? byId : byName;
    if (start < 0) {
      throw userError('usage', `--start-at-step ${JSON.stringify(s)}: no such step`, {
        hint: `give a number 1-${rb.steps.length} or a step name, e.g. ${JSON.stringify(rb.steps[0]?.name ?? '')}`,
      });
    }
  }
  const tags = (o.tags ?? []).filter(Boolean);
  const skip = new Set((o.skipTags ?? []).filter(Boolean));
  const out: SelectedStep[] = [];
  rb.steps.forEach((step, i) => {
    if (i < start) return;
    const st = step.raw.tags ?? [];
    if (st.some((t) => skip.has(t))) return;
    if (tags.length && !st.includes('always') && !st.some((t) => tags.includes(t))) return;
    out.push({ step, index: i + 1 });
  });
  return out;
}
