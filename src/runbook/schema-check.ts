/**
 * JSON Schema validation (ajv, draft 2020-12) turned into diagnostics an operator can act on:
 * each one points at the offending key or value, says what was expected and what was found,
 * and suggests the nearest valid key or value.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Diagnostic } from '../errors.js';
import { schemasDir } from '../paths.js';
import { positionOf, type Path, type YamlDocument } from './yaml.js';
import { closest } from './suggest.js';

// ajv ships CommonJS; its 2020 build is reached through require to keep types simple under NodeNext.
const require = createRequire(import.meta.url);
const Ajv2020 = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js').default;

type SchemaNode = Record<string, unknown>;
const validators = new Map<string, { validate: ValidateFunction; schema: SchemaNode }>();

export function loadSchema(name: 'runbook' | 'inventory'): { validate: ValidateFunction; schema: SchemaNode } {
  let v = validators.get(name);
  if (!v) {
    const schema = JSON.parse(readFileSync(join(schemasDir, `${name}.schema.json`), 'utf8')) as SchemaNode;
    const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: false });
    v = { validate: ajv.compile(schema), schema };
    validators.set(name, v);
  }
  return v;
}

function splitPointer(p: string): (string | number)[] {
  if (p === '') return [];
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'nothing (null)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number') return Number.isInteger(v) ? `the number ${v}` : `the number ${v}`;
  if (typeof v === 'boolean') return `\`${v}\``;
  return `the text "${String(v).length > 40 ? String(v).slice(0, 37) + '...' : v}"`;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'text',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  null: 'nothing',
};

function describeTypes(t: unknown): string {
  const list = Array.isArray(t) ? t : [t];
  return list.map((x) => TYPE_WORDS[String(x)] ?? String(x)).join(' or ');
}

/** A readable label for the place: `steps[2].wait_for.delay`. */
export function label(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out || 'the document';
}

interface Branchy {
  schemaPath: string;
  errors: ErrorObject[];
}

/**
 * With allErrors, a failed `oneOf` reports every branch's errors. Keep the branch that best fits
 * the value (the one without a type mismatch at the value itself, with the fewest errors).
 */
function pruneAlternatives(errors: ErrorObject[]): ErrorObject[] {
  // ajv restarts schemaPath at every $ref, so an alternative's branch errors are found by order:
  // they come right before it, inside its instance and below its schema path.
  const drop = new Set<ErrorObject>();
  errors.forEach((alt, at) => {
    if (alt.keyword !== 'oneOf' && alt.keyword !== 'anyOf') return;
    const prefix = alt.schemaPath + '/';
    const refs = ((alt.schema as SchemaNode[] | undefined) ?? []).map((b) => (typeof b.$ref === 'string' ? b.$ref + '/' : undefined));
    const branchOf = (e: ErrorObject): string | undefined => {
      if (e.schemaPath.startsWith(prefix)) return e.schemaPath.slice(prefix.length).split('/')[0]!;
      const i = refs.findIndex((r) => r !== undefined && e.schemaPath.startsWith(r));
      return i >= 0 ? String(i) : undefined;
    };
    const inside: { e: ErrorObject; branch: string | undefined }[] = [];
    for (let i = at - 1; i >= 0; i--) {
      const e = errors[i]!;
      const within = e.instancePath === alt.instancePath || e.instancePath.startsWith(alt.instancePath + '/');
      const branch = branchOf(e);
      // errors deeper in the instance belong to whichever branch surrounds them
      if (!within || (branch === undefined && e.instancePath === alt.instancePath)) break;
      inside.unshift({ e, branch });
    }
    let last: string | undefined;
    for (const x of inside) x.branch = last = x.branch ?? last;
    for (let i = inside.length - 1; i >= 0; i--) inside[i]!.branch = last = inside[i]!.branch ?? last;
    const passing = (alt.params as { passingSchemas?: number[] | null }).passingSchemas;
    if (passing && passing.length > 1) {
      inside.forEach((x) => drop.add(x.e));
      return; // more than one branch matched: the alternative error itself is the message
    }
    const branches = new Map<string, Branchy>();
    for (const { e, branch } of inside) {
      const key = branch ?? '?';
      const b = branches.get(key) ?? { schemaPath: prefix + key, errors: [] };
      b.errors.push(e);
      branches.set(key, b);
    }
    if (branches.size === 0) return;
    const mismatch = (b: Branchy) =>
      b.errors.some((e) => e.instancePath === alt.instancePath && (e.keyword === 'type' || e.keyword === 'const' || e.keyword === 'enum'));
    const fitting = [...branches.values()].filter((b) => !mismatch(b));
    const onlyRequired = [...branches.values()].every((b) => b.errors.every((e) => e.keyword === 'required' && e.instancePath === alt.instancePath));
    if (fitting.length === 0 || onlyRequired) {
      inside.forEach((x) => drop.add(x.e)); // the alternative error says which types or keys are allowed
      return;
    }
    fitting.sort((a, b) => a.errors.length - b.errors.length);
    const best = fitting[0]!;
    drop.add(alt);
    for (const { e } of inside) if (!best.errors.includes(e)) drop.add(e);
  });
  return errors.filter((e) => !drop.has(e));
}

/** The subschema an alternative error refers to: its branches, for listing types or required keys. */
function alternativesSummary(e: ErrorObject): string {
  const branches = (e.schema as SchemaNode[] | undefined) ?? [];
  const required = branches.map((b) => (b.required as string[] | undefined)?.[0]).filter((x): x is string => !!x);
  if (required.length === branches.length && required.length > 0) {
    return `needs exactly one of ${required.map((r) => `\`${r}\``).join(', ')}`;
  }
  return '';
}

export function schemaDiagnostics(doc: YamlDocument, kind: 'runbook' | 'inventory', value: unknown = doc.value): Diagnostic[] {
  const { validate } = loadSchema(kind);
  if (validate(value)) return [];
  const errors = pruneAlternatives(validate.errors ?? []);
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const d = toDiagnostic(e, doc, value);
    if (!d) continue;
    const key = `${d.line}:${d.col}:${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
}

function valueAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

function toDiagnostic(e: ErrorObject, doc: YamlDocument, root: unknown): Diagnostic | undefined {
  const path = splitPointer(e.instancePath);
  const file = doc.source.file;
  const here = (p: Path, prefer: 'key' | 'value' = 'value') => ({ file, ...positionOf(doc, p, prefer) });
  const where = label(path);
  const parent = e.parentSchema as SchemaNode | undefined;
  const base = { kind: 'schema' as const, severity: 'error' as const };

  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys((parent?.properties as SchemaNode | undefined) ?? {});
      const guess = closest(key, allowed);
      const isStep = allowed.includes('wait_for');
      const what = isStep ? `unknown step type or option \`${key}\`` : `unknown key \`${key}\``;
      return {
        ...base,
        message: `${what}${path.length ? ` in ${where}` : ''}`,
        ...here([...path, key], 'key'),
        hint: guess ? `did you mean \`${guess}\`?` : `expected one of: ${allowed.join(', ')}`,
      };
    }
    case 'required': {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      return { ...base, message: `${where === 'the document' ? 'the document' : where} is missing required key \`${missing}\``, ...here(path, 'key') };
    }
    case 'type': {
      const found = valueAt(root, path);
      return { ...base, message: `${where}: expected ${describeTypes(e.params.type)}, found ${typeName(found)}`, ...here(path) };
    }
    case 'const':
    case 'enum': {
      const allowed = (e.keyword === 'const' ? [(e.params as { allowedValue: unknown }).allowedValue] : (e.params as { allowedValues: unknown[] }).allowedValues).map(String);
      const found = valueAt(root, path);
      const guess = typeof found === 'string' ? closest(found, allowed) : undefined;
      return {
        ...base,
        message: `${where}: ${allowed.length === 1 ? `must be \`${allowed[0]}\`` : `must be one of ${allowed.map((a) => `\`${a}\``).join(', ')}`}, found ${typeName(found)}`,
        ...here(path),
        ...(guess ? { hint: `did you mean \`${guess}\`?` } : {}),
      };
    }
    case 'pattern': {
      const propertyName = (e as ErrorObject & { propertyName?: string }).propertyName;
      if (propertyName !== undefined) {
        const pattern = (e.params as { pattern: string }).pattern;
        return { ...base, message: `${where}: key ${patternMessage(pattern, propertyName)}`, ...here([...path, propertyName], 'key') };
      }
      const found = String(valueAt(root, path));
      const pattern = (e.params as { pattern: string }).pattern;
      return { ...base, message: `${where}: ${patternMessage(pattern, found)}`, ...here(path) };
    }
    case 'propertyNames':
      return undefined; // reported by the nested `pattern` error on the key itself
    case 'minItems':
      return { ...base, message: `${where} must not be empty`, ...here(path) };
    case 'minLength':
      return { ...base, message: `${where} must not be empty`, ...here(path) };
    case 'minProperties':
      return { ...base, message: `${where} must not be empty`, ...here(path) };
    case 'minimum':
    case 'maximum':
      return { ...base, message: `${where} ${e.message ?? ''}, found ${typeName(valueAt(root, path))}`, ...here(path) };
    case 'uniqueItems':
      return { ...base, message: `${where} lists the same item twice`, ...here(path) };
    case 'oneOf':
    case 'anyOf': {
      const passing = (e.params as { passingSchemas?: number[] | null }).passingSchemas;
      const summary = alternativesSummary(e);
      if (passing && passing.length > 1) {
        return { ...base, message: `${where} ${summary ? summary.replace('needs exactly', 'takes only') : 'is ambiguous'}`, ...here(path) };
      }
      if (summary) return { ...base, message: `${where} ${summary}`, ...here(path) };
      const branches = (e.schema as SchemaNode[] | undefined) ?? [];
      const types = branches.map((b) => resolveType(b)).filter(Boolean);
      return { ...base, message: `${where}: expected ${types.length ? types.join(' or ') : 'a different value'}, found ${typeName(valueAt(root, path))}`, ...here(path) };
    }
    default:
      return { ...base, message: `${where} ${e.message ?? 'is invalid'}`, ...here(path) };
  }
}

function resolveType(branch: SchemaNode): string {
  if (branch.type) return describeTypes(branch.type);
  const ref = branch.$ref as string | undefined;
  if (ref) {
    const name = ref.split('/').pop()!;
    if (name === 'argv') return 'a list of arguments';
    if (name === 'expression') return 'a CEL expression';
    if (name === 'duration') return 'a duration (e.g. 30s)';
    return `a ${name}`;
  }
  if (branch.const !== undefined) return `\`${String(branch.const)}\``;
  return '';
}

function patternMessage(pattern: string, found: string): string {
  if (pattern.includes('(ms|s|m|h|d)')) return `invalid duration "${found}": write a whole number and a unit (ms, s, m, h, d), e.g. 30s or 30d`;
  if (pattern.includes('[0-7]')) return `invalid mode "${found}": write octal permission bits as text, e.g. "0644"`;
  if (pattern.includes('%')) return `"${found}" must be a count or a percentage such as 30%`;
  if (pattern.startsWith('^[A-Za-z_][A-Za-z0-9_]*$')) return `"${found}" is not a valid name: use letters, digits and underscores, not starting with a digit`;
  if (pattern.startsWith('^[A-Za-z0-9_.:')) return `"${found}" is not a valid host name: use letters, digits, ., -, _ and :`;
  if (pattern.startsWith('^[A-Za-z_][A-Za-z0-9_-]*$')) return `"${found}" is not a valid group name: use letters, digits, _ and -`;
  return `"${found}" is not valid here (must match ${pattern})`;
}
