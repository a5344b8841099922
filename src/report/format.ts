/**
 * One formatter per event kind. `FORMATTERS` is a mapped type over `Event['kind']`: adding an
 * event kind without a formatter does not compile. Formatters return the lines to print (none
 * for events a mode does not show). Colours through ./colors.ts (terminal only, NO_COLOR honoured).
 */
import { colors as pc } from './colors.js';
import { diffLines } from './diff-render.js';
import type { EventKind, EventOf, StepStatus, HostStatus } from '../engine/events.js';

export interface FormatContext {
  /** one line per step (few hosts); otherwise one line per host */
  perStep: boolean;
  /** plan / dry run: show the commands under each step that would change */
  showCommands: boolean;
  /** widest host name, for alignment */
  hostWidth: number;
}

export type Formatter<K extends EventKind> = (e: EventOf<K>, c: FormatContext) => string[];
export type Formatters = { [K in EventKind]: Formatter<K> };

const STATUS_WIDTH = 8;

export function colorStatus(s: StepStatus | HostStatus | string, width = STATUS_WIDTH): string {
  const text = s.padEnd(width);
  switch (s) {
    case 'ok':
      return pc.green(text);
    case 'changed':
    case 'change':
    case 'rolled-back':
      return pc.yellow(text);
    case 'failed':
    case 'unreachable':
    case 'rollback-failed':
    case 'aborted':
      return pc.red(text);
    case 'unknown':
      return pc.magenta(text);
    default:
      return pc.dim(text);
  }
}

function tag(host: string, c: FormatContext): string {
  return pc.bold(`[${host}]`.padEnd(c.hostWidth + 2));
}

function itemText(item: unknown): string {
  if (item === undefined) return '';
  const s = typeof item === 'string' ? item : JSON.stringify(item);
  return ` (item ${s.length > 60 ? s.slice(0, 57) + '…' : s})`;
}

function indentLines(text: string, prefix: string): string[] {
  return text.split('\n').map((l) => prefix + l);
}

export function countsText(c: { ok: number; changed: number; failed: number; skipped: number; unknown: number }, plan = false): string {
  const parts = [`ok=${c.ok}`, `${plan ? 'change' : 'changed'}=${c.changed}`, `failed=${c.failed}`, `skipped=${c.skipped}`];
  if (c.unknown) parts.push(`unknown=${c.unknown}`);
  return parts.join(' ');
}

export const FORMATTERS: Formatters = {
  'run-start': (e) => {
    const what = e.mode === 'plan' ? 'PLAN' : e.mode === 'rollback' ? (e.dryRun ? 'ROLLBACK (dry run)' : 'ROLLBACK') : 'APPLY';
    const git = e.runbook.git ? ` @ ${e.runbook.git.commit.slice(0, 12)}${e.runbook.git.dirty ? ' (uncommitted changes)' : ''}` : '';
    return [pc.bold(`${what} ${e.runbook.name}`) + ` — run ${e.runId}, ${e.inventory.hosts.length} host${e.inventory.hosts.length === 1 ? '' : 's'}, ${e.runbook.file}${git}`];
  },
  'play-start': (e) => [
    pc.bold(`PLAY ${e.index}/${e.count} ${e.name}`) + ` — ${e.hosts.length ? e.hosts.join(', ') : 'no hosts'}` + (e.onFailure === 'rollback_all' ? pc.dim(' (a failure on any host rolls back every host of the run)') : ''),
  ],
  'batch-start': (e) => (e.count > 1 ? [pc.bold(`batch ${e.index}/${e.count}: ${e.hosts.length} host${e.hosts.length === 1 ? '' : 's'}`)] : []),
  'batch-end': (e) => (e.aborted ? [pc.red(`batch ${e.index}: ${e.message ?? 'too many failures'}; no further batch starts`)] : []),
  'host-start': () => [],
  'host-connected': () => [],
  'host-unreachable': (e, c) => [`${tag(e.host, c)} ${colorStatus('unreachable')} ${e.message}`],
  'step-start': () => [],
  'step-apply': () => [],
  'step-end': (e, c) => {
    if (!c.perStep && e.status !== 'failed' && !e.diff) return [];
    const head = `${tag(e.host, c)} ${colorStatus(e.status)} ${`${e.index}/${e.total}`.padStart(5)} ${e.name}${itemText(e.item)}`;
    const marked = e.irreversible ? `${head} ${pc.red(`(irreversible: rollback cannot ${e.notRestored?.length ? `put back ${e.notRestored.join(', ')}` : 'undo it'})`)}` : head;
    const out = [e.ignored ? `${marked} ${pc.dim('(ignored)')}` : marked];
    const detail = e.status === 'failed' ? e.message : c.showCommands && (e.status === 'change' || e.status === 'unknown') ? e.summary ?? e.message : undefined;
    if (detail) out.push(...indentLines(detail, ' '.repeat(c.hostWidth + 3) + pc.dim('│ ')));
    if (c.showCommands && e.status !== 'skipped' && e.status !== 'failed') {
      for (const cmd of e.commands) out.push(' '.repeat(c.hostWidth + 3) + pc.cyan('$ ') + cmd);
    }
    if (e.diff) out.push(...diffLines(e.diff, ' '.repeat(c.hostWidth + 3)));
    return out;
  },
  'host-end': (e, c) => {
    if (e.status === 'unreachable') return [];
    const msg = e.message && e.status !== 'ok' ? ` — ${e.message.split('\n')[0]}` : '';
    if (c.perStep && e.status === 'ok') return [];
    const ttr = e.timeToRecoverMs !== undefined ? ` (time to recover ${(e.timeToRecoverMs / 1000).toFixed(1)}s)` : '';
    return [`${tag(e.host, c)} ${colorStatus(e.status)} ${countsText(e.counts, c.showCommands)}${ttr}${msg}`];
  },
  'rollback-start': (e, c) => [`${tag(e.host, c)} ${pc.yellow('rollback')} (${e.reason})${e.backups.length ? `; restoring ${e.backups.join(', ')}` : '; no backups recorded'}`],
  restore: (e, c) => {
    const pad = ' '.repeat(c.hostWidth + 3);
    if (e.dryRun) {
      if (!e.changed) return [`${tag(e.host, c)} ${colorStatus('ok')} restore ${e.dir}: already identical to the backup`];
      return [
        `${tag(e.host, c)} ${colorStatus('change')} restore ${e.dir}: ${e.differences?.length ?? 0} difference(s)`,
        ...(e.differences ?? []).slice(0, 20).map((d) => pad + pc.dim('│ ') + d),
        ...e.commands.map((cmd) => pad + pc.cyan('$ ') + cmd),
      ];
    }
    return [`${tag(e.host, c)} ${colorStatus(e.changed ? 'changed' : 'ok')} restored ${e.restored.join(', ') || '(nothing)'} from ${e.dir}, verified sha256${e.removed.length ? `; removed ${e.removed.join(', ')}` : ''}`];
  },
  undo: (e, c) => {
    const verb = e.dryRun ? 'would undo' : 'undid';
    if (e.message) return [`${tag(e.host, c)} ${colorStatus('failed')} undo "${e.name}": ${e.message}`];
    return [`${tag(e.host, c)} ${colorStatus(e.dryRun ? 'change' : 'changed')} ${verb} "${e.name}" (${e.type}: outside the backed-up paths)`];
  },
  'rollback-end': (e, c) => [`${tag(e.host, c)} ${e.ok ? pc.green('rollback done') : pc.red('rollback FAILED')}${e.message ? `: ${e.message}` : ''}`],
  warning: (e, c) => [`${e.host ? tag(e.host, c) + ' ' : ''}${pc.yellow('warning:')} ${e.message}`],
  'run-end': (e) => {
    const secs = (e.durationMs / 1000).toFixed(1);
    const lines: string[] = [];
    if (e.aborted) lines.push(pc.red(`aborted: ${e.aborted}`));
    if (e.mode === 'plan') lines.push(e.changesPending ? pc.yellow(`changes pending (${secs}s)`) : pc.green(`no changes pending (${secs}s)`));
    else lines.push(`${e.mode} ${e.exitCode === 0 ? pc.green('finished') : pc.red(`finished with exit code ${e.exitCode}`)} in ${secs}s — run ${e.runId}`);
    return lines;
  },
};

export function formatEvent<K extends EventKind>(e: EventOf<K>, c: FormatContext): string[] {
  return (FORMATTERS[e.kind] as Formatter<K>)(e, c);
}
