/**
 * `validate` warnings from the safety contract (src/engine/safety.ts), for `on_failure: rollback`
 * runbooks: no backup step at all, and steps that would make a change rollback cannot put back
 * (a command run before any backup; a `file: state: absent` before any backup, which is put back
 * only when what it removes is under 1 MiB). `plan` marks the same steps when it sees them change.
 */
import type { Diagnostic } from '../errors.js';
import { isReadOnlyStep } from '../engine/safety.js';
import type { LoadedRunbook, StepInfo } from './model.js';
import { positionOf } from './yaml.js';

/** Step types whose changes have no undo record: only a backup taken before them covers them. */
const NO_UNDO = new Set(['command', 'shell']);

function irreversibleWhy(step: StepInfo): string | undefined {
  if (isReadOnlyStep(step)) return undefined;
  if (NO_UNDO.has(step.type)) return `${step.type} step before any backup: what it changes cannot be rolled back`;
  const p = step.params as { state?: unknown } | undefined;
  if (step.type === 'file' && p && typeof p === 'object' && p.state === 'absent') {
    return 'file: state: absent before any backup: rollback puts back only what is under 1 MiB';
  }
  return undefined;
}

export function safetyDiagnostics(rb: LoadedRunbook): Diagnostic[] {
  const out: Diagnostic[] = [];
  const file = rb.file;
  const plays = rb.plays ?? [];
  // rollback_all rolls back like rollback (every host of the run)
  const policyOf = (i: number) => { const p = plays[i]?.settings.on_failure ?? rb.runbook.on_failure; return p === 'rollback_all' ? 'rollback' : p; };
  const rollbackPlays = plays.length ? plays.filter((p) => policyOf(p.index) === 'rollback') : policyOf(0) === 'rollback' ? [undefined] : [];
  if (rollbackPlays.length === 0) return [];
  // a host keeps its backups across plays: a backup in an earlier play covers a later one
  const steps = rb.steps;
  const firstBackup = steps.findIndex((s) => s.type === 'backup');
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
    out.push({ kind: 'schema', severity: 'warning', message: `step "${step.name}": ${why}`, hint: 'move a backup step before it, or declare it read_only when it changes nothing', file, line: step.line, col: step.col });
  });
  return out;
}
