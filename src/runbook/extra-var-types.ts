/**
 * -e values against the types the runbook declares. Runbook expressions are CEL, which is strictly
 * typed: `force || ...` with force the string "true" fails. So a variable whose default under the
 * runbook's `vars:` (or a play's) is a plain boolean or number has that type, and:
 *   - `-e key=value` (always text, as in Ansible) is read as that type when the text spells one
 *     (./scalar-text.ts: true/false, yes/no, on/off, 1/0; a whole number; a number); text that
 *     does not is refused. A string default, a templated one ("{{ ... }}"), null, a list or a
 *     mapping declares no type to read text as: the value stays the text it is (`-e version=1.20`
 *     is never the number 1.2).
 *   - `-e @file.yaml` and `-e '{"key": value}'` carry their own YAML types: those are checked, never
 *     converted. A quoted "true" for a boolean is refused, as the same text written without quotes
 *     would have been a boolean: quoting it says something else was meant.
 * Every problem is refused before anything runs, naming the argument, the variable's type, default
 * and where it is declared. Secret values are never shown.
 */
import { UserError, type Diagnostic } from '../errors.js';
import { Literal } from './expressions.js';
import type { LoadedRunbook } from './model.js';
import { booleanOfText, integerOfText, numberOfText } from './scalar-text.js';
import { ExtraVars, Redactor, secretValues } from './vars.js';
import { pointer, positionOf, type Path } from './yaml.js';

type ScalarType = 'boolean' | 'integer' | 'number';

interface Declaration {
  type: ScalarType;
  value: unknown;
  /** `file:line:col` of the declaration */
  where: string;
}

const NAMED: Record<ScalarType, string> = { boolean: 'a boolean', integer: 'an integer', number: 'a number' };
const WANTED: Record<ScalarType, string> = { boolean: 'true or false', integer: 'a whole number', number: 'a number' };
const FROM_TEXT: Record<ScalarType, (text: string) => unknown> = { boolean: booleanOfText, integer: integerOfText, number: numberOfText };

/** The type a default declares: booleans and numbers only (whole numbers written with `.` or `e` are numbers). */
function declaredType(value: unknown, written: string): ScalarType | undefined {
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return Number.isInteger(value) && !/[.eE]/.test(written) ? 'integer' : 'number';
  return undefined;
}

/**
 * Where `name` is declared with a boolean or number default: the runbook's vars first, then each
 * play's, in order; the first such declaration is the type. A name set by vars_files (no position
 * under `vars:`) is declared at that `vars_files:`.
 */
function declarationOf(rb: LoadedRunbook, name: string): Declaration | undefined {
  const levels: { vars: Record<string, unknown> | undefined; at: Path }[] = [
    { vars: rb.runbook.vars as Record<string, unknown> | undefined, at: [] },
    ...rb.plays.map((p) => ({ vars: p.vars, at: ['plays', p.index] })),
  ];
  for (const { vars, at } of levels) {
    if (!vars || !Object.hasOwn(vars, name)) continue;
    const raw = vars[name];
    const value = raw instanceof Literal ? raw.value : raw;
    const pos = rb.doc.positions.get(pointer([...at, 'vars', name]));
    const written = pos?.style === 1 ? (/^[^\s,\]}#]+/.exec(rb.doc.source.text.slice(pos.value)) ?? [''])[0] : '';
    const type = declaredType(value, written);
    if (!type) continue;
    const { line, col } = positionOf(rb.doc, pos ? [...at, 'vars', name] : [...at, 'vars_files'], 'key');
    return { type, value, where: `${pos ? '' : 'the vars_files at '}${rb.file}:${line}:${col}` };
  }
  return undefined;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `the ${typeof v} ${JSON.stringify(v)}`;
}

export interface TypedExtraVars {
  values: Record<string, unknown>;
  /** usage errors, one per -e value that does not fit its declared type */
  problems: Diagnostic[];
}

/** The -e values with key=value text read as the declared types; the values that do not fit, as problems. */
export function typeExtraVars(rb: LoadedRunbook, extra: ExtraVars): TypedExtraVars {
  const values = { ...extra.values };
  const problems: Diagnostic[] = [];
  // a secret's value (given, or a default) never appears in a message
  const scopes = [rb.runbook.vars as Record<string, unknown> | undefined, ...rb.plays.map((p) => p.vars), extra.values];
  const unwrapped = (s: Record<string, unknown> | undefined) => Object.fromEntries(Object.entries(s ?? {}).map(([k, v]) => [k, v instanceof Literal ? v.value : v]));
  const redactor = new Redactor(scopes.flatMap((s) => secretValues(rb, unwrapped(s))));
  for (const [name, given] of Object.entries(extra.values)) {
    const d = declarationOf(rb, name);
    const source = extra.from[name];
    if (!d || !source) continue;
    const declared = `${name} is ${NAMED[d.type]} in ${d.where} (default ${JSON.stringify(d.value)})`;
    if (source.text && typeof given === 'string') {
      const read = FROM_TEXT[d.type](given);
      if (read !== undefined) values[name] = read;
      else problems.push(problem(redactor, `-e ${source.arg}: ${declared}: give ${WANTED[d.type]}`, d.type === 'boolean' ? { hint: 'yes/no, on/off and 1/0 are read as booleans too, in any case' } : {}));
      continue;
    }
    const fits = d.type === 'boolean' ? typeof given === 'boolean' : d.type === 'integer' ? Number.isInteger(given) : typeof given === 'number';
    if (fits) continue;
    problems.push(problem(redactor, `-e ${source.arg}: ${declared}, not ${describe(given)}: write ${WANTED[d.type]}${typeof given === 'string' ? ', without quotes' : ''}`));
  }
  return { values, problems };
}

function problem(redactor: Redactor, message: string, more: { hint?: string } = {}): Diagnostic {
  return { kind: 'usage', severity: 'error', message: redactor.redact(message), ...more };
}

/**
 * The -e values of a run whose runbook the engine loads itself (resume, rollback): as given on the
 * command line (ExtraVars), typed by the runbook, the first problem thrown.
 */
export function extraVarValues(rb: LoadedRunbook | undefined, extra: ExtraVars | undefined): Record<string, unknown> {
  if (!extra) return {};
  if (!rb) return extra.values;
  const { values, problems } = typeExtraVars(rb, extra);
  if (problems[0]) throw new UserError(problems[0]);
  return values;
}

/** The names -e sets. */
export function extraVarNames(extra: ExtraVars | undefined): string[] {
  return Object.keys(extra?.values ?? {});
}
