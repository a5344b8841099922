/**
 * `runbook resume`: the handlers the interrupted run had notified and not run yet. A step journaled
 * as done is not run again, so it cannot notify again: what it notified is replayed from the
 * journal (its step-end `changed`, the runbook's `notify:` for that step: resume refuses a runbook
 * that changed since) and armed again when the resumed run passes that step, so the handler still
 * runs at the flush it would have run at. A handler journaled as run after the notification is
 * not due; one the runner died in (before its step-end, or in a loop) is due again, as a step would be.
 */
import type { LoadedRunbook, StepInfo } from '../runbook/model.js';
import type { HandlerQueue } from './handlers.js';
import { notifyTargets } from './handlers.js';
import type { JournalLine } from './journal.js';

/** Per host: notifying step id → the ids of the handlers it notified that had not run when the runner died. */
export type PendingNotifications = Map<string, Map<string, string[]>>;

export function pendingNotifications(lines: JournalLine[], rb: LoadedRunbook): PendingNotifications {
  const byId = new Map<string, StepInfo>();
  for (const p of rb.plays) for (const s of [...p.steps, ...p.handlers]) byId.set(s.id, s);
  /** per host: handler id → the notifying step ids since it last ran */
  const due = new Map<string, Map<string, Set<string>>>();
  const lastBy = new Map<string, Map<string, Set<string>>>();
  const lastStarted = new Map<string, string>();
  const rolling = new Set<string>();
  let rollbackPart = false;
  for (const l of lines) {
    if (l.kind === 'run-start') rollbackPart = l.mode === 'rollback';
    // a host's own rollback (and `runbook rollback ID`) runs no handlers: what follows is not the run's
    if (rollbackPart || (l.kind !== 'run-start' && 'host' in l && typeof l.host === 'string' && rolling.has(l.host))) continue;
    if (l.kind === 'rollback-start') rolling.add(l.host);
    if (l.kind === 'step-start') lastStarted.set(l.host, l.step);
    if (l.kind !== 'step-end') continue;
    const step = byId.get(l.step);
    if (!step) continue;
    const d = due.get(l.host) ?? due.set(l.host, new Map()).get(l.host)!;
    if (step.section === 'handlers' && d.has(step.id)) {
      // it ran (each item of a loop ends like this): not due, unless the runner died in it
      (lastBy.get(l.host) ?? lastBy.set(l.host, new Map()).get(l.host)!).set(step.id, d.get(step.id)!);
      d.delete(step.id);
    }
    if (l.status !== 'changed') continue;
    for (const t of notifyTargets(step)) {
      const h = rb.plays[step.play]?.handlers.find((x) => x.name === t);
      if (h) (d.get(h.id) ?? d.set(h.id, new Set()).get(h.id)!).add(step.id);
    }
  }
  // a handler stays due until its step-end; a loop's items each end: the runner may have died between two
  for (const [host, step] of lastStarted) {
    const by = lastBy.get(host)?.get(step);
    const d = due.get(host);
    if (by && d && !d.has(step) && byId.get(step)?.raw.loop !== undefined) d.set(step, by);
  }
  const out: PendingNotifications = new Map();
  for (const [host, d] of due) {
    const m = new Map<string, string[]>();
    for (const [handler, notifiers] of d) for (const n of notifiers) m.set(n, [...(m.get(n) ?? []), handler]);
    if (m.size) out.set(host, m);
  }
  return out;
}

/** Notify again what `notifier` (a step journaled as done, or a handler) had notified before the runner died. */
export function rearm(queue: HandlerQueue, handlers: StepInfo[], pending: Map<string, string[]> | undefined, notifier: Pick<StepInfo, 'id' | 'name'>): void {
  for (const id of pending?.get(notifier.id) ?? []) {
    const h = handlers.find((x) => x.id === id);
    if (h) queue.notify(h.name, notifier.name);
  }
}
