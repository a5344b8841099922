/**
 * YAML with source positions. js-yaml 5 builds the values (anchors, merge keys, tags); its event
 * stream, which carries source offsets, gives us where every key and value stands, so a schema
 * error at `/steps/3/shell` can name `file:line:col`.
 */
import {
  CORE_SCHEMA,
  EVENT_ID,
  constructFromEvents,
  getScalarValue,
  mergeTag,
  parseEvents,
  type Event,
  type ScalarEvent,
} from 'js-yaml';
import type { Diagnostic } from '../errors.js';

/** Where a node stands: its value, and its key when it is a mapping value. Offsets into the text. */
export interface NodePos {
  value: number;
  key?: number;
  /** scalar style (1 plain, 2 single, 3 double, 4 literal, 5 folded); absent for collections */
  style?: number;
}

/** JSON-pointer-like path segments from the document root. */
export type Path = ReadonlyArray<string | number>;

export function pointer(path: Path): string {
  return path.map((p) => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

export class SourceText {
  private readonly lineStarts: number[];
  constructor(
    readonly file: string,
    readonly text: string,
  ) {
    this.lineStarts = [0];
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }
  /** 1-based line and column of an offset. */
  lineCol(offset: number): { line: number; col: number } {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: Math.max(1, offset - this.lineStarts[lo]! + 1) };
  }
  offsetOf(line: number, col: number): number {
    return (this.lineStarts[line - 1] ?? this.text.length) + col - 1;
  }
}

export interface YamlDocument {
  source: SourceText;
  /** undefined when the YAML could not be parsed */
  value: unknown;
  positions: Map<string, NodePos>;
  diagnostics: Diagnostic[];
}

const SCHEMA = CORE_SCHEMA.withTags(mergeTag);

interface Frame {
  kind: 'map' | 'seq';
  path: (string | number)[];
  index: number;
  /** map: the key whose value comes next; undefined while expecting a key */
  key?: string;
  keys: Map<string, number>;
  merges: string[];
  anchor?: string;
}

/** Load one YAML document, keeping positions and reporting every duplicate key. Never throws. */
export function loadYaml(text: string, file: string): YamlDocument {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const source = new SourceText(file, text);
  const positions = new Map<string, NodePos>();
  const diagnostics: Diagnostic[] = [];
  const at = (offset: number) => ({ file, ...source.lineCol(offset) });

  let events: Event[];
  try {
    events = parseEvents(text, { filename: file, maxDepth: 64 });
  } catch (e) {
    diagnostics.push(yamlErrorDiagnostic(e, source));
    return { source, value: undefined, positions, diagnostics };
  }

  // Walk the events to record positions and find duplicate keys (js-yaml stops at the first).
  const stack: Frame[] = [];
  const anchors = new Map<string, string>(); // anchor name -> pointer where it was defined
  let documents = 0;
  const childPath = (): (string | number)[] | undefined => {
    const top = stack[stack.length - 1];
    if (!top) return [];
    if (top.kind === 'seq') return [...top.path, top.index++];
    return top.key === undefined ? undefined : [...top.path, top.key];
  };
  const anchorName = (e: { anchorStart: number; anchorEnd: number }) =>
    e.anchorStart >= 0 ? text.slice(e.anchorStart, e.anchorEnd) : undefined;
  const copySubtree = (fromPtr: string, toPtr: string, onlyMissing: boolean) => {
    for (const [p, pos] of [...positions]) {
      if (p === fromPtr || !p.startsWith(fromPtr + '/')) continue;
      const target = toPtr + p.slice(fromPtr.length);
      if (onlyMissing && positions.has(target)) continue;
      positions.set(target, pos);
    }
  };
  const valueDone = () => {
    const top = stack[stack.length - 1];
    if (top && top.kind === 'map') top.key = undefined;
  };

  for (const ev of events) {
    switch (ev.type) {
      case EVENT_ID.DOCUMENT:
        documents++;
        if (documents === 2) {
          diagnostics.push({ kind: 'yaml', severity: 'error', message: 'only one YAML document is allowed per file (found a second `---`)', ...at(secondDocumentOffset(text)) });
        }
        break;
      case EVENT_ID.SCALAR:
      case EVENT_ID.ALIAS:
      case EVENT_ID.MAPPING:
      case EVENT_ID.SEQUENCE: {
        const top = stack[stack.length - 1];
        const offset = ev.type === EVENT_ID.SCALAR ? ev.valueStart : ev.type === EVENT_ID.ALIAS ? ev.anchorStart - 1 : ev.start;
        if (top && top.kind === 'map' && top.key === undefined) {
          // A key.
          const key = ev.type === EVENT_ID.SCALAR ? getScalarValue(text, ev as ScalarEvent) : ev.type === EVENT_ID.ALIAS ? '*' + anchorName(ev) : '[complex key]';
          if (ev.type === EVENT_ID.MAPPING || ev.type === EVENT_ID.SEQUENCE) {
            diagnostics.push({ kind: 'yaml', severity: 'error', message: 'a mapping key must be a plain value, not a list or mapping', ...at(offset) });
            return { source, value: undefined, positions, diagnostics };
          }
          if (key === '<<') {
            top.key = '<<';
          } else {
            const first = top.keys.get(key);
            if (first !== undefined) {
              const f = source.lineCol(first);
              diagnostics.push({
                kind: 'yaml',
                severity: 'error',
                message: `duplicate key \`${key}\` (first defined at line ${f.line}, column ${f.col})`,
                ...at(offset),
              });
            } else top.keys.set(key, offset);
            top.key = key;
            const p = pointer([...top.path, key]);
            positions.set(p, { value: offset, key: offset });
          }
          break;
        }
        const path = childPath() ?? [];
        const ptr = pointer(path);
        const prev = positions.get(ptr);
        const pos: NodePos = { value: offset };
        if (prev?.key !== undefined && top?.kind === 'map') pos.key = prev.key;
        if (ev.type === EVENT_ID.SCALAR) pos.style = ev.style;
        if (top?.kind === 'map' && top.key === '<<') {
          // merge source: remember it, positions are copied when the mapping closes
          if (ev.type === EVENT_ID.ALIAS) {
            const from = anchors.get(anchorName(ev) ?? '');
            if (from !== undefined) top.merges.push(from);
          }
        } else {
          positions.set(ptr, pos);
        }
        if (ev.type === EVENT_ID.ALIAS) {
          const from = anchors.get(anchorName(ev) ?? '');
          if (from !== undefined && !(top?.kind === 'map' && top.key === '<<')) copySubtree(from, ptr, false);
          valueDone();
        } else if (ev.type === EVENT_ID.SCALAR) {
          const a = anchorName(ev);
          if (a) anchors.set(a, ptr);
          valueDone();
        } else {
          const frame: Frame = { kind: ev.type === EVENT_ID.MAPPING ? 'map' : 'seq', path, index: 0, keys: new Map(), merges: [] };
          const a = anchorName(ev);
          if (a) {
            anchors.set(a, ptr);
            frame.anchor = a;
          }
          // a merge source written inline (`<<: {a: 1}`) lives at <map>/<< ; remember it
          if (top?.kind === 'map' && top.key === '<<') top.merges.push(ptr);
          stack.push(frame);
        }
        break;
      }
      case EVENT_ID.POP: {
        const frame = stack.pop();
        if (!frame) break;
        const ptr = pointer(frame.path);
        for (const from of frame.merges) copySubtree(from, ptr, true);
        valueDone();
        break;
      }
    }
  }

  let value: unknown;
  try {
    // json: true lets later duplicates win instead of throwing: we already reported them all.
    const docs = constructFromEvents(events, { source: text, filename: file, schema: SCHEMA, json: true, maxAliases: 1000, maxTotalMergeKeys: 10_000 });
    value = docs[0] ?? null;
  } catch (e) {
    diagnostics.push(yamlErrorDiagnostic(e, source));
    value = undefined;
  }
  return { source, value, positions, diagnostics };
}

/** Where the second document starts: the `---` that does not open the first one. */
function secondDocumentOffset(text: string): number {
  const markers = [...text.matchAll(/^---(?=\s|$)/gm)].map((m) => m.index ?? 0);
  const firstContent = text.search(/^(?!#|\s*$)/m);
  const opensFirst = markers.length > 0 && markers[0] === firstContent;
  return markers[opensFirst ? 1 : 0] ?? 0;
}

interface YamlErrorLike {
  reason?: string;
  message?: string;
  mark?: { line: number; column: number; position?: number };
}

function yamlErrorDiagnostic(e: unknown, source: SourceText): Diagnostic {
  const err = (e ?? {}) as YamlErrorLike;
  let reason = err.reason ?? (err.message ?? String(e)).split('\n')[0]!;
  const line = err.mark ? err.mark.line + 1 : 1;
  const col = err.mark ? err.mark.column + 1 : 1;
  const lineText = source.text.split('\n')[line - 1] ?? '';
  let hint: string | undefined;
  if (/\t/.test(lineText.slice(0, Math.max(col, lineText.search(/\S|$/) + 1)))) {
    hint = 'YAML indentation must use spaces, not tabs';
  }
  if (/duplicated mapping key/.test(reason)) reason = 'duplicate key';
  return { kind: 'yaml', severity: 'error', message: `YAML syntax error: ${reason}`, file: source.file, line, col, ...(hint ? { hint } : {}) };
}

/**
 * Position for a path: the node itself, or the nearest ancestor that has one.
 * `prefer: 'key'` points at the key of a mapping entry (for "unknown key" errors).
 */
export function positionOf(doc: Pick<YamlDocument, 'positions' | 'source'>, path: Path, prefer: 'key' | 'value' = 'value'): { line: number; col: number } {
  for (let n = path.length; n >= 0; n--) {
    const pos = doc.positions.get(pointer(path.slice(0, n)));
    if (pos) {
      const offset = prefer === 'key' && pos.key !== undefined ? pos.key : pos.value;
      return doc.source.lineCol(offset);
    }
    prefer = 'key';
  }
  return { line: 1, col: 1 };
}

/** Source offset of character `i` inside a scalar string value (exact for plain and quoted one-line scalars). */
export function offsetInScalar(pos: NodePos, i: number): number {
  if (pos.style === 4 || pos.style === 5) return pos.value;
  return pos.value + i;
}

/** A YAML mapping as loaded: an object that is neither null nor an array. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
