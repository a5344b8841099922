/**
 * `--diff`: what a step would do to a file, as the operator reviews it: a unified diff of text
 * content (jsdiff), or a one-line summary when the content is binary, large or private, plus the
 * state, mode and owner changes.
 *
 * Secrets: both texts go through the run's redactor BEFORE they are diffed (a secret spanning
 * lines is still hidden), and the emitter redacts the event again. A step that writes a secret
 * hides its removed lines too: they may hold the secret's previous value, which no redactor knows.
 * A private file (not world-readable, before or after: keys, kubeconfigs) never shows its
 * content, as it never goes into the journal (./util.ts journalable).
 */
// the one module, not diff's index (19 modules loaded at every start)
import { createTwoFilesPatch } from 'diff/lib/patch/create.js';
import { modeString } from './mode.js';

/** Text larger than this (either side) is summarised, not diffed. */
export const DIFF_TEXT_LIMIT = 64 * 1024;
/** jsdiff gives up on two texts this different after this long (then: summarised). */
const DIFF_TIMEOUT_MS = 2000;

export interface FileDiff {
  path: string;
  /** the kind of thing at the path, when it changes: `absent → file`, `file → absent`, `absent → directory` */
  state?: string;
  /** `0644 → 0600` */
  mode?: string;
  /** `0:0 → kube:kube` */
  owner?: string;
  /** unified diff of the text content (redacted) */
  unified?: string;
  /** the content, summarised: `binary, 12 KiB → 14 KiB`, `large file, sha256 … → …`, `private file …` */
  content?: string;
}

/** One side of a content change; `data` absent when it was too large to read for a diff. */
export interface ContentSide {
  exists: boolean;
  data?: Buffer;
  size?: number;
  sha256?: string;
  mode?: number;
}

/** How a step context asks for diffs (absent: no diffs, nothing extra is read). */
export interface DiffRequest {
  redact(text: string): string;
  /** the step's parameters mention a secret: removed lines are hidden */
  hideRemoved: boolean;
}

export function sizeText(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function isBinary(data: Buffer): boolean {
  if (data.subarray(0, 8000).includes(0)) return true;
  // not valid UTF-8: shown as bytes it would only garble the terminal
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(data);
    return false;
  } catch {
    return true;
  }
}

const isPrivate = (s: ContentSide) => s.exists && s.mode !== undefined && (s.mode & 0o004) === 0;
const shaText = (s: ContentSide) => (s.exists ? (s.sha256 ? s.sha256.slice(0, 12) + '…' : '?') : 'none');
const sizeOf = (s: ContentSide) => (s.exists ? sizeText(s.size ?? s.data?.length ?? 0) : 'none');

/** Is the side small enough to be read and diffed? */
export function diffable(size: number | undefined): boolean {
  return (size ?? 0) <= DIFF_TEXT_LIMIT;
}

/** The content part of a diff: a unified diff, a summary, or nothing when the content is the same. */
export function contentDiff(path: string, before: ContentSide, after: ContentSide, req: DiffRequest): Pick<FileDiff, 'unified' | 'content'> {
  if (before.exists && after.exists && before.sha256 !== undefined && before.sha256 === after.sha256) return {};
  if (!before.exists && !after.exists) return {};
  const sizes = `${sizeOf(before)} → ${sizeOf(after)}`;
  const hashes = `sha256 ${shaText(before)} → ${shaText(after)}`;
  if (isPrivate(before) || isPrivate(after)) return { content: `private file (mode ${modeString((isPrivate(before) ? before : after).mode!)}): content not shown, ${sizes}, ${hashes}` };
  const b = before.exists ? before.data : Buffer.alloc(0);
  const a = after.exists ? after.data : Buffer.alloc(0);
  if (b === undefined || a === undefined) return { content: `large file (over ${sizeText(DIFF_TEXT_LIMIT)}): ${sizes}, ${hashes}` };
  if (isBinary(b) || isBinary(a)) return { content: `binary, ${sizes}` };
  const patch = createTwoFilesPatch(before.exists ? path : '/dev/null', after.exists ? path : '/dev/null', req.redact(b.toString('utf8')), req.redact(a.toString('utf8')), undefined, undefined, {
    context: 3,
    timeout: DIFF_TIMEOUT_MS,
  });
  if (patch === undefined) return { content: `too different to diff quickly: ${sizes}, ${hashes}` };
  // drop jsdiff's "Index:" and "=====" banner: the rest is a plain unified diff (`--- a`, `+++ b`, hunks)
  let lines = patch.split('\n');
  lines = lines.slice(Math.max(0, lines.findIndex((l) => l.startsWith('--- '))));
  if (lines[lines.length - 1] === '') lines.pop();
  if (req.hideRemoved) lines = lines.map((l, i) => (i >= 2 && l.startsWith('-') ? '-*** (previous line hidden: the step writes a secret)' : l));
  return { unified: lines.join('\n') };
}

/** `0644 → 0600`, or undefined when the mode does not change. */
export function modeChange(before: number | undefined, after: number | undefined): string | undefined {
  if (after === undefined || before === after) return undefined;
  return `${before === undefined ? 'none' : modeString(before)} → ${modeString(after)}`;
}

/** `0:0 → kube:kube`, or undefined when no owner is asked for or it is already right. */
export function ownerChange(before: { uid?: number; gid?: number; user?: string; group?: string }, owner: string | undefined, group: string | undefined, changes: boolean): string | undefined {
  if (!changes || (owner === undefined && group === undefined)) return undefined;
  const was = before.uid === undefined ? 'none' : `${before.user ?? before.uid}:${before.group ?? before.gid}`;
  const user = owner ?? before.user ?? before.uid;
  const grp = group ?? before.group ?? before.gid;
  return `${was} → ${user ?? ''}${grp !== undefined ? `:${grp}` : ''}`;
}

/** Drop the empty parts; undefined when nothing is left to show. */
export function finishDiff(d: FileDiff): FileDiff | undefined {
  const out = Object.fromEntries(Object.entries(d).filter(([, v]) => v !== undefined)) as unknown as FileDiff;
  return Object.keys(out).length > 1 ? out : undefined;
}
