/**
 * Loading a runbook: YAML with positions → schema → semantic checks (actions, expressions,
 * variables, shell safety, idempotency guards). Returns diagnostics, never throws for bad input.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { formatDiagnostic, messageOf, type Diagnostic } from '../errors.js';
import type { Runbook, Step } from './schema-types.js';
import { ACTION_TYPES, BUILTIN_NAMES, type ActionType, type LoadedRunbook, type StepInfo } from './model.js';
import { loadYaml, offsetInScalar, pointer, positionOf, type Path, type YamlDocument } from './yaml.js';
import { label, schemaDiagnostics } from './schema-check.js';
import { candidateNames, createChecker, hasTemplate, parseTemplate, type Checker } from './expressions.js';
import { closest } from './suggest.js';

export interface LoadOptions {
  /** names provided outside the runbook: inventory vars, -e vars */
  knownVarNames?: Iterable<string>;
}

export interface LoadResult {
  runbook?: LoadedRunbook;
  /** errors and warnings, sorted by position */
  diagnostics: Diagnostic[];
}

export async function loadRunbookFile(path: string, opts: LoadOptions = {}): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const message = code === 'ENOENT' ? `no such file: ${path}` : code === 'EISDIR' ? `${path} is a directory, not a runbook file` : `cannot read ${path}: ${messageOf(e)}`;
    return { diagnostics: [{ kind: 'io', severity: 'error', message, file: path }] };
  }
  return loadRunbookText(text, path, opts);
}

export function loadRunbookText(text: string, file: string, opts: LoadOptions = {}): LoadResult {
  const doc = loadYaml(text, file);
  const diagnostics = [...doc.diagnostics];
  if (doc.value === undefined) return { diagnostics: sortDiagnostics(diagnostics) };
  if (doc.value === null || typeof doc.value !== 'object' || Array.isArray(doc.value)) {
    diagnostics.push({
      kind: 'schema',
      severity: 'error',
      message: doc.value === null ? 'the runbook is empty' : 'a runbook must be a mapping with apiVersion, name, hosts and steps',
      file,
      ...positionOf(doc, []),
    });
    return { diagnostics: sortDiagnostics(diagnostics) };
  }
  diagnostics.push(...stepShapeDiagnostics(doc));
  diagnostics.push(...schemaDiagnostics(doc, 'runbook').filter((d) => !isCoveredByStepShape(d, diagnostics)));
  const raw = doc.value as Runbook;
  diagnostics.push(...semanticDiagnostics(doc, raw, opts));
  const sorted = sortDiagnostics(dedupe(diagnostics));
  if (sorted.some((d) => d.severity === 'error')) return { diagnostics: sorted };

  const stepInfos = (section: 'steps' | 'rollback'): StepInfo[] =>
    (raw[section] ?? []).map((step, index) => {
      const type = actionKeys(step)[0]!;
      const pos = positionOf(doc, [section, index]);
      return { section, index, id: `${section}[${index}]`, name: step.name, type, params: (step as Record<string, unknown>)[type], raw: step, ...pos };
    });
  return {
    runbook: {
      file,
      dir: dirname(resolve(file)),
      text,
      sha256: createHash('sha256').update(text).digest('hex'),
      doc,
      runbook: raw,
      steps: stepInfos('steps'),
      rollback: stepInfos('rollback'),
      secrets: new Set(raw.secrets ?? []),
    },
    diagnostics: sorted,
  };
}

function actionKeys(step: unknown): ActionType[] {
  if (!step || typeof step !== 'object') return [];
  return Object.keys(step).filter((k): k is ActionType => (ACTION_TYPES as readonly string[]).includes(k));
}

/** Exactly one action per step, said plainly (the schema's oneOf would say it badly). */
function stepShapeDiagnostics(doc: YamlDocument): Diagnostic[] {
  const out: Diagnostic[] = [];
  const root = doc.value as Record<string, unknown>;
  for (const section of ['steps', 'rollback'] as const) {
    const steps = root[section];
    if (!Array.isArray(steps)) continue;
    steps.forEach((step, i) => {
      if (!step || typeof step !== 'object' || Array.isArray(step)) return;
      const keys = actionKeys(step);
      const name = typeof (step as Step).name === 'string' ? `step "${(step as Step).name}"` : `${section}[${i}]`;
      if (keys.length === 0) {
        const unknown = Object.keys(step).filter((k) => !STEP_OPTIONS.has(k));
        if (unknown.length > 0) return; // the schema reports the unknown key, with a suggestion
        out.push({
          kind: 'schema',
          severity: 'error',
          message: `${name} has no action: add one of ${ACTION_TYPES.join(', ')}`,
          file: doc.source.file,
          ...positionOf(doc, [section, i]),
        });
      } else if (keys.length > 1) {
        out.push({
          kind: 'schema',
          severity: 'error',
          message: `${name} has more than one action (${keys.map((k) => `\`${k}\``).join(' and ')}): a step does exactly one thing, split it into ${keys.length} steps`,
          file: doc.source.file,
          ...positionOf(doc, [section, i, keys[1]!], 'key'),
        });
      }
    });
  }
  return out;
}

const STEP_OPTIONS = new Set(['name', 'when', 'register', 'loop', 'tags', 'timeout', 'ignore_errors', 'no_log', 'become', 'become_user']);

function isCoveredByStepShape(d: Diagnostic, shape: Diagnostic[]): boolean {
  // ajv's "must match exactly one schema" at a step duplicates what stepShapeDiagnostics said
  void shape;
  return /^(steps|rollback)\[\d+\]( needs exactly one of| takes only one of)/.test(d.message);
}

function dedupe(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const k = formatDiagnostic(d);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => (a.file ?? '').localeCompare(b.file ?? '') || (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
}

// ---- semantic checks ------------------------------------------------------------------------

/** Names a step makes available to later steps: its `register`, and the keys of a set_fact. */
function namesProvidedBy(step: Step): string[] {
  const out: string[] = [];
  if (typeof step.register === 'string') out.push(step.register);
  const sf = (step as Record<string, unknown>).set_fact;
  if (sf && typeof sf === 'object' && !Array.isArray(sf)) out.push(...Object.keys(sf));
  return out;
}

interface CheckContext {
  doc: YamlDocument;
  out: Diagnostic[];
  universe: Set<string>;
  checkUniverse: Checker;
}
let ctx: CheckContext | undefined;

function semanticDiagnostics(doc: YamlDocument, rb: Runbook, opts: LoadOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  ctx = undefined;
  const file = doc.source.file;
  const base = new Set<string>([...BUILTIN_NAMES, ...Object.keys(isObject(rb.vars) ? rb.vars : {}), ...(Array.isArray(rb.secrets) ? rb.secrets : []), ...(opts.knownVarNames ?? [])]);

  const varsToCheck = isObject(rb.vars) ? Object.entries(rb.vars) : [];
  if (Array.isArray(rb.secrets) && isObject(rb.vars)) {
    for (const [i, s] of rb.secrets.entries()) {
      if (typeof s === 'string' && !(s in rb.vars) && !(opts.knownVarNames && [...opts.knownVarNames].includes(s))) {
        out.push({ kind: 'schema', severity: 'warning', message: `secret \`${s}\` is not declared under vars: it must come from the inventory or -e`, file, ...positionOf(doc, ['secrets', i]) });
      }
    }
  }

  const sections: ('steps' | 'rollback')[] = ['steps', 'rollback'];
  const allProvided = new Set<string>();
  // One checker for every name the runbook could ever see; whether a name is available at a
  // given step is then a cheap set lookup (building a checker per step would be quadratic).
  const universe = new Set<string>([...base, 'item', 'result']);
  for (const section of sections) {
    const steps = (rb as unknown as Record<string, unknown>)[section];
    if (Array.isArray(steps)) for (const st of steps) if (isObject(st)) for (const n of namesProvidedBy(st as unknown as Step)) universe.add(n);
  }
  ctx = { doc, out, universe, checkUniverse: createChecker(universe) };
  // Runbook vars may refer to each other and to builtins.
  for (const [k, v] of varsToCheck) checkStrings(v, ['vars', k], base, out, doc);
  for (const section of sections) {
    const steps = (rb as unknown as Record<string, unknown>)[section];
    if (!Array.isArray(steps)) continue;
    // rollback steps may refer to anything the main steps registered (it may be absent at run time: has() guards it)
    const known = new Set<string>(section === 'rollback' ? [...base, ...allProvided] : base);
    steps.forEach((step: unknown, i: number) => {
      if (!isObject(step)) return;
      const s = step as unknown as Step;
      const path: Path = [section, i];
      const stepKnown = new Set(known);
      if (s.loop !== undefined) stepKnown.add('item');
      if (typeof s.when === 'string') checkExpr(s.when, [...path, 'when'], stepKnown, out, doc);
      if (typeof s.loop === 'string') checkStrings(s.loop, [...path, 'loop'], new Set(known), out, doc);
      else if (Array.isArray(s.loop)) checkStrings(s.loop, [...path, 'loop'], new Set(known), out, doc);
      for (const type of actionKeys(s)) {
        const params = (s as Record<string, unknown>)[type];
        checkActionParams(type, params, [...path, type], stepKnown, out, doc);
      }
      for (const n of namesProvidedBy(s)) {
        known.add(n);
        allProvided.add(n);
      }
    });
  }
  ctx = undefined;
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const EXPRESSION_KEYS = new Set(['changed_when', 'failed_when']);

function checkActionParams(type: ActionType, params: unknown, path: Path, known: Set<string>, out: Diagnostic[], doc: YamlDocument): void {
  const file = doc.source.file;
  if (type === 'assert' && isObject(params)) {
    const that = params.that;
    if (typeof that === 'string') checkExpr(that, [...path, 'that'], known, out, doc);
    else if (Array.isArray(that)) that.forEach((t, i) => typeof t === 'string' && checkExpr(t, [...path, 'that', i], known, out, doc));
    if (params.fail_msg !== undefined) checkStrings(params.fail_msg, [...path, 'fail_msg'], known, out, doc);
    return;
  }
  if (type === 'command' || type === 'shell') {
    const obj = isObject(params) ? params : undefined;
    const withResult = new Set([...known, 'result']);
    if (obj) {
      for (const [k, v] of Object.entries(obj)) {
        if (EXPRESSION_KEYS.has(k)) {
          if (typeof v === 'string') checkExpr(v, [...path, k], withResult, out, doc);
        } else if (k === 'script') {
          if (typeof v === 'string' && hasTemplate(v)) out.push(shellTemplateError([...path, k], doc));
        } else checkStrings(v, [...path, k], known, out, doc);
      }
    } else if (type === 'shell' && typeof params === 'string') {
      if (hasTemplate(params)) out.push(shellTemplateError(path, doc));
    } else checkStrings(params, path, known, out, doc);
    const guarded = obj && ['creates', 'removes', 'unless', 'only_if', 'changed_when'].some((g) => g in obj);
    if (!guarded) {
      out.push({
        kind: 'schema',
        severity: 'warning',
        message: `${type} step has no idempotency guard: it will run (and count as a change) on every apply`,
        hint: 'add creates, removes, unless, only_if or changed_when',
        file,
        ...positionOf(doc, path, 'key'),
      });
    }
    return;
  }
  if (type === 'backup' && isObject(params) && typeof params.to === 'string' && /\/manifests(\/|$)/.test(params.to)) {
    out.push({
      kind: 'schema',
      severity: 'error',
      message: `backup directory \`${params.to}\` is inside a manifests directory: the kubelet would start every file there as a static pod`,
      hint: 'back up to /var/backups/... instead',
      file,
      ...positionOf(doc, [...path, 'to']),
    });
  }
  checkStrings(params, path, known, out, doc);
}

function shellTemplateError(path: Path, doc: YamlDocument): Diagnostic {
  return {
    kind: 'schema',
    severity: 'error',
    message: 'templates `{{ }}` are not expanded inside a shell script: a value could inject shell code',
    hint: 'pass values through `env:` (use "$NAME") or `args:` (use "$1")',
    file: doc.source.file,
    ...positionOf(doc, path),
  };
}

/** Check every `{{ }}` in the strings inside a value. */
function checkStrings(value: unknown, path: Path, known: Set<string>, out: Diagnostic[], doc: YamlDocument): void {
  if (typeof value === 'string') {
    if (!hasTemplate(value)) return;
    const { parts, error } = parseTemplate(value);
    if (error) {
      out.push(exprDiagnostic(doc, path, error.offset, `${error.message}`));
      return;
    }
    for (const p of parts) if (p.kind === 'expr') checkExpr(p.source, path, known, out, doc, p.offset);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => checkStrings(v, [...path, i], known, out, doc));
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) checkStrings(v, [...path, k], known, out, doc);
  }
}

function checkExpr(source: string, path: Path, known: Set<string>, out: Diagnostic[], doc: YamlDocument, offsetInString = 0): void {
  const c = ctx!;
  let problem = c.checkUniverse(source);
  if (!problem) {
    // names the runbook defines somewhere, but not before this point
    const early = candidateNames(source).filter((n) => c.universe.has(n) && !known.has(n));
    if (early.length > 0) problem = createChecker(known)(source);
  }
  if (!problem) return;
  if (problem.kind === 'unknown-name' && problem.name) {
    const guess = closest(problem.name, [...known]);
    const later = c.universe.has(problem.name) && !known.has(problem.name);
    out.push({
      ...exprDiagnostic(doc, path, offsetInString + problem.offset, `undefined variable \`${problem.name}\` in ${label(path)}`),
      kind: 'undefined-variable',
      hint: later
        ? problem.name === 'item'
          ? '`item` exists only in a step with `loop:`'
          : problem.name === 'result'
            ? '`result` exists only in changed_when and failed_when'
            : `\`${problem.name}\` is registered by a later step; steps see only what earlier steps registered`
        : guess
          ? `did you mean \`${guess}\`?`
          : 'declare it under vars: (null when the inventory or -e provides it), or register it in an earlier step',
    });
    return;
  }
  out.push(exprDiagnostic(doc, path, offsetInString + problem.offset, `invalid expression in ${label(path)}: ${problem.message}`));
}

function exprDiagnostic(doc: YamlDocument, path: Path, offsetInString: number, message: string): Diagnostic {
  const pos = doc.positions.get(pointer(path));
  const where = pos ? doc.source.lineCol(offsetInScalar(pos, offsetInString)) : positionOf(doc, path);
  return { kind: 'expression', severity: 'error', message, file: doc.source.file, ...where };
}
