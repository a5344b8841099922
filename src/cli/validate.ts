/** `runbook validate FILE... [-i INVENTORY]`: check runbooks and inventories without touching any host. */
import type { Command } from 'commander';
import { basename } from 'node:path';
import type { Diagnostic } from '../errors.js';
import { isUserError } from '../errors.js';
import { loadRunbookFile } from '../runbook/load.js';
import { loadInventoryFile, inventoryVarNames, namesGivenToEveryHost, selectHosts, unreadVarsDirsBesideRunbook, varsDirOf } from '../inventory/load.js';
import { ExtraVars, parseExtraVars } from '../runbook/vars.js';
import { typeExtraVars } from '../runbook/extra-var-types.js';
import { useAgeIdentityFile } from '../runbook/encrypted.js';
import { loadYaml, type YamlDocument } from '../runbook/yaml.js';
import type { Inventory } from '../inventory/types.js';
import { readFile } from 'node:fs/promises';
import { EXIT } from './exit-codes.js';
import { countBySeverity, printDiagnostics } from './output.js';

export interface ValidateOptions {
  files: string[];
  inventory?: string;
  extraVars?: string[];
  json?: boolean;
  /** treat warnings as errors */
  strict?: boolean;
  /** age identity for encrypted -e files and vars_files */
  identityFile?: string;
}

export interface ValidateResult {
  exitCode: number;
  diagnostics: Diagnostic[];
  files: { file: string; kind: 'runbook' | 'inventory'; valid: boolean }[];
}

/** An inventory file is recognised by its shape: top-level groups, no apiVersion. */
async function looksLikeInventory(file: string): Promise<boolean> {
  if (/inventor/i.test(basename(file))) return true;
  try {
    const doc = loadYaml(await readFile(file, 'utf8'), file);
    const v = doc.value as Record<string, unknown> | null;
    return !!v && typeof v === 'object' && !('apiVersion' in v) && !('steps' in v) && 'all' in v;
  } catch {
    return false;
  }
}

export async function validateCmd(opts: ValidateOptions): Promise<ValidateResult> {
  const diagnostics: Diagnostic[] = [];
  const files: ValidateResult['files'] = [];
  const known = new Set<string>();
  useAgeIdentityFile(opts.identityFile);
  let inventory;
  if (opts.inventory) {
    const inv = await loadInventoryFile(opts.inventory);
    diagnostics.push(...inv.diagnostics);
    files.push({ file: opts.inventory, kind: 'inventory', valid: !!inv.inventory });
    inventory = inv.inventory;
    if (inventory) for (const n of inventoryVarNames(inventory)) known.add(n);
  }
  let extra = new ExtraVars();
  try {
    extra = await parseExtraVars(opts.extraVars ?? []);
    for (const n of Object.keys(extra.values)) known.add(n);
  } catch (e) {
    if (!isUserError(e)) throw e;
    diagnostics.push(e.diagnostic);
  }
  // group_vars/ and host_vars/ beside a runbook, as apply and plan warn (those beside an inventory come with it)
  const warnedDirs = new Set(opts.inventory ? [varsDirOf(opts.inventory)] : []);
  for (const file of opts.files) {
    if (await looksLikeInventory(file)) {
      const inv = await loadInventoryFile(file);
      diagnostics.push(...inv.diagnostics);
      files.push({ file, kind: 'inventory', valid: !!inv.inventory });
      warnedDirs.add(varsDirOf(file));
      continue;
    }
    const { runbook, diagnostics: ds } = await loadRunbookFile(file, { knownVarNames: known, ...(inventory ? { givenToEveryHost: namesGivenToEveryHost(inventory, Object.keys(extra.values)) } : {}) });
    diagnostics.push(...ds);
    diagnostics.push(...unreadVarsDirsBesideRunbook(file, warnedDirs));
    // what apply and plan would refuse: a -e value that is not of its declared type
    if (runbook) diagnostics.push(...typeExtraVars(runbook, extra).problems.map((d) => ({ ...d, file })));
    if (inventory) diagnostics.push(...(await hostsPatternDiagnostics(file, inventory, opts.inventory!)));
    files.push({ file, kind: 'runbook', valid: !!runbook && !diagnostics.some((d) => d.file === file && d.severity === 'error') });
  }
  const { errors, warnings } = countBySeverity(diagnostics);
  const failed = errors > 0 || (opts.strict === true && warnings > 0);
  return { exitCode: failed ? EXIT.invalidInput : EXIT.ok, diagnostics, files };
}

/** The runbook's `hosts:` must select hosts of the inventory (checked even when other errors exist). */
async function hostsPatternDiagnostics(file: string, inventory: Inventory, inventoryFile: string): Promise<Diagnostic[]> {
  let doc: YamlDocument;
  try {
    doc = loadYaml(await readFile(file, 'utf8'), file);
  } catch {
    return [];
  }
  // `hosts:`, or each play's (`plays[N].hosts`)
  const root = doc.value as { hosts?: unknown; plays?: unknown } | null;
  const places: { pattern: unknown; at: string }[] = Array.isArray(root?.plays)
    ? root.plays.map((pl: unknown, i: number) => ({ pattern: (pl as { hosts?: unknown } | null)?.hosts, at: `/plays/${i}/hosts` }))
    : [{ pattern: root?.hosts, at: '/hosts' }];
  const out: Diagnostic[] = [];
  for (const { pattern, at } of places) {
    if (typeof pattern !== 'string' || pattern === '') continue;
    const p = doc.positions.get(at);
    const where = { file, ...(p ? doc.source.lineCol(p.value) : { line: 1, col: 1 }) };
    try {
      if (selectHosts(inventory, pattern).length === 0) {
        out.push({ kind: 'inventory', severity: 'warning', message: `hosts pattern \`${pattern}\` selects no host of ${inventoryFile}`, ...where });
      }
    } catch (e) {
      if (!isUserError(e)) throw e;
      out.push({ ...e.diagnostic, ...where });
    }
  }
  return out;
}

export function register(program: Command): void {
  program
    .command('validate')
    .description('check runbooks and inventories (YAML, schema, expressions, variables) without touching any host')
    .argument('<files...>', 'runbook or inventory files')
    .option('-i, --inventory <file>', 'inventory: its variables count as defined, and `hosts:` must match it')
    .option('-e, --extra-vars <var>', 'key=value, @file.yaml or {"key": value}: counts as defined, and must fit the type the runbook declares it with (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--strict', 'warnings fail too')
    .option('--identity-file <file>', 'age identity (key) file for encrypted -e @file.age and vars_files (default $RUNBOOK_AGE_IDENTITY)')
    .option('--json', 'diagnostics as JSON')
    .action(async (files: string[], o: { inventory?: string; extraVars?: string[]; strict?: boolean; json?: boolean }) => {
      const result = await validateCmd({ files, ...o });
      if (o.json) {
        process.stdout.write(JSON.stringify({ valid: result.exitCode === 0, files: result.files, diagnostics: result.diagnostics }, null, 2) + '\n');
      } else {
        printDiagnostics(result.diagnostics);
        const { errors, warnings } = countBySeverity(result.diagnostics);
        for (const f of result.files) if (f.valid) process.stdout.write(`${f.file}: valid ${f.kind}\n`);
        if (errors || warnings) process.stderr.write(`${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`);
      }
      process.exitCode = result.exitCode;
    });
}
