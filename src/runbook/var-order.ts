/**
 * The order runbook vars are expanded in: each after the vars its templates name, whatever the
 * order they are written in (a level's vars_files are merged in after its `vars:`, ./vars-files.ts,
 * and a var may well template a name a file sets). hostScope (./vars.ts) expands in this order;
 * `validate` reports the cycles it finds, so the two agree on which runbooks can run.
 */
import type { Diagnostic } from '../errors.js';
import { hasTemplate, Literal, parseTemplate, readVariables } from './expressions.js';
import { pointer, positionOf, type Path, type YamlDocument, isObject } from './yaml.js';
import type { VarsFiles } from './vars-files.js';

/**
 * The names hostScope (./vars.ts) gives a host below its runbook vars. A var that reads its own name
 * reads the value below it, as when vars were expanded in the order written: the builtin
 * (`inventory_hostname: "{{ inventory_hostname }}.example.com"`), or an inventory or -e value (which
 * wins anyway: the var is not expanded). With neither, it is an error.
 */
export const SCOPE_BUILTINS = ['host', 'inventory_hostname', 'run'] as const;
export type ScopeBuiltin = (typeof SCOPE_BUILTINS)[number];
const isBuiltin = (name: string): boolean => (SCOPE_BUILTINS as readonly string[]).includes(name);

/** Each template string's names (readVariables of its expressions), by text: hostScope asks for every host, several times per run. */
const namesOfTemplate = new Map<string, readonly string[]>();

/** The top-level names the templates inside a var's value read (a Literal reads none). */
function namesRead(value: unknown): readonly string[] {
  if (value instanceof Literal) return [];
  if (typeof value === 'string') {
    if (!hasTemplate(value)) return [];
    let names = namesOfTemplate.get(value);
    if (!names) {
      // a broken template reads nothing here: expanding it (or validate) reports the syntax error
      const { parts, error } = parseTemplate(value);
      names = error ? [] : parts.flatMap((p) => (p.kind === 'expr' ? readVariables(p.source) : []));
      if (namesOfTemplate.size > 10_000) namesOfTemplate.clear();
      namesOfTemplate.set(value, names);
    }
    return names;
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
      // its own name: the builtin below it (SCOPE_BUILTINS), not itself
      if (n === k && isBuiltin(n)) continue;
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

/** The error for a cycle expansionOrder found, in validate and at run time alike. */
export function cycleProblem(cycle: string[]): { message: string; hint: string } {
  if (cycle.length === 2) {
    return {
      message: `runbook var \`${cycle[0]}\` reads itself, and no builtin (${SCOPE_BUILTINS.join(', ')}), inventory or -e value of that name is there for it to read`,
      hint: 'a var reading its own name reads the value below it; give it another name, or set it with -e',
    };
  }
  return { message: `runbook vars refer to each other in a cycle: ${cycle.map((n) => `\`${n}\``).join(' → ')}`, hint: 'make one of them a plain value, or set it with -e' };
}

/**
 * `validate`: a cycle among the vars each play sees (the runbook's vars and vars_files, then the
 * play's), at the first of its vars written in the runbook. At run time a name breaks a cycle on a
 * host only if that host has it (inventory or -e), and a host without it fails with the cycle; so
 * validate lets a name break it only when `givenToEveryHost(pattern)` (the -e names and the names set
 * on every host the play's `hosts:` selects, ignoring --limit) has it: validate may be stricter than
 * one run, never more lenient. Without that function (validate with no inventory; apply, resume and
 * rollback, where a host without the name fails alone), the `known` names count as given to every
 * host, less what the vars files set.
 */
export function varCycleDiagnostics(
  doc: YamlDocument,
  root: Record<string, unknown>,
  known: Iterable<string>,
  files: VarsFiles | undefined,
  givenToEveryHost?: (hostsPattern: string) => Iterable<string>,
): Diagnostic[] {
  const fromFiles = new Set(files?.names ?? []);
  const outside = new Set([...known].filter((n) => !fromFiles.has(n)));
  const givenAt = (pattern: unknown): ReadonlySet<string> => (givenToEveryHost ? new Set(givenToEveryHost(typeof pattern === 'string' ? pattern : 'all')) : outside);
  const own = (v: unknown): Record<string, unknown> => (isObject(v) ? v : {});
  const runbook = { ...own(root.vars), ...(files?.runbook ?? {}) };
  const levels: { vars: Record<string, unknown>; at: Path[]; given: ReadonlySet<string> }[] = Array.isArray(root.plays)
    ? root.plays.map((p: unknown, i) => ({ vars: { ...runbook, ...own(own(p).vars), ...(files?.plays[i] ?? {}) }, at: [['plays', i, 'vars'], ['vars']], given: givenAt(own(p).hosts) }))
    : [{ vars: runbook, at: [['vars']], given: givenAt(root.hosts) }];
  const out: Diagnostic[] = [];
  for (const { vars, at, given } of levels) {
    const r = expansionOrder(vars, (n) => given.has(n));
    if (!r.cycle) continue;
    // where it is written: a play's vars, the runbook's, else (only vars files) the runbook's vars_files
    const where = at.flatMap((base) => r.cycle.map((n) => [...base, n])).find((p) => doc.positions.has(pointer(p))) ?? [...at[0]!.slice(0, -1), 'vars_files'];
    out.push({ kind: 'expression', severity: 'error', ...cycleProblem(r.cycle), file: doc.source.file, ...positionOf(doc, where, 'key') });
  }
  return out;
}
