/**
 * A run as spans on a time axis, from its journal: per host, connecting, each step (start to end,
 * by status), waits, rollback with its restores and undos; per run, the batches. A journal holds
 * the run and any later `runbook rollback ID` appended to it: each is one section.
 * Everything comes from journal lines, which are already redacted.
 */
import type { Event, RunStartEvent } from '../../engine/events.js';
import type { JournalLine } from '../../engine/journal.js';

export type SpanKind = 'connect' | 'unreachable' | 'ok' | 'changed' | 'change' | 'failed' | 'skipped' | 'unknown' | 'wait' | 'rollback' | 'restore' | 'undo';

export interface Span {
  host: string;
  kind: SpanKind;
  /** ms from the section's start */
  start: number;
  end: number;
  label: string;
  /** step type, or what the span is (connect, rollback, restore...) */
  type: string;
  commands: string[];
  message?: string;
  item?: unknown;
}

export interface BatchMark {
  at: number;
  label: string;
}

export interface TimelineSection {
  runId: string;
  mode: string;
  startedAt: string;
  operator: string;
  runbook: string;
  durationMs: number;
  exitCode?: number;
  hosts: string[];
  /** host → final status from the recap */
  status: Record<string, string>;
  spans: Span[];
  batches: BatchMark[];
  warnings: string[];
}

export interface Timeline {
  runId: string;
  sections: TimelineSection[];
}

/** instants (a restore, an undo) get this width so they can be seen and hovered */
const MIN_SPAN_MS = 1;

function ms(line: JournalLine): number {
  return Date.parse(line.t);
}

export function timelineFromJournal(runId: string, lines: readonly JournalLine[]): Timeline {
  const sections: TimelineSection[] = [];
  let cur: TimelineSection | undefined;
  let t0 = 0;
  /** host → open spans (steps may be nested only by loops: each item opens and closes in turn) */
  const open = new Map<string, { start: number; label: string; index?: number }>();
  const rollbackOpen = new Map<string, number>();
  const connectOpen = new Map<string, number>();
  for (const line of lines) {
    const e = line as Event & { t: string };
    const at = ms(line) - t0;
    if (e.kind === 'run-start') {
      const s = e as RunStartEvent;
      t0 = ms(line);
      cur = { runId: s.runId, mode: s.mode, startedAt: s.time, operator: s.operator, runbook: s.runbook.file, durationMs: 0, hosts: s.inventory.hosts.map((h) => h.name), status: {}, spans: [], batches: [], warnings: [] };
      sections.push(cur);
      open.clear();
      rollbackOpen.clear();
      connectOpen.clear();
      continue;
    }
    if (!cur) continue;
    const section = cur;
    const add = (span: Omit<Span, 'end'> & { end?: number }) => {
      if (!section.hosts.includes(span.host)) section.hosts.push(span.host);
      section.spans.push({ ...span, end: Math.max(span.end ?? span.start, span.start + MIN_SPAN_MS) });
    };
    switch (e.kind) {
      case 'batch-start':
        section.batches.push({ at, label: `batch ${e.index}/${e.count}` });
        break;
      case 'host-start':
        connectOpen.set(e.host, at);
        break;
      case 'host-connected':
        add({ host: e.host, kind: 'connect', start: connectOpen.get(e.host) ?? at, end: at, label: 'connect', type: 'connect', commands: [] });
        connectOpen.delete(e.host);
        break;
      case 'host-unreachable':
        add({ host: e.host, kind: 'unreachable', start: connectOpen.get(e.host) ?? at, end: at, label: 'unreachable', type: 'connect', commands: [], message: e.message });
        connectOpen.delete(e.host);
        break;
      case 'step-start':
        open.set(e.host, { start: at, label: e.name, index: e.index });
        break;
      case 'step-end': {
        const o = open.get(e.host);
        open.delete(e.host);
        const start = o ? o.start : at - e.durationMs;
        const kind: SpanKind = e.type === 'wait_for' && e.status !== 'failed' ? 'wait' : e.status;
        add({
          host: e.host,
          kind,
          start,
          end: at,
          label: `${e.index}/${e.total} ${e.name}`,
          type: e.type,
          commands: e.commands,
          ...(e.message !== undefined ? { message: e.message } : e.summary !== undefined ? { message: e.summary } : {}),
          ...(e.item !== undefined ? { item: e.item } : {}),
        });
        break;
      }
      case 'rollback-start':
        rollbackOpen.set(e.host, at);
        break;
      case 'restore':
        add({ host: e.host, kind: 'restore', start: at, label: `restore from ${e.dir}`, type: 'restore', commands: e.commands, message: [e.restored.length ? `restored ${e.restored.join(', ')}` : '', e.removed.length ? `removed ${e.removed.join(', ')}` : ''].filter(Boolean).join('; ') || (e.changed ? 'restored' : 'already as backed up') });
        break;
      case 'undo':
        add({ host: e.host, kind: 'undo', start: at, label: `undo: ${e.name}`, type: e.type, commands: [], ...(e.message ? { message: e.message } : {}) });
        break;
      case 'rollback-end':
        add({ host: e.host, kind: 'rollback', start: rollbackOpen.get(e.host) ?? at, end: at, label: e.ok ? 'rolled back' : 'rollback failed', type: 'rollback', commands: [], ...(e.message ? { message: e.message } : {}) });
        rollbackOpen.delete(e.host);
        break;
      case 'warning':
        section.warnings.push(e.host ? `${e.host}: ${e.message}` : e.message);
        break;
      case 'run-end':
        section.durationMs = e.durationMs;
        section.exitCode = e.exitCode;
        for (const r of e.recap) section.status[r.host] = r.status;
        break;
      default:
        break;
    }
  }
  for (const s of sections) if (!s.durationMs) s.durationMs = Math.max(0, ...s.spans.map((x) => x.end));
  return { runId, sections };
}
