/**
 * `runbook resume ID`: continue a run whose runner died (SIGKILL, a closed laptop) from its
 * journal. Hosts that finished stay as they ended; the others run again with the same run id (so
 * the same `{{ run.id }}` backup directory: a backup this run made probes as done and is never
 * re-taken over changed files; the host lock the dead runner held is taken over): steps journaled
 * as done are not run again, nor judged again from what the host shows now (a renewed certificate
 * is what the run did, not a reason to roll back); what they registered is rebuilt from the
 * journal (./resume-values.ts), the first step not journaled as done is re-probed, and every host ends completed, or rolled back with everything
 * the journal says was changed (the original part's undo records and backups included).
 * Appended to the run's journal; a later `runbook rollback ID` sees both parts.
 */
import { dirname } from 'node:path';
import { userError } from '../errors.js';
import { unresumable } from './resume-values.js';
import { pendingNotifications } from './resume-handlers.js';
import type { HostEntry } from '../inventory/types.js';
import { loadRunbookFile } from '../runbook/load.js';
import { extraVarNames, extraVarValues } from '../runbook/extra-var-types.js';
import type { ExtraVars } from '../runbook/vars.js';
import type { ConnectOptions } from './connect.js';
import type { EventSink, RecapRow, RunStartEvent, StepEndEvent, StepStartEvent, HostEndEvent } from './events.js';
import { journalPath, readJournal, type JournalLine } from './journal.js';
import { hostEntryOf, hostsFromJournal } from './rollback.js';
import { withRunAnsible } from './host-connection.js';
import { runEngine, type EngineResult } from './run.js';
import type { ResumeSpec } from './resume-spec.js';
import type { Carry, JournaledItem } from './steps.js';

export interface ResumeOptions {
  id: string;
  stateDir?: string;
  sink?: EventSink;
  /** merged over the connection options the run recorded */
  connect?: ConnectOptions;
  /** -e values merged over the run's (secrets are journaled as ***: give them again); as given on the command line, typed by the runbook */
  extraVars?: ExtraVars;
  forks?: number;
  breakLock?: boolean;
  localDir?: string;
}

/** What the journal says each host had done when the runner died. */
export function resumeSpecOf(lines: JournalLine[]): { start: RunStartEvent; spec: ResumeSpec } {
  const facts = hostsFromJournal(lines);
  const start = facts.start;
  const finishedRows: RecapRow[] = [];
  const done = new Map<string, Set<string>>();
  const lastStarted = new Map<string, string>();
  // each step's items of the latest part of the run (the first run, then each resume) that ended it
  const items = new Map<string, { part: number; list: JournaledItem[]; withheld: boolean }>();
  let part = 0;
  for (const l of lines) {
    if (l.kind === 'run-start') part++;
    if (l.kind === 'host-end') {
      const e = l as HostEndEvent;
      finishedRows.push({ host: e.host, status: e.status, ...e.counts, unreachable: e.status === 'unreachable' ? 1 : 0, ...(e.message ? { message: e.message } : {}) });
    } else if (l.kind === 'step-start') lastStarted.set((l as StepStartEvent).host, (l as StepStartEvent).step);
    else if (l.kind === 'step-end') {
      const e = l as StepEndEvent;
      if (e.status === 'failed') continue;
      (done.get(e.host) ?? done.set(e.host, new Set()).get(e.host)!).add(e.step);
      const key = JSON.stringify([e.host, e.step]);
      let entry = items.get(key);
      if (!entry || entry.part !== part) items.set(key, (entry = { part, list: [], withheld: false }));
      // a value the redactor touched is not the value the step registered
      const withheld = e.registeredWithheld === true || (e.registered !== undefined && JSON.stringify(e.registered).includes('***'));
      entry.withheld ||= withheld;
      entry.list.push({ status: e.status, ...(e.registered && !withheld ? { facts: e.registered } : {}), ...('item' in e ? { item: e.item } : {}) });
    }
  }
  const registered = new Map<string, Map<string, JournaledItem[] | 'withheld'>>();
  for (const [key, entry] of items) {
    const [host, step] = JSON.parse(key) as [string, string];
    const m = registered.get(host) ?? registered.set(host, new Map()).get(host)!;
    m.set(step, entry.withheld ? 'withheld' : entry.list);
  }
  // the step a host was in when the runner died may be half done (a loop): it runs again, re-probed
  for (const [host, step] of lastStarted) done.get(host)?.delete(step);
  const carry = new Map<string, Carry>();
  for (const h of start.inventory.hosts) {
    carry.set(h.name, {
      backups: facts.backups.get(h.name) ?? [],
      backupPaths: facts.backupPaths.get(h.name) ?? new Map(),
      undos: facts.undos.get(h.name) ?? [],
      withheld: facts.withheld.get(h.name) ?? [],
      uncertain: new Set(),
      notRestored: facts.notRestored.get(h.name) ?? [],
    });
  }
  return { start, spec: { done, carry, finishedRows, selected: new Set(start.steps.map((s) => s.id)), registered } };
}

export async function resumeRun(o: ResumeOptions): Promise<EngineResult> {
  // found from any directory; the resumed part is appended to the same journal
  const stateDir = dirname(dirname(journalPath(o.id, o.stateDir)));
  const lines = readJournal(o.id, stateDir);
  if (lines.some((l) => l.kind === 'run-start' && l.mode === 'rollback')) {
    throw userError('usage', `run ${o.id} was rolled back: there is nothing to resume`, { hint: 'start a new run with runbook apply' });
  }
  const { start, spec } = resumeSpecOf(lines);
  const end = lines.find((l) => l.kind === 'run-end' && l.mode === 'apply');
  if (end && end.kind === 'run-end') throw userError('usage', `run ${o.id} finished (exit ${end.exitCode}): there is nothing to resume`, { hint: `runbook show ${o.id} tells how it ended` });
  const known = new Set<string>([...Object.keys(start.extraVars), ...extraVarNames(o.extraVars)]);
  for (const h of start.inventory.hosts) for (const k of Object.keys(h.vars)) known.add(k);
  const loaded = await loadRunbookFile(start.runbook.file, { knownVarNames: known });
  if (!loaded.runbook) throw userError('usage', `cannot load the runbook ${start.runbook.file} of run ${o.id}: ${loaded.diagnostics.find((d) => d.severity === 'error')?.message ?? 'invalid'}`);
  if (loaded.runbook.sha256 !== start.runbook.sha256) {
    throw userError('usage', `the runbook ${start.runbook.file} changed since run ${o.id} started: resuming would run other steps than the journal recorded`, {
      hint: `put the runbook back as it was (git: ${start.runbook.git?.commit ?? 'its commit'}), or roll back with runbook rollback ${o.id}`,
    });
  }
  const given = extraVarValues(loaded.runbook, o.extraVars);
  const finished = new Set(spec.finishedRows.map((r) => r.host));
  const stuck = unresumable(loaded.runbook, spec, start.inventory.hosts.map((h) => h.name).filter((h) => !finished.has(h)));
  if (stuck) {
    throw userError('usage', `run ${o.id} cannot be resumed: on ${stuck.host}, step "${stuck.step.name}" changed the host before the interruption and registered \`${stuck.name}\`, which later steps read, but its value is not in the journal (no_log or a secret is never journaled); running the step again would not be resuming`, {
      hint: `roll the run back with runbook rollback ${o.id}, then apply again`,
    });
  }
  spec.notified = pendingNotifications(lines, loaded.runbook);
  const hosts: HostEntry[] = start.inventory.hosts.filter((h) => !finished.has(h.name)).map(hostEntryOf);
  return runEngine({
    rb: loaded.runbook,
    hosts,
    ...(start.inventory.file ? { inventoryFile: start.inventory.file } : {}),
    extraVars: { ...start.extraVars, ...given },
    dryRun: false,
    runId: o.id,
    // the run's Ansible settings first: a rollback or resume from another directory connects as the run did
    connect: { ...start.connection, ...(o.connect ?? {}), ...withRunAnsible(start.connection, o.connect) },
    stateDir,
    resume: spec,
    ...(o.forks ? { forks: o.forks } : {}),
    ...(o.breakLock ? { breakLock: true } : {}),
    ...(o.sink ? { sink: o.sink } : {}),
    ...(o.localDir ? { localDir: o.localDir } : {}),
  });
}
