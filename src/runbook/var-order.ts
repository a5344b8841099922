/**
 * The order runbook vars are expanded in: each after the vars its templates name, whatever the
 * order they are written in (a level's vars_files are merged in after its `vars:`, ./vars-files.ts,
 * and a var may well template a name a file sets). hostScope (./vars.ts) expands in this order;
 * `validate` reports the cycles it finds, so the two agree on which runbooks can run.
 */
import type { Diagnostic } from '../errors.js';
import { candidateNames, hasTemplate, Literal, parseTemplate } from './expressions.js';
import { pointer, positionOf, type Path, type YamlDocument } from './yaml.js';
import type { VarsFiles } from './vars-files.js';

/** The top-level names the templates inside a var's value read (a Literal reads none). */
function namesRead(value: unknown): string[] {
  if (value instanceof Literal) return [];
  if (typeof value === 'string') {
    if (!hasTemplate(value)) return [];
    // a broken template reads nothing here: expanding it (or validate) reports the syntax error
    const { parts, error } = parseTemplate(value);
    return error ? [] : parts.flatMap((p) => (p.kind === 'expr' ? candidateNames(p.source) : []));
  }
  if (Array.isArray(value)) return value.flatMap(namesRead);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(namesRead);
  return [];
}

/**
 * The names of `vars` but those `given` elsewhere (which win, and are not expanded), each after the
 * vars it reads; or a cycle (`a`, `b`, `a`: a's templates read b, b's read a) when there is one.
 */
export function expansionOrder(vars: Record<string, unknown>, given: (name: string) => boolean): { order: string[]; cycle?: undefined } | { cycle: string[] } {
  const order: string[] = [];
  const done = new Set<string>();
  const open: string[] = [];
  const visit = (k: string): string[] | undefined => {
    if (done.has(k) || given(k) || !Object.hasOwn(vars, k)) return undefined;
    if (open.includes(k)) return [...open.slice(open.indexOf(k)), k];
    open.push(k);
    for (const n of namesRead(vars[k])) {
      const cycle = visit(n);
      if (cycle) return cycle;
    }
    open.pop();
    done.add(k);
    order.push(k);
    return undefined;
  };
  for (const k of Object.keys(vars)) {
    const cycle = visit(k);
    if (cycle) return { cycle };
  }
  return { order };
}

export function cycleMessage(cycle: string[]): string {
  return `runbook vars refer to each other in a cycle: ${cycle.map((n) => `\`${n}\``).join(' → ')}`;
}
export const CYCLE_HINT = 'make one of them a plain value, or set it with -e';

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * `validate`: a cycle among the vars each play sees (the runbook's vars and vars_files, then the
 * play's), at the first of its vars written in the runbook. Names from the inventory or -e
 * (`known`, less what the vars files set) break a cycle, as they do at run time.
 */
export function varCycleDiagnostics(doc: YamlDocument, root: Record<string, unknown>, known: Iterable<string>, files: VarsFiles | undefined): Diagnostic[] {
  const fromFiles = new Set(files?.names ?? []);
  const outside = new Set([...known].filter((n) => !fromFiles.has(n)));
  const own = (v: unknown): Record<string, unknown> => (isObject(v) ? v : {});
  const runbook = { ...own(root.vars), ...(files?.runbook ?? {}) };
  const levels: { vars: Record<string, unknown>; at: Path[] }[] = Array.isArray(root.plays)
    ? root.plays.map((p: unknown, i) => ({ vars: { ...runbook, ...own(own(p).vars), ...(files?.plays[i] ?? {}) }, at: [['plays', i, 'vars'], ['vars']] }))
    : [{ vars: runbook, at: [['vars']] }];
  const out: Diagnostic[] = [];
  for (const { vars, at } of levels) {
    const r = expansionOrder(vars, (n) => outside.has(n));
    if (!r.cycle) continue;
    // where it is written: a play's vars, the runbook's, else (only vars files) the runbook's vars_files
    const where = at.flatMap((base) => r.cycle.map((n) => [...base, n])).find((p) => doc.positions.has(pointer(p))) ?? [...at[0]!.slice(0, -1), 'vars_files'];
    out.push({ kind: 'expression', severity: 'error', message: cycleMessage(r.cycle), hint: CYCLE_HINT, file: doc.source.file, ...positionOf(doc, where, 'key') });
  }
  return out;
}
