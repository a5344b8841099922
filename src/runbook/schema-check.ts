/**
 * JSON Schema validation (ajv, draft 2020-12) turned into diagnostics an operator can act on:
 * each one points at the offending key or value, says what was expected and what was found,
 * and suggests the nearest valid key or value.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { Diagnostic } from '../errors.js';
import { packageRoot, schemasDir } from '../paths.js';
import { positionOf, type Path, type YamlDocument } from './yaml.js';
import { closest } from './suggest.js';

// ajv ships CommonJS; its 2020 build is reached through require to keep types simple under NodeNext.
const require = createRequire(import.meta.url);
// Loaded on first use only: a valid document passes the precompiled validator (quickAccept) and
// never needs it, and loading ajv is ~10% of every command's start.
type Ajv2020Class = typeof import('ajv/dist/2020.js').default;
let ajvClass: Ajv2020Class | undefined;
const loadAjv = (): Ajv2020Class => (ajvClass ??= require('ajv/dist/2020.js') as Ajv2020Class);

type SchemaNode = Record<string, unknown>;
interface LoadedSchema {
  validate: ValidateFunction;
  schema: SchemaNode;
  /** validates a value against one branch of an alternative, compiled on demand */
  branch(parent: SchemaNode, keyword: string, index: number): ValidateFunction | undefined;
}
const validators = new Map<string, LoadedSchema>();

export function loadSchema(name: 'runbook' | 'inventory'): LoadedSchema {
  let v = validators.get(name);
  if (!v) {
    const schema = JSON.parse(readFileSync(join(schemasDir, `${name}.schema.json`), 'utf8')) as SchemaNode;
    const Ajv2020 = loadAjv();
    const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: false });
    const validate = ajv.compile(schema);
    // where each subschema object sits in the document, to address a branch as `$id#/pointer`
    const pointers = new Map<unknown, string>();
    const walk = (node: unknown, ptr: string) => {
      if (node === null || typeof node !== 'object') return;
      pointers.set(node, ptr);
      for (const [k, child] of Object.entries(node)) walk(child, `${ptr}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`);
    };
    walk(schema, '');
    const compiled = new Map<string, ValidateFunction>();
    const branch = (parent: SchemaNode, keyword: string, index: number) => {
      const ptr = pointers.get(parent);
      if (ptr === undefined) return undefined;
      const ref = `${String(schema.$id)}#${ptr}/${keyword}/${index}`;
      let fn = compiled.get(ref);
      if (!fn) compiled.set(ref, (fn = ajv.compile({ $ref: ref })));
      return fn;
    };
    v = { validate, schema, branch };
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

/**
 * With allErrors, a failed `oneOf`/`anyOf` reports every branch's errors. Replace them with the
 * errors of the branch that best fits the value (no type mismatch at the value itself, fewest
 * errors), found by validating the value against each branch on its own.
 */
function pruneAlternatives(errors: ErrorObject[], schema: LoadedSchema): ErrorObject[] {
  const out: ErrorObject[] = [];
  for (const e of errors) {
    if (e.keyword !== 'oneOf' && e.keyword !== 'anyOf') {
      out.push(e);
      continue;
    }
    // the branches' errors come right before the alternative and lie inside its value
    while (out.length > 0) {
      const prev = out[out.length - 1]!;
      if (prev.instancePath !== e.instancePath && !prev.instancePath.startsWith(e.instancePath + '/')) break;
      out.pop();
    }
    out.push(...bestBranchErrors(e, schema));
  }
  return out;
}

function bestBranchErrors(alt: ErrorObject, schema: LoadedSchema): ErrorObject[] {
  const passing = (alt.params as { passingSchemas?: number[] | null }).passingSchemas;
  if (passing && passing.length > 1) return [alt]; // more than one branch matched
  const branches = (alt.schema as SchemaNode[] | undefined) ?? [];
  const parent = alt.parentSchema as SchemaNode | undefined;
  if (!parent) return [alt];
  const results: ErrorObject[][] = [];
  for (let i = 0; i < branches.length; i++) {
    const validate = schema.branch(parent, alt.keyword, i);
    if (!validate) return [alt];
    validate(alt.data);
    const errs = (validate.errors ?? []).map((x) => ({ ...x, instancePath: alt.instancePath + x.instancePath }));
    results.push(pruneAlternatives(errs, schema));
  }
  const mismatch = (errs: ErrorObject[]) =>
    errs.some((x) => x.instancePath === alt.instancePath && (x.keyword === 'type' || x.keyword === 'const' || x.keyword === 'enum' || x.keyword === 'oneOf' || x.keyword === 'anyOf'));
  const onlyRequired = results.every((errs) => errs.length > 0 && errs.every((x) => x.keyword === 'required' && x.instancePath === alt.instancePath));
  const fitting = results.filter((errs) => errs.length > 0 && !mismatch(errs));
  if (onlyRequired || fitting.length === 0) return [alt]; // the alternative error lists the allowed types or keys
  fitting.sort((a, b) => a.length - b.length);
  return fitting[0]!;
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

type Accept = (value: unknown) => boolean;
const accepters = new Map<string, Accept | null>();

/**
 * The build's precompiled accept-only validator (scripts/gen-validators.mjs), when it was made
 * from the schema on disk: a valid document then costs no ajv compile. Undefined otherwise.
 */
export function quickAccept(name: 'runbook' | 'inventory'): Accept | undefined {
  if (!accepters.has(name)) {
    let fn: Accept | null = null;
    try {
      const mod = require(join(packageRoot, 'dist', 'schemas', `${name}.accept.cjs`)) as Accept & { schemaSha256?: string };
      const schemaSha256 = createHash('sha256').update(readFileSync(join(schemasDir, `${name}.schema.json`))).digest('hex');
      if (mod.schemaSha256 === schemaSha256) fn = mod;
    } catch {
      /* not generated (tsc alone): compile the schema instead */
    }
    accepters.set(name, fn);
  }
  return accepters.get(name) ?? undefined;
}

export function schemaDiagnostics(doc: YamlDocument, kind: 'runbook' | 'inventory', value: unknown = doc.value): Diagnostic[] {
  if (quickAccept(kind)?.(value)) return [];
  const loaded = loadSchema(kind);
  if (loaded.validate(value)) return [];
  const errors = pruneAlternatives(loaded.validate.errors ?? [], loaded);
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
  if (pattern.includes('\\{\\{')) return `expected a list of arguments such as [ls, -l] (or one "{{ }}" template that yields a list), found the text "${found}"`;
  if (pattern.includes('(ms|s|m|h|d)')) return `invalid duration "${found}": write a whole number and a unit (ms, s, m, h, d), e.g. 30s or 30d`;
  if (pattern.includes('[0-7]')) return `invalid mode "${found}": write octal permission bits as text, e.g. "0644"`;
  if (pattern === '^[^{]*$') return `"${found}": no templates here (vars_files are read when the runbook is loaded, before any variable is known)`;
  if (pattern.includes('%')) return `"${found}" must be a count or a percentage such as 30%`;
  if (pattern.startsWith('^[A-Za-z_][A-Za-z0-9_]*$')) return `"${found}" is not a valid name: use letters, digits and underscores, not starting with a digit`;
  if (pattern.startsWith('^[A-Za-z0-9_.:')) return `"${found}" is not a valid host name: use letters, digits, ., -, _ and :`;
  if (pattern.startsWith('^[A-Za-z_][A-Za-z0-9_-]*$')) return `"${found}" is not a valid group name: use letters, digits, _ and -`;
  return `"${found}" is not valid here (must match ${pattern})`;
}
