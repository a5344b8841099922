/**
 * `vars_files:` (runbook and play level): YAML mappings of variables read when the runbook is
 * loaded, relative to the runbook file; later files win, and a level's files win over its `vars:`
 * (runbook vars < runbook vars_files < play vars < play vars_files < inventory < -e). A file
 * encrypted with age (./encrypted.ts) is decrypted in memory, every name it sets is a secret, and
 * its values are literal: never templated (./expressions.ts Literal, like Ansible's `!unsafe`).
 *
 * Read before the runbook is checked, so `validate` knows the names they define; a file that cannot
 * be read, decrypted or parsed is a diagnostic at its `vars_files` entry.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { load as loadYamlValue } from 'js-yaml';
import { isUserError, messageOf, type Diagnostic } from '../errors.js';
import { decryptAge, isAgeEncrypted } from './encrypted.js';
import { Literal } from './expressions.js';
import { loadYaml, positionOf, type Path, isObject } from './yaml.js';
import type { Runbook } from './schema-types.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_VARS_FILE = 4 * 1024 * 1024;

export interface VarsFiles {
  /** the runbook's vars_files, merged in order */
  runbook: Record<string, unknown>;
  /** each play's (by index) */
  plays: Record<number, Record<string, unknown>>;
  /** every name the files set (validate counts them as defined) */
  names: string[];
  /** the names set by encrypted files: secrets */
  secretNames: string[];
  diagnostics: Diagnostic[];
  /** each file's sha256 (its bytes as stored), in the order read: the runbook's digest covers them */
  digests: string[];
}

/** The variables of one file, or a message saying why not. */
type ReadResult = { vars: Record<string, unknown>; encrypted: boolean; digest: string; error?: undefined } | { error: string; hint?: string; kind: Diagnostic['kind']; vars?: Record<string, unknown>; encrypted?: boolean; digest?: string };

async function readOne(path: string, shown: string): Promise<ReadResult> {
  let data: Buffer;
  try {
    const st = await stat(path);
    if (!st.isFile()) return { kind: 'io', error: `vars_files: ${shown} is not a regular file` };
    if (st.size > MAX_VARS_FILE) return { kind: 'io', error: `vars_files: ${shown} is larger than 4 MiB` };
    data = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { kind: 'io', error: code === 'ENOENT' ? `vars_files: no such file: ${shown}` : `vars_files: cannot read ${shown}: ${messageOf(e)}`, hint: 'vars_files paths are relative to the runbook file' };
  }
  const encrypted = isAgeEncrypted(data);
  const digest = createHash('sha256').update(data).digest('hex');
  let text: string;
  try {
    text = encrypted ? await decryptAge(shown, data) : data.toString('utf8');
  } catch (e) {
    if (!isUserError(e)) throw e;
    return { kind: 'io', error: `vars_files: ${e.message}`, ...(e.diagnostic.hint ? { hint: e.diagnostic.hint } : {}) };
  }
  let value: unknown;
  try {
    value = loadYamlValue(text);
  } catch (e) {
    // never the decrypted text in a message: only the first line of the parser's complaint, without its excerpt
    return { kind: 'yaml', error: `vars_files: ${shown} is not valid YAML${encrypted ? ' (after decryption)' : ''}: ${messageOf(e).split('\n')[0]!.replace(/\s*\(\d+:\d+\)$/, '')}` };
  }
  if (value === null || value === undefined) return { vars: {}, encrypted, digest };
  if (!isObject(value)) return { kind: 'schema', error: `vars_files: ${shown} must hold a mapping of variable names to values` };
  const bad = Object.keys(value).filter((k) => !NAME.test(k));
  // the good names still count (no "undefined variable" after this error)
  const vars = Object.fromEntries(Object.entries(value).filter(([k]) => NAME.test(k)));
  if (bad.length) return { kind: 'schema', error: `vars_files: ${shown}: ${bad.map((k) => `"${k}"`).join(', ')} ${bad.length === 1 ? 'is not a valid variable name' : 'are not valid variable names'} (letters, digits, _)`, vars, encrypted, digest };
  return { vars, encrypted, digest };
}

/** Read every vars_files entry of the runbook text; undefined when it has none. */
export async function readVarsFiles(text: string, file: string): Promise<VarsFiles | undefined> {
  if (!text.includes('vars_files')) return undefined;
  const doc = loadYaml(text, file);
  if (!isObject(doc.value)) return undefined;
  const root = doc.value;
  const lists: { at: Path; list: unknown; play?: number }[] = [{ at: ['vars_files'], list: root.vars_files }];
  if (Array.isArray(root.plays)) root.plays.forEach((p, i) => isObject(p) && lists.push({ at: ['plays', i, 'vars_files'], list: p.vars_files, play: i }));
  const out: VarsFiles = { runbook: {}, plays: {}, names: [], secretNames: [], diagnostics: [], digests: [] };
  for (const { at, list, play } of lists) {
    if (!Array.isArray(list)) continue; // a wrong shape is the schema check's to report
    for (const [i, entry] of list.entries()) {
      if (typeof entry !== 'string' || entry === '' || entry.includes('{')) continue; // the schema check reports those
      const path = isAbsolute(entry) ? entry : join(dirname(file), entry);
      const r = await readOne(path, path);
      if (r.error !== undefined) out.diagnostics.push({ kind: r.kind, severity: 'error', message: r.error, ...(r.hint ? { hint: r.hint } : {}), file, ...positionOf(doc, [...at, i]) });
      if (r.digest) out.digests.push(r.digest);
      if (!r.vars) continue;
      // what an encrypted file sets is used as written: a secret holding `{{` is not an expression
      const vars = r.encrypted ? Object.fromEntries(Object.entries(r.vars).map(([k, v]) => [k, new Literal(v)])) : r.vars;
      Object.assign(play === undefined ? out.runbook : (out.plays[play] ??= {}), vars);
      out.names.push(...Object.keys(r.vars));
      if (r.encrypted) out.secretNames.push(...Object.keys(r.vars));
    }
  }
  return out;
}

/** Merge the files' variables into the loaded runbook's (over each level's own `vars:`). */
export function applyVarsFiles(rb: Runbook, files: VarsFiles): void {
  if (Object.keys(files.runbook).length) rb.vars = { ...(rb.vars ?? {}), ...files.runbook };
  for (const [i, vars] of Object.entries(files.plays)) {
    const p = rb.plays?.[Number(i)];
    if (p) p.vars = { ...(p.vars ?? {}), ...vars };
  }
}
