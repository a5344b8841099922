/**
 * `import:` (static, Ansible's import_tasks): a step `- { name: ..., import: backup.yaml, vars: {...} }`
 * is replaced, when the runbook is loaded, by a block of the steps of that file (a list of steps,
 * or a mapping with `steps`, optional `handlers`, which join the play's, and `vars` defaults).
 * Paths are relative to the importing file; fragments may import others; a cycle is an error.
 *
 * Diagnostics point into the imported file: the fragments are parsed on their own and their
 * positions moved into one virtual text (the runbook, then each fragment after a newline), so
 * every later check works on one document; `remap` then turns a position in the virtual text
 * back into the fragment's file, line and column and adds the chain of imports to the hint.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { messageOf, type Diagnostic } from '../errors.js';
import { BLOCK_PARTS } from './blocks.js';
import { ACTION_TYPES } from './model.js';
import { loadYaml, pointer, SourceText, type NodePos, type Path, type YamlDocument, isObject } from './yaml.js';

interface Fragment {
  /** the name diagnostics use: the importing file's directory joined with the import path */
  file: string;
  /** first line of the fragment in the virtual text */
  startLine: number;
  /** where it was imported, as an offset in the virtual text (remapped at the end) */
  site: number;
}

export interface Expanded {
  doc: YamlDocument;
  diagnostics: Diagnostic[];
  /** every file the runbook is made of: the runbook first, then the fragments */
  files: string[];
  /** a diagnostic at a virtual position → at its file, with the import chain */
  remap(d: Diagnostic): Diagnostic;
  /** the file and line a line of the virtual text was written at (a step's copy.src resolves against that file) */
  sourceOf(line: number): { file: string; line: number };
}

const FRAGMENT_KEYS = new Set(['steps', 'handlers', 'vars']);

/** Positions of a document whose keys start with `from`, moved under `to` and shifted by `base`. */
function moved(positions: Map<string, NodePos>, from: string, to: string, base: number, into: Map<string, NodePos>): void {
  for (const [k, p] of positions) {
    if (k !== from && !k.startsWith(from + '/')) continue;
    into.set(to + k.slice(from.length), { ...p, value: p.value + base, ...(p.key !== undefined ? { key: p.key + base } : {}) });
  }
}

/** An imported file: a regular file of reasonable size (never a device or a fifo). */
function readFragment(path: string): string {
  const st = statSync(path);
  if (!st.isFile()) throw new Error(st.isDirectory() ? 'it is a directory' : 'it is not a regular file');
  if (st.size > MAX_FRAGMENT) throw new Error(`it is larger than ${MAX_FRAGMENT / 1024 / 1024} MiB`);
  return readFileSync(path, 'utf8');
}
const MAX_FRAGMENT = 4 * 1024 * 1024;

/** Replace every `import:` step of a loaded runbook by a block of the imported steps. */
export function expandImports(root: YamlDocument, read: (path: string) => string = readFragment): Expanded {
  const rootFile = root.source.file;
  const texts = [root.source.text];
  let virtualLength = root.source.text.length;
  let virtualLines = root.source.text.split('\n').length;
  const fragments: Fragment[] = [];
  const pending: { offset: number; message: string; hint?: string }[] = [];
  const fromFragments: { d: Diagnostic; fragment: number }[] = [];
  if (!isObject(root.value)) return { doc: root, diagnostics: [], files: [rootFile], remap: (d) => d, sourceOf: (line) => ({ file: rootFile, line }) };
  const value = structuredClone(root.value);
  const addedHandlers = new Set<string>();
  const positions = new Map(root.positions);

  /** Expand the imports under `lists` of a document (its value and positions, already virtual). */
  const expand = (docValue: Record<string, unknown>, pos: Map<string, NodePos>, file: string, chain: string[], lists: { steps: Path; handlers: Path; others: Path[] }[]): void => {
    for (const { steps, handlers, others } of lists) {
      for (const other of others) {
        walk(listAt(docValue, other), other, (step, path) => {
          if ('import' in step) pending.push({ offset: offsetOf(pos, [...path, 'import'], true), message: `an import belongs in steps:, not in ${String(other[other.length - 1])}:` });
        });
      }
      walk(listAt(docValue, steps), steps, (step, path, list, index) => {
        if (!('import' in step) || typeof step.import !== 'string') return;
        const site = offsetOf(pos, [...path, 'import'], false);
        const own = Object.keys(step).find((k) => k === 'block' || (ACTION_TYPES as readonly string[]).includes(k));
        if (own) {
          pending.push({ offset: offsetOf(pos, [...path, own], true), message: `an import brings steps, it has no \`${own}\` of its own`, hint: `move \`${own}\` into a step of its own` });
          return;
        }
        const name = isAbsolute(step.import) ? step.import : join(dirname(file), step.import);
        const abs = resolve(name);
        if (chain.includes(abs)) {
          pending.push({ offset: site, message: `import cycle: ${[...chain.slice(chain.indexOf(abs)), abs].map((f) => relativeName(f)).join(' → ')}`, hint: 'a file cannot import itself, directly or through others' });
          return;
        }
        let text: string;
        try {
          text = read(abs);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          pending.push({ offset: site, message: code === 'ENOENT' ? `import: no such file: ${name}` : `import: cannot read ${name}: ${messageOf(e)}`, hint: 'import paths are relative to the importing file' });
          return;
        }
        const frag = loadYaml(text, name);
        const index_ = fragments.length;
        fragments.push({ file: name, startLine: virtualLines + 1, site });
        const base = virtualLength + 1;
        texts.push(text);
        virtualLength += 1 + text.length;
        virtualLines += text.split('\n').length;
        for (const d of frag.diagnostics) fromFragments.push({ d, fragment: index_ });
        if (frag.value === undefined) return;
        // the fragment as a mapping { steps, handlers, vars }, its positions virtual
        const fpos = new Map<string, NodePos>();
        let fv: Record<string, unknown>;
        if (Array.isArray(frag.value)) {
          fv = { steps: frag.value };
          moved(frag.positions, '', '/steps', base, fpos);
        } else if (isObject(frag.value)) {
          fv = frag.value;
          moved(frag.positions, '', '', base, fpos);
          for (const k of Object.keys(fv)) if (!FRAGMENT_KEYS.has(k)) pending.push({ offset: offsetOf(fpos, [k], true), message: `unknown key \`${k}\` in an imported file`, hint: 'an imported file holds steps:, and may hold handlers: and vars:' });
        } else {
          pending.push({ offset: base, message: 'an imported file must be a list of steps, or a mapping with steps:' });
          return;
        }
        if (!Array.isArray(fv.steps) || fv.steps.length === 0) {
          pending.push({ offset: fv.steps === undefined ? base : offsetOf(fpos, ['steps'], false), message: 'an imported file needs a non-empty steps: list' });
          return;
        }
        expand(fv, fpos, name, [...chain, abs], [{ steps: ['steps'], handlers: ['handlers'], others: [] }]);
        // the import step becomes a block of the fragment's steps, with the fragment's vars under its own
        const { import: _import, ...rest } = step;
        const vars = isObject(fv.vars) || isObject(step.vars) ? { vars: { ...(isObject(fv.vars) ? fv.vars : {}), ...(isObject(step.vars) ? step.vars : {}) } } : {};
        list[index] = { ...rest, ...vars, block: fv.steps };
        const at = pointer(path);
        const importPos = pos.get(pointer([...path, 'import']));
        if (importPos) pos.set(at + '/block', importPos);
        moved(fpos, '/steps', at + '/block', 0, pos);
        if (isObject(fv.vars)) moved(fpos, '/vars', at + '/vars', 0, pos);
        // its handlers join the play's, with the import's vars
        if (Array.isArray(fv.handlers) && fv.handlers.length) {
          const parent = ensureList(docValue, handlers);
          fv.handlers.forEach((h, j) => {
            // a file imported twice brings its handlers once (the first import's vars)
            const key = `${pointer(handlers)} ${abs} ${isObject(h) ? String(h.name) : j}`;
            if (addedHandlers.has(key)) return;
            addedHandlers.add(key);
            moved(fpos, `/handlers/${j}`, pointer([...handlers, parent.length]), 0, pos);
            parent.push(isObject(h) && vars.vars ? { ...h, vars: { ...vars.vars, ...(isObject(h.vars) ? h.vars : {}) } } : h);
          });
        }
      });
    }
  };

  const rootLists = Array.isArray(value.plays)
    ? value.plays.map((_, i) => ({ steps: ['plays', i, 'steps'], handlers: ['plays', i, 'handlers'], others: [['plays', i, 'handlers'], ['plays', i, 'rollback']] }))
    : [{ steps: ['steps'], handlers: ['handlers'], others: [['handlers'], ['rollback']] }];
  expand(value, positions, rootFile, [resolve(rootFile)], rootLists);
  const source = new SourceText(rootFile, texts.join('\n'));
  const where = (line: number): { file: string; line: number; fragment?: number } => {
    for (let i = fragments.length - 1; i >= 0; i--) if (line >= fragments[i]!.startLine) return { file: fragments[i]!.file, line: line - fragments[i]!.startLine + 1, fragment: i };
    return { file: rootFile, line };
  };
  /** "imported by a.yaml:3:5, by b.yaml:7:9" for a fragment */
  const chainOf = (fragment: number): string => {
    const out: string[] = [];
    for (let f: number | undefined = fragment; f !== undefined; ) {
      const at = source.lineCol(fragments[f]!.site);
      const w = where(at.line);
      out.push(`${w.file}:${w.line}:${at.col}`);
      f = w.fragment;
    }
    return `imported by ${out.join(', by ')}`;
  };
  const remap = (d: Diagnostic): Diagnostic => {
    if (d.file !== rootFile || d.line === undefined) return d;
    const w = where(d.line);
    if (w.fragment === undefined) return d;
    return { ...d, file: w.file, line: w.line, hint: d.hint ? `${d.hint}; ${chainOf(w.fragment)}` : chainOf(w.fragment) };
  };
  const diagnostics: Diagnostic[] = [
    ...pending.map((p) => remap({ kind: 'schema', severity: 'error', message: p.message, ...(p.hint ? { hint: p.hint } : {}), file: rootFile, ...source.lineCol(p.offset) })),
    ...fromFragments.map(({ d, fragment }) => ({ ...d, hint: d.hint ? `${d.hint}; ${chainOf(fragment)}` : chainOf(fragment) })),
  ];
  return { doc: { ...root, source, value, positions }, diagnostics, files: [rootFile, ...fragments.map((f) => f.file)], remap, sourceOf: (line) => { const w = where(line); return { file: w.file, line: w.line }; } };
}

function relativeName(abs: string): string {
  const cwd = process.cwd();
  return abs.startsWith(cwd + '/') ? abs.slice(cwd.length + 1) : abs;
}

function listAt(root: Record<string, unknown>, path: Path): unknown {
  let v: unknown = root;
  for (const k of path) v = isObject(v) || Array.isArray(v) ? (v as Record<string | number, unknown>)[k] : undefined;
  return v;
}

function ensureList(root: Record<string, unknown>, path: Path): unknown[] {
  const parent = listAt(root, path.slice(0, -1)) as Record<string, unknown>;
  const key = path[path.length - 1] as string;
  if (!Array.isArray(parent[key])) parent[key] = [];
  return parent[key] as unknown[];
}

function offsetOf(pos: Map<string, NodePos>, path: Path, key: boolean): number {
  for (let n = path.length; n >= 0; n--) {
    const p = pos.get(pointer(path.slice(0, n)));
    if (p) return key && p.key !== undefined ? p.key : p.value;
    key = true;
  }
  return 0;
}

/** Steps of a list and inside its blocks, depth first, with the list and index that hold each. */
function walk(list: unknown, at: Path, fn: (step: Record<string, unknown>, path: Path, list: unknown[], index: number) => void): void {
  if (!Array.isArray(list)) return;
  list.forEach((step, i) => {
    if (!isObject(step)) return;
    fn(step, [...at, i], list, i);
    const now = list[i];
    if (isObject(now) && !('import' in step)) for (const part of BLOCK_PARTS) walk(now[part], [...at, i, part], fn);
  });
}
