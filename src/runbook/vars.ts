/**
 * Variables and their precedence (lowest first):
 *   runbook `vars` < inventory group vars (all < parent < child) < host vars < `-e key=value` / `-e @file`.
 * A `-e key=value` is text, read as the type the runbook declares the variable with (./extra-var-types.ts).
 * Secret variables (`secrets:`) are redacted from everything printed or written.
 */
import { readFile } from 'node:fs/promises';
import { load as loadYamlValue } from 'js-yaml';
import { UserError, messageOf } from '../errors.js';
import type { HostEntry } from '../inventory/types.js';
import { expandDeep, type Scope } from './expressions.js';
import { cycleProblem, expansionOrder, type ScopeBuiltin } from './var-order.js';
import type { LoadedRunbook } from './model.js';
import { decryptAge, isAgeEncrypted, markEncryptedNames } from './encrypted.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Where a -e value came from: the argument that set it last, and whether it was `key=value` text. */
export interface ExtraVarSource {
  arg: string;
  /** key=value: text, read as the type the runbook declares the variable with (./extra-var-types.ts) */
  text: boolean;
}

/** -e as given on the command line: the values (later arguments win) and where each came from. */
export class ExtraVars {
  constructor(
    readonly values: Record<string, unknown> = {},
    readonly from: Record<string, ExtraVarSource> = {},
  ) {}
}

/**
 * `-e key=value` (value is text), `-e @file.yaml` (a YAML/JSON mapping) and `-e '{"key": true}'`
 * (a YAML/JSON mapping written inline, as Ansible takes it). A file's or inline mapping's values
 * keep their YAML types. Later ones win.
 */
export async function parseExtraVars(args: readonly string[]): Promise<ExtraVars> {
  const out = new ExtraVars();
  const set = (arg: string, text: boolean, key: string, value: unknown): void => {
    out.values[key] = value;
    out.from[key] = { arg, text };
  };
  for (const arg of args) {
    if (arg.startsWith('@')) {
      const path = arg.slice(1);
      let data: Buffer;
      try {
        data = await readFile(path);
      } catch (e) {
        throw new UserError({ kind: 'usage', message: `-e ${arg}: cannot read ${path}: ${messageOf(e)}` });
      }
      // an age file (./encrypted.ts): decrypted in memory; its names are secrets
      const encrypted = isAgeEncrypted(data);
      const text = encrypted ? await decryptAge(path, data) : data.toString('utf8');
      const entries = mappingOf(arg, text, path);
      for (const [k, v] of entries) set(arg, false, k, v);
      if (encrypted) markEncryptedNames(entries.map(([k]) => k));
      continue;
    }
    if (arg.trimStart().startsWith('{')) {
      for (const [k, v] of mappingOf(arg, arg)) set(arg, false, k, v);
      continue;
    }
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new UserError({ kind: 'usage', message: `-e ${arg}: expected key=value, @file.yaml or a {"key": value} mapping` });
    const key = arg.slice(0, eq);
    if (!NAME.test(key)) throw new UserError({ kind: 'usage', message: `-e ${arg}: "${key}" is not a valid variable name (letters, digits, _)` });
    set(arg, true, key, arg.slice(eq + 1));
  }
  return out;
}

/** The variables of a -e mapping (a file's text, or the argument itself when `path` is absent). */
function mappingOf(arg: string, text: string, path?: string): [string, unknown][] {
  const what = path ?? 'the mapping';
  let value: unknown;
  try {
    value = loadYamlValue(text);
  } catch (e) {
    throw new UserError({ kind: 'usage', message: `-e ${arg}: ${what} is not valid YAML: ${messageOf(e).split('\n')[0]}` });
  }
  if (value === null || value === undefined) return [];
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new UserError({ kind: 'usage', message: `-e ${arg}: ${path ?? 'it'} must ${path ? 'contain' : 'be'} a mapping of variable names to values` });
  }
  const entries = Object.entries(value);
  for (const [k] of entries) if (!NAME.test(k)) throw new UserError({ kind: 'usage', message: `-e ${arg}: "${k}" is not a valid variable name` });
  return entries;
}

export interface RunInfo {
  id: string;
  dry_run: boolean;
}

/**
 * The scope a host's expressions see. Runbook vars may be templates over lower-precedence
 * names and over each other; they are expanded after overrides are applied.
 */
export function hostScope(rb: LoadedRunbook, host: HostEntry, extra: Record<string, unknown>, run: RunInfo): Scope {
  // exactly SCOPE_BUILTINS: validate reads those names as what a var reading its own name sees
  const builtins: Record<ScopeBuiltin, unknown> = {
    host: { name: host.name, address: host.address, port: host.port, user: host.user ?? null, groups: host.groups },
    inventory_hostname: host.name,
    run: { id: run.id, dry_run: run.dry_run, runbook: rb.runbook.name },
  };
  const scope: Scope = { ...builtins };
  const runbookVars = (rb.runbook.vars ?? {}) as Record<string, unknown>;
  const overrides = { ...host.vars, ...extra };
  // a runbook var may refer to builtins, overrides and the other runbook vars (those its level's
  // vars_files set among them), before or after it: each is expanded after those it names
  const r = expansionOrder(runbookVars, (n) => Object.hasOwn(overrides, n));
  if (r.cycle) throw new UserError({ kind: 'expression', ...cycleProblem(r.cycle) });
  for (const k of r.order) scope[k] = expandDeep(runbookVars[k], { ...scope, ...overrides });
  for (const [k, v] of Object.entries(host.vars)) if (!(k in extra)) scope[k] = v;
  Object.assign(scope, extra);
  return scope;
}

/**
 * Values of the runbook's secret variables in this scope: non-empty strings and numbers, and inside
 * a secret list or mapping (an encrypted vars file's `db: {user, password}`) every string or number
 * of at least NESTED_SECRET_MIN characters: a shorter one (`app`, `1`) would turn every `apply` and
 * path that contains it into ***, and hides nothing worth hiding.
 */
export function secretValues(rb: LoadedRunbook, scope: Scope): string[] {
  const out: string[] = [];
  const leaves = (v: unknown, nested: boolean): void => {
    const s = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
    if (s !== undefined) {
      if (s.length >= (nested ? NESTED_SECRET_MIN : 1)) out.push(s);
    } else if (Array.isArray(v)) v.forEach((x) => leaves(x, true));
    else if (v !== null && typeof v === 'object') Object.values(v).forEach((x) => leaves(x, true));
  };
  for (const name of rb.secrets) leaves(scope[name], false);
  return out;
}
const NESTED_SECRET_MIN = 6;

/** Replaces secret values with *** in text and in any JSON-like value. */
export class Redactor {
  private readonly secrets: string[];
  constructor(secretValues: Iterable<string>) {
    // longest first, so a secret containing another is hidden whole
    this.secrets = [...new Set(secretValues)].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  }
  get active(): boolean {
    return this.secrets.length > 0;
  }
  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('***');
    return out;
  }
  redactDeep<T>(value: T): T {
    if (!this.active) return value;
    return this.walk(value) as T;
  }
  private walk(v: unknown): unknown {
    if (typeof v === 'string') return this.redact(v);
    if (Array.isArray(v)) return v.map((x) => this.walk(x));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = this.walk(x);
      return out;
    }
    return v;
  }
}
