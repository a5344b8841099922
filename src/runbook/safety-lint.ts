/**
 * `validate` warnings from the safety contract (src/engine/safety.ts):
 *  - for `on_failure: rollback` runbooks: no backup step at all, and steps that would make a change
 *    rollback cannot put back (a command run before any backup; a `file: state: absent` before any
 *    backup, which is put back only when what it removes is under 1 MiB);
 *  - for any runbook that takes backups (`runbook rollback ID` restores them whatever the policy):
 *    a command or shell step that may change the host and declares no `writes:` — no backup can be
 *    said to hold what it changes, so a rollback after it reports it not restored.
 * `plan` marks the same steps when it sees them change.
 */
import type { Diagnostic } from '../errors.js';
import { DECLARED_WRITES, isReadOnlyStep } from '../engine/safety.js';
import { declaredWrites } from '../actions/command.js';
import type { LoadedRunbook, StepInfo } from './model.js';
import { positionOf } from './yaml.js';

/** A command step's declared writes (its params are a mapping once the runbook passed its schema). */
function writesOf(step: StepInfo): unknown[] | undefined {
  const p = step.params;
  return p !== null && typeof p === 'object' && !Array.isArray(p) ? declaredWrites(p as { writes?: unknown[]; changed_when?: unknown }) : undefined;
}

function irreversibleWhy(step: StepInfo): string | undefined {
  if (isReadOnlyStep(step)) return undefined;
  if (DECLARED_WRITES.has(step.type)) return writesOf(step)?.length === 0 ? undefined : `${step.type} step before any backup: what it changes cannot be rolled back`;
  const p = step.params as { state?: unknown } | undefined;
  if (step.type === 'file' && p && typeof p === 'object' && p.state === 'absent') {
    return 'file: state: absent before any backup: rollback puts back only what is under 1 MiB';
  }
  return undefined;
}

/** A command or shell step after a backup that may change the host and does not say where. */
function undeclaredWrites(step: StepInfo): boolean {
  return DECLARED_WRITES.has(step.type) && !isReadOnlyStep(step) && writesOf(step) === undefined && step.raw.delegate_to === undefined;
}

export function safetyDiagnostics(rb: LoadedRunbook): Diagnostic[] {
  const out: Diagnostic[] = [];
  const file = rb.file;
  const plays = rb.plays ?? [];
  const steps = rb.steps;
  // a host keeps its backups across plays: a backup in an earlier play covers a later one
  const firstBackup = steps.findIndex((s) => s.type === 'backup');
  // a step written once and used twice (a YAML alias) is warned about once: the loader dedupes
  const warn = (step: StepInfo, message: string, hint: string) => {
    out.push({ kind: 'schema', severity: 'warning', message: `step "${step.name}": ${message}`, hint, file, line: step.line, col: step.col });
  };
  if (firstBackup >= 0) {
    // a handler runs at the end of its play: after a backup of that play or an earlier one
    const handlers = plays.filter((p) => p.index >= (steps[firstBackup]!.play ?? 0)).flatMap((p) => p.handlers);
    for (const step of [...steps.slice(firstBackup + 1), ...handlers]) {
      if (!undeclaredWrites(step)) continue;
      warn(
        step,
        `${step.type} step declares no \`writes:\`: no backup can be said to hold what it changes, so a rollback reports it not restored`,
        'list the paths it changes in writes: [...] (templates allowed; [] when it changes no file), or mark it read_only: true or changed_when: false',
      );
    }
  }
  // rollback_all rolls back like rollback (every host of the run)
  const policyOf = (i: number) => { const p = plays[i]?.settings.on_failure ?? rb.runbook.on_failure; return p === 'rollback_all' ? 'rollback' : p; };
  const rollbackPlays = plays.length ? plays.filter((p) => policyOf(p.index) === 'rollback') : policyOf(0) === 'rollback' ? [undefined] : [];
  if (rollbackPlays.length === 0) return out;
  if (firstBackup < 0) {
    const where = rb.multiPlay && plays.length ? ['plays', rollbackPlays[0]!.index, 'on_failure'] : ['on_failure'];
    out.push({
      kind: 'schema',
      severity: 'warning',
      message: 'on_failure: rollback with no backup step: rollback can only undo what each step recorded',
      hint: 'add a backup step before the first change, e.g. backup: { paths: [...], to: "/var/backups/runbook/{{ run.id }}" }',
      file,
      ...positionOf(rb.doc, where, 'key'),
    });
  }
  steps.forEach((step, i) => {
    if (firstBackup >= 0 && i > firstBackup) return;
    if (plays.length && policyOf(step.play ?? 0) !== 'rollback') return;
    const why = irreversibleWhy(step);
    if (!why) return;
    warn(step, why, 'move a backup step before it, or declare it read_only when it changes nothing');
  });
  return out;
}
