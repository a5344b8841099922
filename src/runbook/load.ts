/**
 * Loading a runbook: YAML with positions → schema → semantic checks (actions, expressions,
 * variables, shell safety, idempotency guards). Returns diagnostics, never throws for bad input.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { formatDiagnostic, messageOf, type Diagnostic } from '../errors.js';
import type { Runbook, Step } from './schema-types.js';
import { ACTION_TYPES, BUILTIN_NAMES, ENGINE_STEP_TYPES, type ActionType, type LoadedRunbook, type PlayInfo, type StepInfo, type StepType } from './model.js';
import { loadYaml, offsetInScalar, pointer, positionOf, type Path, type YamlDocument, isObject } from './yaml.js';
import { label, schemaDiagnostics } from './schema-check.js';
import { candidateNames, createChecker, hasTemplate, parseTemplate, type Checker } from './expressions.js';
import { closest } from './suggest.js';
import { blockDiagnostics, flattenSteps, walkSteps } from './blocks.js';
import { expandImports } from './imports.js';
import { applyVarsFiles, readVarsFiles, type VarsFiles } from './vars-files.js';
import { encryptedVarNames } from './encrypted.js';
import { safetyDiagnostics } from './safety-lint.js';
import { varCycleDiagnostics } from './var-order.js';
import { unseenNameHint, type NameSources } from './unseen-hint.js';

export interface LoadOptions {
  /** names provided outside the runbook: inventory vars, -e vars */
  knownVarNames?: Iterable<string>;
  /** `validate`: names the inventory or -e set on every host a `hosts:` pattern selects; only these
   * break a cycle among runbook vars (./var-order.ts). Without it (apply, resume, rollback: a host
   * that lacks the name fails alone at run time) all knownVarNames do */
  givenToEveryHost?: (hostsPattern: string) => Iterable<string>;
  /** what the runbook's vars_files hold (./vars-files.ts; read by loadRunbookFile) */
  varsFiles?: VarsFiles;
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
  const files = await readVarsFiles(text, path);
  return loadRunbookText(text, path, files ? { ...opts, varsFiles: files, knownVarNames: [...(opts.knownVarNames ?? []), ...files.names] } : opts);
}

export function loadRunbookText(text: string, file: string, opts: LoadOptions = {}): LoadResult {
  const parsed = loadYaml(text, file);
  // imported files joined in (src/runbook/imports.ts); their diagnostics are remapped at the end
  const imports = expandImports(parsed);
  const doc = imports.doc;
  const diagnostics = [...doc.diagnostics, ...imports.diagnostics, ...(opts.varsFiles?.diagnostics ?? [])];
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
  diagnostics.push(...stepShapeDiagnostics(doc), ...playShapeDiagnostics(doc), ...handlerDiagnostics(doc), ...blockDiagnostics(doc, stepLists(doc.value as Record<string, unknown>)));
  diagnostics.push(...schemaDiagnostics(doc, 'runbook').filter((d) => !isCoveredByStepShape(d, diagnostics)));
  const raw = doc.value as Runbook;
  diagnostics.push(...semanticDiagnostics(doc, raw, opts));
  const sorted = sortDiagnostics(dedupe(diagnostics.map(imports.remap)));
  if (sorted.some((d) => d.severity === 'error')) return { diagnostics: sorted };
  if (opts.varsFiles) applyVarsFiles(raw, opts.varsFiles);

  const stepInfos = (prefix: Path, section: 'steps' | 'rollback' | 'handlers', list: Step[] | undefined, play: number, inherit: Pick<Step, 'become' | 'become_user' | 'timeout'>): StepInfo[] =>
    flattenSteps(list, [...prefix, section]).map(({ step: written, path, frames }, index) => {
      const type = actionKeys(written)[0]!;
      const pos = positionOf(doc, path);
      // a play's become/timeout is the default of its steps (the step's own wins)
      const step: Step = { ...written, ...(written.become === undefined && inherit.become !== undefined ? { become: inherit.become } : {}), ...(written.become_user === undefined && inherit.become_user !== undefined ? { become_user: inherit.become_user } : {}), ...(written.timeout === undefined && inherit.timeout !== undefined ? { timeout: inherit.timeout } : {}) };
      const id = label(path);
      const w = imports.sourceOf(pos.line);
      const from = w.file;
      return { section, play, index, id, name: step.name, type, params: (step as Record<string, unknown>)[type], raw: step, ...(written.become !== undefined ? { ownBecome: written.become } : {}), ...(frames.length ? { blocks: frames } : {}), ...pos, at: `${w.file}:${w.line}:${pos.col}`, ...(from !== file ? { dir: dirname(resolve(from)) } : {}) };
    });
  const plays: PlayInfo[] = raw.plays
    ? raw.plays.map((p, i) => {
        // when another play becomes, the host's own connection does (lock, rollback): a play that says nothing runs as the login user
        const become = p.become ?? raw.become ?? (raw.plays!.some((q) => q.become === true) ? false : undefined);
        const inherit = { ...(become !== undefined ? { become } : {}), ...((p.become_user ?? raw.become_user) !== undefined ? { become_user: (p.become_user ?? raw.become_user)! } : {}), ...((p.timeout ?? raw.timeout) !== undefined ? { timeout: (p.timeout ?? raw.timeout)! } : {}) };
        const { name, hosts, vars, steps, rollback, handlers: _handlers, vars_files: _varsFiles, ...settings } = p;
        return {
          index: i,
          name,
          hosts,
          settings: { ...(raw.force_handlers !== undefined ? { force_handlers: raw.force_handlers } : {}), ...settings, ...inherit },
          vars: (vars ?? {}) as Record<string, unknown>,
          steps: stepInfos(['plays', i], 'steps', steps, i, inherit),
          rollback: stepInfos(['plays', i], 'rollback', rollback, i, inherit),
          handlers: stepInfos(['plays', i], 'handlers', p.handlers, i, inherit),
          ...positionOf(doc, ['plays', i]),
        };
      })
    : [
        {
          index: 0,
          name: raw.name,
          hosts: raw.hosts!,
          settings: pick(raw, ['serial', 'max_fail_percentage', 'any_errors_fatal', 'on_failure', 'timeout', 'become', 'force_handlers']),
          vars: {},
          steps: stepInfos([], 'steps', raw.steps, 0, {}),
          rollback: stepInfos([], 'rollback', raw.rollback, 0, {}),
          handlers: stepInfos([], 'handlers', raw.handlers, 0, {}),
          line: 1,
          col: 1,
        },
      ];
  const loaded: LoadedRunbook = {
    file,
    dir: dirname(resolve(file)),
    text,
    // over the imported files and the vars_files too: a saved plan is refused when any of them changed
    // (a runbook without vars_files keeps the digest of its text alone)
    sha256: runbookDigest(doc.source.text, opts.varsFiles?.digests ?? []),
    doc,
    runbook: raw,
    steps: plays.flatMap((p) => p.steps),
    rollback: plays.flatMap((p) => p.rollback),
    plays,
    multiPlay: raw.plays !== undefined,
    hostsPattern: plays.map((p) => p.hosts).join(','),
    secrets: new Set([...(raw.secrets ?? []), ...(opts.varsFiles?.secretNames ?? []), ...encryptedVarNames()]),
  };
  return { runbook: loaded, diagnostics: sortDiagnostics([...sorted, ...dedupe(safetyDiagnostics(loaded).map(imports.remap))]) };
}

function runbookDigest(text: string, varsFileDigests: string[]): string {
  const h = createHash('sha256').update(text);
  for (const d of varsFileDigests) h.update(`\0vars_files ${d}`);
  return h.digest('hex');
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** Where the runbook's step lists are: `steps`/`rollback`, or those of each play. */
type Section = 'steps' | 'rollback' | 'handlers';
const SECTIONS = ['steps', 'handlers', 'rollback'] as const;

function stepLists(root: Record<string, unknown>): { path: Path; section: Section; play: number }[] {
  const out: { path: Path; section: Section; play: number }[] = [];
  if (Array.isArray(root.plays)) {
    root.plays.forEach((p, i) => {
      if (isObject(p)) for (const section of SECTIONS) out.push({ path: ['plays', i, section], section, play: i });
    });
  } else for (const section of SECTIONS) out.push({ path: [section], section, play: 0 });
  return out;
}

function listAt(root: Record<string, unknown>, path: Path): unknown {
  let v: unknown = root;
  for (const k of path) v = isObject(v) || Array.isArray(v) ? (v as Record<string | number, unknown>)[k] : undefined;
  return v;
}

const STEP_TYPES: readonly string[] = [...ACTION_TYPES, ...ENGINE_STEP_TYPES];

function actionKeys(step: unknown): StepType[] {
  if (!step || typeof step !== 'object') return [];
  return Object.keys(step).filter((k): k is StepType => STEP_TYPES.includes(k));
}

/** Exactly one action per step, said plainly (the schema's oneOf would say it badly). */
function stepShapeDiagnostics(doc: YamlDocument): Diagnostic[] {
  const out: Diagnostic[] = [];
  const root = doc.value as Record<string, unknown>;
  for (const { path: at } of stepLists(root)) {
    for (const { step, path, block } of walkSteps(listAt(root, at), at)) {
      const keys = actionKeys(step);
      const name = typeof (step as unknown as Step).name === 'string' ? `${block ? 'block' : 'step'} "${(step as unknown as Step).name}"` : label(path);
      if (block) {
        if (keys.length > 0) out.push({ kind: 'schema', severity: 'error', message: `${name} has an action (\`${keys[0]}\`): a block only groups steps`, hint: 'move the action into a step under block:', file: doc.source.file, ...positionOf(doc, [...path, keys[0]!], 'key') });
        continue;
      }
      if (keys.length === 0) {
        const unknown = Object.keys(step).filter((k) => !STEP_OPTIONS.has(k));
        // the schema reports an unknown key (with a suggestion); blocks.ts a rescue without its block
        if (unknown.length > 0 || 'rescue' in step || 'always' in step || 'import' in step) continue;
        out.push({
          kind: 'schema',
          severity: 'error',
          message: `${name} has no action: add one of ${ACTION_TYPES.join(', ')}`,
          file: doc.source.file,
          ...positionOf(doc, path),
        });
      } else if (keys.length > 1) {
        out.push({
          kind: 'schema',
          severity: 'error',
          message: `${name} has more than one action (${keys.map((k) => `\`${k}\``).join(' and ')}): a step does exactly one thing, split it into ${keys.length} steps`,
          file: doc.source.file,
          ...positionOf(doc, [...path, keys[1]!], 'key'),
        });
      }
    }
  }
  return out;
}

/** Keys of a single play that move into each play when the runbook has `plays:`. */
const PLAY_KEYS = ['hosts', 'serial', 'max_fail_percentage', 'any_errors_fatal', 'on_failure', 'rollback', 'handlers'] as const;

/** The two forms kept apart: `hosts` + `steps`, or `plays:` (each with its own hosts and policy). */
function playShapeDiagnostics(doc: YamlDocument): Diagnostic[] {
  const root = doc.value as Record<string, unknown>;
  const file = doc.source.file;
  if (root.plays !== undefined) {
    return PLAY_KEYS.filter((k) => k in root).map((k) => ({
      kind: 'schema',
      severity: 'error',
      message: `\`${k}\` belongs in each play when the runbook has \`plays:\``,
      hint: k === 'rollback' ? "give each play its own rollback steps (a failed run runs those of the host's plays, newest first)" : k === 'handlers' ? 'give each play the handlers its steps notify' : `move it into the plays that need it`,
      file,
      ...positionOf(doc, [k], 'key'),
    }));
  }
  if (root.steps !== undefined && root.hosts === undefined) {
    return [{ kind: 'schema', severity: 'error', message: 'the document is missing required key `hosts`', file, ...positionOf(doc, []) }];
  }
  return [];
}

/**
 * Handlers: `notify` names a handler of the same play; handler names are unique; a handler no
 * step notifies is dead code; `flush_handlers` is a step of `steps:` only.
 */
function handlerDiagnostics(doc: YamlDocument): Diagnostic[] {
  const out: Diagnostic[] = [];
  const file = doc.source.file;
  const root = doc.value as Record<string, unknown>;
  const plays: Path[] = Array.isArray(root.plays) ? root.plays.map((_, i) => ['plays', i]) : [[]];
  for (const at of plays) {
    const play = listAt(root, at);
    if (!isObject(play)) continue;
    const handlers = Array.isArray(play.handlers) ? (play.handlers as unknown[]) : [];
    const names = new Map<string, number>();
    handlers.forEach((h, i) => {
      if (!isObject(h) || typeof h.name !== 'string') return;
      if (names.has(h.name)) out.push({ kind: 'schema', severity: 'error', message: `two handlers are named "${h.name}": notify could not tell them apart`, file, ...positionOf(doc, [...at, 'handlers', i, 'name']) });
      else names.set(h.name, i);
    });
    const notified = new Set<string>();
    for (const section of ['steps', 'handlers', 'rollback'] as const) {
      for (const { step: st, path: stPath } of walkSteps(play[section], [...at, section])) {
        if ('flush_handlers' in st && section !== 'steps') {
          out.push({ kind: 'schema', severity: 'error', message: `flush_handlers belongs in steps:, not in ${section}:`, file, ...positionOf(doc, [...stPath, 'flush_handlers'], 'key') });
        }
        const n = st.notify;
        const targets = typeof n === 'string' ? [n] : Array.isArray(n) ? n.filter((x): x is string => typeof x === 'string') : [];
        targets.forEach((t, j) => {
          notified.add(t);
          if (names.has(t)) return;
          const guess = closest(t, [...names.keys()]);
          const elsewhere = plays.find((o) => o !== at && (listAt(root, [...o, 'handlers']) as unknown[] | undefined)?.some?.((x) => isObject(x) && x.name === t));
          out.push({
            kind: 'schema',
            severity: 'error',
            message: `notify: no handler named "${t}" in ${at.length ? label(at) : 'this runbook'}`,
            hint: elsewhere ? `"${t}" is a handler of ${label(elsewhere)}: a step notifies the handlers of its own play` : guess ? `did you mean "${guess}"?` : names.size ? `handlers: ${[...names.keys()].map((x) => `"${x}"`).join(', ')}` : 'add it under handlers:',
            file,
            ...positionOf(doc, typeof n === 'string' ? [...stPath, 'notify'] : [...stPath, 'notify', j]),
          });
        });
      }
    }
    for (const [name, i] of names) {
      if (!notified.has(name)) out.push({ kind: 'schema', severity: 'warning', message: `handler "${name}" is never notified: it will never run`, hint: 'add `notify: ' + name + '` to the step that should trigger it', file, ...positionOf(doc, [...at, 'handlers', i]) });
    }
  }
  return out;
}

const STEP_OPTIONS = new Set(['block', 'rescue', 'always', 'import', 'vars', 'name', 'when', 'register', 'loop', 'tags', 'timeout', 'ignore_errors', 'no_log', 'verifies', 'become', 'become_user', 'run_once', 'delegate_to', 'notify', 'retries', 'delay', 'until']);

function isCoveredByStepShape(d: Diagnostic, shape: Diagnostic[]): boolean {
  // ajv's "must match exactly one schema" at a step duplicates what stepShapeDiagnostics said
  void shape;
  return /^(plays\[\d+\]\.)?(steps|rollback|handlers)\[\d+\](\.(block|rescue|always)\[\d+\])*( needs exactly one of| takes only one of)/.test(d.message);
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

interface CheckContext extends NameSources {
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

  const root = rb as unknown as Record<string, unknown>;
  const lists = stepLists(root);
  const playVars = (play: number): Record<string, unknown> => {
    const p = Array.isArray(root.plays) ? root.plays[play] : undefined;
    return isObject(p) && isObject(p.vars) ? p.vars : {};
  };
  const allProvided = new Set<string>();
  // Where each name comes from (the hint when one is used where it is not seen), base's left out.
  const playVarNames = new Set<string>();
  const stepVarNames = new Set<string>();
  const provided = new Set<string>();
  for (const { path: at, play } of lists) {
    for (const k of Object.keys(playVars(play))) if (!base.has(k)) playVarNames.add(k);
    for (const { step: st, vars } of walkSteps(listAt(root, at), at)) {
      for (const n of namesProvidedBy(st as unknown as Step)) provided.add(n);
      for (const n of vars) if (!base.has(n)) stepVarNames.add(n);
    }
  }
  // One checker for every name the runbook could ever see; whether a name is available at a
  // given step is then a cheap set lookup (building a checker per step would be quadratic).
  const universe = new Set<string>([...base, 'item', 'result', ...playVarNames, ...stepVarNames, ...provided]);
  ctx = { doc, out, universe, checkUniverse: createChecker(universe), playVarNames, stepVarNames, provided };
  // vars may name each other in any order (hostScope expands each after those it names), but not in a cycle
  out.push(...varCycleDiagnostics(doc, root, opts.knownVarNames ?? [], opts.varsFiles, opts.givenToEveryHost));
  // Runbook vars may refer to each other and to builtins.
  for (const [k, v] of varsToCheck) checkStrings(v, ['vars', k], base, out, doc);
  // a play's vars may refer to the runbook's and to each other in any order, as the runbook's may
  // (playView merges them and hostScope expands each after those it names; a cycle is reported above)
  if (Array.isArray(root.plays)) {
    root.plays.forEach((_, p) => {
      const known = new Set([...base, ...Object.keys(playVars(p))]);
      for (const [k, v] of Object.entries(playVars(p))) checkStrings(v, ['plays', p, 'vars', k], known, out, doc);
    });
  }
  // names registered by a play's steps (the first play that does), and by each play so far
  const registeredIn = new Map<string, number>();
  const playLocal = new Map<number, Set<string>>();
  const playHosts = (p: number): unknown => (Array.isArray(root.plays) && isObject(root.plays[p]) ? root.plays[p].hosts : undefined);
  for (const { path: at, section, play } of lists) {
    const local = playLocal.get(play) ?? playLocal.set(play, new Set()).get(play)!;
    // a play sees what earlier plays registered (on its host, or any host's via hostvars); rollback
    // steps may refer to anything the steps before registered (it may be absent at run time: has() guards it)
    const known = new Set<string>([...base, ...Object.keys(playVars(play)), ...allProvided]);
    // order_by sorts the play's hosts before its first step: it sees what earlier plays registered
    const orderBy = section === 'steps' && Array.isArray(root.plays) && isObject(root.plays[play]) ? root.plays[play].order_by : undefined;
    if (typeof orderBy === 'string') checkExpr(orderBy, ['plays', play, 'order_by'], known, out, doc);
    for (const { step, path, vars } of walkSteps(listAt(root, at), at)) {
      const s = step as unknown as Step;
      // a step's vars (and its blocks') see what the step sees; the step sees them too
      if (isObject(s.vars)) for (const [k, v] of Object.entries(s.vars)) checkStrings(v, [...path, 'vars', k], new Set([...known, ...vars.filter((n) => !(n in s.vars!))]), out, doc);
      const stepKnown = new Set([...known, ...vars]);
      if (s.loop !== undefined) stepKnown.add('item');
      if (typeof s.when === 'string') checkExpr(s.when, [...path, 'when'], stepKnown, out, doc);
      if (typeof s.loop === 'string') checkStrings(s.loop, [...path, 'loop'], new Set(known), out, doc);
      else if (Array.isArray(s.loop)) checkStrings(s.loop, [...path, 'loop'], new Set(known), out, doc);
      for (const type of actionKeys(s)) {
        if (type === 'flush_handlers') continue;
        const params = (s as Record<string, unknown>)[type];
        checkActionParams(type, params, [...path, type], stepKnown, out, doc);
      }
      if (typeof s.delegate_to === 'string') checkDelegation(s, path, stepKnown, out, doc, section);
      // a name only an earlier play with other hosts registered: undefined on a host that did not run it
      for (const n of new Set(namesInStrings(s))) {
        const q = registeredIn.get(n);
        if (q === undefined || q >= play || local.has(n) || stepKnown.has(n) !== true || base.has(n) || n in playVars(play) || vars.includes(n)) continue;
        if (playHosts(q) === playHosts(play)) continue;
        out.push({
          kind: 'undefined-variable',
          severity: 'warning',
          message: `\`${n}\` is registered in play ${q + 1}, which may select other hosts than this play: on a host that did not run it, \`${n}\` is undefined`,
          hint: `read it as hostvars[HOST].${n} from a host that ran play ${q + 1}, or guard it with has()`,
          file: doc.source.file,
          ...positionOf(doc, path),
        });
      }
      if (typeof s.until === 'string') checkExpr(s.until, [...path, 'until'], new Set([...stepKnown, 'result']), out, doc);
      if (s.delay !== undefined && s.retries === undefined && s.until === undefined) {
        out.push({ kind: 'schema', severity: 'warning', message: 'delay without retries or until: the step is tried once', hint: 'add retries: N or until: CONDITION', file: doc.source.file, ...positionOf(doc, [...path, 'delay'], 'key') });
      }
      for (const n of namesProvidedBy(s)) {
        known.add(n);
        if (section === 'steps') {
          allProvided.add(n);
          local.add(n);
          if (!registeredIn.has(n)) registeredIn.set(n, play);
        }
      }
    }
  }
  ctx = undefined;
  return out;
}

/** The top-level names the templates and expressions of a step (not of its blocks' steps) read. */
function namesInStrings(step: Step): string[] {
  const out: string[] = [];
  const visit = (v: unknown, key?: string, expression = false): void => {
    if (key === 'block' || key === 'rescue' || key === 'always' || key === 'name') return;
    if (typeof v === 'string') {
      if (expression) out.push(...candidateNames(v));
      else if (hasTemplate(v)) for (const part of parseTemplate(v).parts) if (part.kind === 'expr') out.push(...candidateNames(part.source));
    } else if (Array.isArray(v)) v.forEach((x) => visit(x, undefined, expression));
    else if (isObject(v)) for (const [k, x] of Object.entries(v)) visit(x, k, ['when', 'until', 'that', 'changed_when', 'failed_when'].includes(k));
  };
  visit(step);
  return out;
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
    if (obj?.read_only === true && 'changed_when' in obj) {
      out.push({
        kind: 'schema',
        severity: 'error',
        message: `${type} step is read_only and has changed_when: a read-only command never counts as a change`,
        hint: 'remove changed_when, or remove read_only if the command changes the host',
        file,
        ...positionOf(doc, [...path, 'changed_when'], 'key'),
      });
    }
    const guarded = obj && ['creates', 'removes', 'unless', 'only_if', 'changed_when', 'read_only'].some((g) => g in obj);
    if (!guarded) {
      out.push({
        kind: 'schema',
        severity: 'warning',
        message: `${type} step has no idempotency guard: it will run (and count as a change) on every apply`,
        hint: 'add creates, removes, unless, only_if, changed_when, or read_only: true for a command that only reads',
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

/** delegate_to: its templates, and no backup/restore elsewhere (a host's backups are its own to restore). */
function checkDelegation(s: Step, path: Path, known: Set<string>, out: Diagnostic[], doc: YamlDocument, section: string): void {
  checkStrings(s.delegate_to, [...path, 'delegate_to'], known, out, doc);
  if (section === 'rollback') {
    out.push({ kind: 'schema', severity: 'error', message: 'a rollback step cannot be delegated: rollback runs on the host being restored', hint: 'put the delegated step in steps:, where its change is rolled back on the host it was made on', file: doc.source.file, ...positionOf(doc, [...path, 'delegate_to'], 'key') });
    return;
  }
  const type = actionKeys(s).find((t) => t === 'backup' || t === 'restore');
  if (type) {
    out.push({
      kind: 'schema',
      severity: 'error',
      message: `a \`${type}\` step cannot be delegated: rollback restores a host from the backups taken on it`,
      hint: `take the ${type} in a play on the host it protects`,
      file: doc.source.file,
      ...positionOf(doc, [...path, 'delegate_to'], 'key'),
    });
  }
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
        ? unseenNameHint(problem.name, c)
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
