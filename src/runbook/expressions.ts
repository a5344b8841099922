/**
 * The runbook expression language: CEL (the language Kubernetes uses), through @marcbachmann/cel-js.
 * `when:`, `changed_when:`, `assert.that` are bare CEL; strings may hold `{{ CEL }}` templates.
 * CEL is not Turing-complete and cannot reach JavaScript: runbooks never run code.
 */
import { Environment } from '@marcbachmann/cel-js';
// the functions, not semver's index: it loads all ~45 of its modules at every start
import coerce from 'semver/functions/coerce.js';
import gte from 'semver/functions/gte.js';
import lt from 'semver/functions/lt.js';
import minorOf from 'semver/functions/minor.js';
import { UserError } from '../errors.js';
import { parseDuration } from './duration.js';
import { booleanOfText, numberOfText } from './scalar-text.js';

/** A piece of a template string. `offset` is where the expression text starts in the string. */
export type TemplatePart = { kind: 'text'; text: string } | { kind: 'expr'; source: string; offset: number };

export interface TemplateSyntaxError {
  message: string;
  /** offset in the template string */
  offset: number;
}

/** Split `a {{ b }} c` into parts. `{{` without a closing `}}` is an error. */
export function parseTemplate(text: string): { parts: TemplatePart[]; error?: TemplateSyntaxError } {
  const parts: TemplatePart[] = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    if (open < 0) {
      parts.push({ kind: 'text', text: text.slice(i) });
      break;
    }
    if (open > i) parts.push({ kind: 'text', text: text.slice(i, open) });
    const close = text.indexOf('}}', open + 2);
    if (close < 0) return { parts, error: { message: 'template `{{` is never closed with `}}`', offset: open } };
    const inner = text.slice(open + 2, close);
    const lead = inner.length - inner.trimStart().length;
    const source = inner.trim();
    if (source === '') return { parts, error: { message: 'empty template `{{ }}`', offset: open } };
    parts.push({ kind: 'expr', source, offset: open + 2 + lead });
    i = close + 2;
  }
  return { parts };
}

export function hasTemplate(text: string): boolean {
  return text.includes('{{');
}

// ---- values between YAML/JSON land and CEL land ---------------------------------------------

/** CEL integers are bigints; YAML integers arrive as numbers. Convert deeply. */
export function toCel(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (value instanceof Lazy) return null;
  if (Array.isArray(value)) return value.map(toCel);
  if (value instanceof Map) return value;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toCel(v);
    return out;
  }
  return value;
}

/** Back from CEL: bigints to numbers, Maps to objects. */
export function fromCel(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(fromCel);
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) out[String(k)] = fromCel(v);
    return out;
  }
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = fromCel(v);
    return out;
  }
  return value;
}

// ---- the environment ---------------------------------------------------------------------------

function versionOf(v: string): string {
  const parsed = coerce(v);
  if (!parsed) throw new Error(`not a version: "${v}"`);
  return parsed.version;
}

/** Functions runbooks may call, besides CEL's standard library. Documented in docs/expressions.md. */
function registerFunctions(env: Environment): Environment {
  return env
    .registerFunction('version_at_least(string, string): bool', (v: string, min: string) => gte(versionOf(v), versionOf(min)), {
      description: 'Whether version v (e.g. "v1.18.20") is at least min (e.g. "1.15").',
    })
    .registerFunction('version_below(string, string): bool', (v: string, max: string) => lt(versionOf(v), versionOf(max)), {
      description: 'Whether version v is lower than max.',
    })
    .registerFunction('version_minor(string): int', (v: string) => BigInt(minorOf(versionOf(v))), {
      description: 'The minor number of a version: 18 for "v1.18.20".',
    })
    .registerFunction('duration_days(string): double', (d: string) => parseDuration(d) / 86_400_000, {
      description: 'A duration such as "30d" or "12h" in days.',
    })
    .registerFunction('basename(string): string', (p: string) => p.replace(/\/+$/, '').split('/').pop() ?? '', {
      description: 'The last component of a path.',
    })
    .registerFunction('dirname(string): string', (p: string) => {
      const trimmed = p.replace(/\/+$/, '');
      const i = trimmed.lastIndexOf('/');
      return i <= 0 ? (trimmed.startsWith('/') ? '/' : '.') : trimmed.slice(0, i);
    }, { description: 'The directory part of a path.' })
    .registerFunction('changed(dyn): bool', (r: unknown) => isRecord(r) && r.changed === true, {
      description: 'Whether a registered step result changed something.',
    })
    .registerFunction('failed(dyn): bool', (r: unknown) => isRecord(r) && r.failed === true, {
      description: 'Whether a registered step result failed.',
    });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  if (v instanceof Map) return false;
  return typeof v === 'object' && v !== null;
}

const ENV_OPTIONS = { homogeneousAggregateLiterals: false, enableOptionalTypes: true } as const;
/** Evaluation environment: any name may appear; one missing from the scope is an error at run time. */
const evalEnv = registerFunctions(new Environment({ ...ENV_OPTIONS, unlistedVariablesAreDyn: true }));

type Compiled = (ctx: Record<string, unknown>) => unknown;
/** Each expression, parsed, with its candidate top-level names (a superset of the variables it can read: celScope). */
const compiled = new Map<string, { fn: Compiled; names: ReadonlySet<string> }>();

interface CelErrorLike {
  name?: string;
  summary?: string;
  message?: string;
  range?: { start: number; end: number };
}

export interface ExpressionProblem {
  message: string;
  /** offset inside the expression source */
  offset: number;
  kind: 'syntax' | 'unknown-name' | 'type';
  name?: string;
}

function problemOf(e: unknown): ExpressionProblem {
  const err = (e ?? {}) as CelErrorLike;
  const summary = err.summary ?? err.message ?? String(e);
  const unknown = /^Unknown variable: (\S+)/.exec(summary);
  return {
    message: summary.split('\n')[0]!,
    offset: err.range?.start ?? 0,
    kind: err.name === 'ParseError' ? 'syntax' : unknown ? 'unknown-name' : 'type',
    ...(unknown ? { name: unknown[1] } : {}),
  };
}

/** Static check: syntax, and (when `knownNames` is given) that every top-level name is declared. */
export function checkExpression(source: string, knownNames?: Iterable<string>): ExpressionProblem | undefined {
  if (knownNames === undefined) {
    try {
      evalEnv.parse(source);
      return undefined;
    } catch (e) {
      return problemOf(e);
    }
  }
  return createChecker(knownNames)(source);
}

export type Checker = (source: string) => ExpressionProblem | undefined;

/** A checker for a fixed set of declared names; build once, check many expressions. */
export function createChecker(names: Iterable<string>): Checker {
  const env = registerFunctions(new Environment({ ...ENV_OPTIONS, unlistedVariablesAreDyn: false }));
  for (const n of new Set(names)) {
    try {
      env.registerVariable(n, 'dyn');
    } catch {
      // a CEL reserved word (`as`, `if`, `var`...) cannot be declared, nor named in an expression: skip it
    }
  }
  return (source) => {
    try {
      const result = env.check(source) as { valid: boolean; error?: unknown };
      if (result.valid) return undefined;
      const problem = problemOf(result.error);
      // Type errors on dyn values are run-time matters; only names and syntax are static errors.
      return problem.kind === 'type' ? undefined : problem;
    } catch (e) {
      return problemOf(e);
    }
  };
}

/** Identifiers that may be top-level names in an expression (not after a `.`, outside string literals). */
export function candidateNames(source: string): string[] {
  const code = source.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  return code.match(/(?<![.\w])[A-Za-z_]\w*/g) ?? [];
}

/** The comprehension macros (cel-js lib/macros.js): `list.m(v, …)` binds `v` in the arguments after it. */
const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

/**
 * The variables an expression reads, from its syntax tree: not field names, function names or
 * string contents, nor the names a macro binds (`v` in `xs.map(v, v + 1)`, in `cel.bind(v, x, v)`)
 * where they are bound. An expression that does not parse falls back to candidateNames (evaluating
 * it reports the syntax error).
 */
export function readVariables(source: string): readonly string[] {
  let ast: CelNode;
  try {
    ast = (evalEnv.parse(source) as unknown as { ast: CelNode }).ast;
  } catch {
    return candidateNames(source);
  }
  const found = new Set<string>();
  const walk = (v: unknown, bound: ReadonlySet<string>): void => {
    if (Array.isArray(v)) return v.forEach((x) => walk(x, bound));
    if (!isNode(v)) return; // a field or function name, a literal's value
    if (v.op === 'id') {
      if (typeof v.args === 'string' && !bound.has(v.args)) found.add(v.args);
      return;
    }
    const binding = v.op === 'rcall' ? macroBinding(v.args) : undefined;
    if (!binding) return walk(v.args, bound);
    walk(binding.outside, bound);
    walk(binding.inside, new Set([...bound, binding.name]));
  };
  walk(ast, new Set());
  return [...found];
}

/** A parsed expression's node, as far as readVariables looks (cel-js's ASTNode, lib/index.d.ts). */
interface CelNode {
  op: string;
  args: unknown;
}
function isNode(v: unknown): v is CelNode {
  return v !== null && typeof v === 'object' && typeof (v as CelNode).op === 'string' && 'args' in v;
}

/**
 * For a method call `receiver.name(args)` that is a macro binding a name: the name, what is read
 * outside its binding and what inside. cel.bind(v, init, body) binds v in body only.
 */
function macroBinding(args: unknown): { name: string; outside: unknown[]; inside: unknown[] } | undefined {
  const [name, receiver, params] = args as [string, CelNode, CelNode[]];
  const first = params[0];
  if (first?.op !== 'id' || typeof first.args !== 'string') return undefined;
  if (COMPREHENSIONS.has(name) && (params.length === 2 || (name === 'map' && params.length === 3))) return { name: first.args, outside: [receiver], inside: params.slice(1) };
  if (name === 'bind' && receiver.op === 'id' && receiver.args === 'cel' && params.length === 3) return { name: first.args, outside: [params[1]], inside: [params[2]] };
  return undefined;
}

/** Names an expression refers to at top level that are not in `known` (for `validate`). */
export function unknownNames(source: string, known: Iterable<string>): string[] {
  const found: string[] = [];
  const names = new Set(known);
  // The checker reports one unknown name at a time; declare each and look again.
  for (let i = 0; i < 50; i++) {
    const p = checkExpression(source, names);
    if (!p || p.kind !== 'unknown-name' || !p.name) break;
    found.push(p.name);
    names.add(p.name);
  }
  return found;
}

/** A scope: variable name → value as it came from YAML/JSON (numbers, not bigints). */
export type Scope = Record<string, unknown>;

/**
 * A scope value computed only when an expression names it: `hostvars` (every host's variables
 * and facts) would otherwise be converted for every expression of every host.
 */
export class Lazy {
  constructor(readonly compute: () => unknown) {}
}

/**
 * The scope as CEL sees it: only the variables `source` can name (CEL has no dynamic lookup, so a
 * variable it reads appears in it as an identifier), converted, Lazy ones computed, none nested.
 * Converting the whole scope for every expression cost each host a deep copy of every registered
 * result per template (cert-check: every certificate's facts, twice per step).
 */
function celScope(scope: Scope, names: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of names) {
    if (!Object.prototype.hasOwnProperty.call(scope, k)) continue;
    const v = scope[k];
    out[k] = toCel(v instanceof Lazy ? v.compute() : v);
  }
  return out;
}

/**
 * Evaluate one CEL expression. Throws UserError: kind 'undefined-variable' for a name not in
 * scope (never silently empty), 'expression' for anything else.
 */
export function evaluate(source: string, scope: Scope): unknown {
  let c = compiled.get(source);
  if (!c) {
    let fn: Compiled;
    try {
      fn = evalEnv.parse(source) as unknown as Compiled;
    } catch (e) {
      const p = problemOf(e);
      throw new UserError({ kind: 'expression', message: `invalid expression \`${source}\`: ${p.message}` });
    }
    // every identifier-like word, field names and words in string literals too: a superset is safe
    // (a raw string's backslash would fool a regex that strips literals)
    c = { fn, names: new Set(source.match(/[A-Za-z_]\w*/g) ?? []) };
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(source, c);
  }
  try {
    return fromCel(c.fn(celScope(scope, c.names)));
  } catch (e) {
    const p = problemOf(e);
    if (p.kind === 'unknown-name' && p.name) {
      throw new UserError({ kind: 'undefined-variable', message: `undefined variable \`${p.name}\` in \`${source}\`` });
    }
    throw new UserError({ kind: 'expression', message: `\`${source}\` failed: ${p.message}`, ...textValueHint(source, scope, /\bbool\b/.test(p.message)) });
  }
}

/**
 * For an expression that failed on a type: the variables it reads that hold text spelling a
 * boolean or a number, which is what `-e force=true` gives a variable the runbook declares no
 * boolean or number default for (./extra-var-types.ts).
 */
function textValueHint(source: string, scope: Scope, wantsBoolean: boolean): { hint?: string } {
  for (const name of readVariables(source)) {
    const v = scope[name];
    if (typeof v !== 'string') continue;
    const typed = wantsBoolean ? (booleanOfText(v) ?? numberOfText(v)) : (numberOfText(v) ?? booleanOfText(v));
    if (typed === undefined) continue;
    const example = typeof typed === 'boolean' ? 'false' : '0';
    return { hint: `${name} is the string ${JSON.stringify(v)}: a -e key=value is a string unless the runbook declares ${name} under vars: with a ${typeof typed} default (${name}: ${example}); or give it typed: -e '{"${name}": ${JSON.stringify(typed)}}'` };
  }
  return {};
}

export function evaluateCondition(source: string, scope: Scope): boolean {
  const v = evaluate(source, scope);
  if (typeof v !== 'boolean') {
    throw new UserError({ kind: 'expression', message: `\`${source}\` must be true or false, got ${describe(v)}`, ...textValueHint(source, scope, true) });
  }
  return v;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Render a value for string interpolation. Lists/maps become JSON. */
function interpolate(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/**
 * Render a template string. A string that is exactly one `{{ expr }}` keeps the value's type
 * (a list stays a list); otherwise parts are joined as text.
 */
export function renderTemplate(text: string, scope: Scope): unknown {
  if (!hasTemplate(text)) return text;
  const { parts, error } = parseTemplate(text);
  if (error) throw new UserError({ kind: 'expression', message: `${error.message} in "${text}"` });
  if (parts.length === 1 && parts[0]!.kind === 'expr') return evaluate(parts[0]!.source, scope);
  return parts.map((p) => (p.kind === 'text' ? p.text : interpolate(evaluate(p.source, scope)))).join('');
}

/**
 * A value used exactly as written, never templated (Ansible's `!unsafe`): what an encrypted vars
 * file sets, since a password may well contain `{{`. expandDeep unwraps it; JSON sees the value.
 */
export class Literal {
  constructor(readonly value: unknown) {}
  toJSON(): unknown {
    return this.value;
  }
}

/** Expand every template inside a params value (strings in lists and maps). Keys are not templated. */
export function expandDeep(value: unknown, scope: Scope): unknown {
  if (value instanceof Literal) return value.value;
  if (typeof value === 'string') return renderTemplate(value, scope);
  if (Array.isArray(value)) return value.map((v) => expandDeep(v, scope));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = expandDeep(v, scope);
    return out;
  }
  return value;
}
