/**
 * INI inventories (Ansible's default format), read by the installed ansible-core's own INI parser
 * (ansible-ini.ts) and made into runbook's Inventory with Ansible's semantics:
 * - each group keeps its own variables, checked once as group variables; each host's variables are
 *   merged from them in Ansible's order (`all`, then its groups by depth, ansible_group_priority and
 *   name, then the host's own), as ansible-inventory --host shows them;
 * - values keep the types Ansible's parser gives them (`port=2222` a number, `x=yes` text); only
 *   ansible_become and ansible_host_key_checking, which Ansible reads through its boolean() when it
 *   connects (`yes`, `true`, `on`, `1`...), become true or false here;
 * - host patterns see Ansible's graph as Ansible built it: hosts in the order it met them, groups
 *   in its order, each group's own hosts and child groups in order (patterns.ts walks them as
 *   Ansible's Group.get_hosts() does), so `all[0]`, `serial` batches, globs and regexes select
 *   what Ansible selects.
 * Ansible gives no line numbers for what it parsed: a problem found here names the file and the
 * host or group instead.
 */
import type { Diagnostic } from '../errors.js';
import { SourceText, type NodePos } from '../runbook/yaml.js';
import { schemaDiagnostics } from '../runbook/schema-check.js';
import { readIniThroughAnsible, type AnsibleIniData } from './ansible-ini.js';
import { notAnsibleBoolean, withAnsibleBooleans } from './ansible-values.js';
import { checkConnectionVars } from './connection-vars.js';
import { hostEntry } from './host-entry.js';
import type { PatternTree } from './patterns.js';
import type { HostEntry, Inventory } from './types.js';

type Vars = Record<string, unknown>;

const NO_LINE = "no line number: Ansible's INI parser gives none";

export async function loadIniInventory(file: string, env: NodeJS.ProcessEnv = process.env): Promise<{ inventory?: Inventory; diagnostics: Diagnostic[] }> {
  const r = await readIniThroughAnsible(file, env);
  if ('error' in r) {
    return { diagnostics: [{ kind: 'inventory', severity: 'error', file, ...(r.line !== undefined ? { line: r.line } : {}), message: r.error, ...(r.hint ? { hint: r.hint } : {}) }] };
  }
  return inventoryFromAnsible(r.data, file);
}

/** One host's or group's place in a message: `host \`h\``, `group \`g\``. */
function subject(kind: 'host' | 'group', name: string): string {
  return `${kind} \`${name}\``;
}

/** The variables with Ansible's boolean strings for the ANSIBLE_BOOLEAN_VARS made booleans; a value Ansible refuses is an error. */
function withBooleans(vars: Vars, who: string, file: string, out: Diagnostic[]): Vars {
  return withAnsibleBooleans(vars, (k, v) => out.push({ kind: 'inventory', severity: 'error', file, message: `${who}: ${notAnsibleBoolean(k, v)}` }));
}

/**
 * The inventory schema's diagnostics for one host's or one group's own variables, in the same
 * words as for a YAML inventory, naming the host or group instead of a line.
 */
function schemaCheck(value: unknown, prefixes: string[], who: string, file: string): Diagnostic[] {
  const doc = { source: new SourceText(file, ''), value, positions: new Map<string, NodePos>(), diagnostics: [] };
  return schemaDiagnostics(doc, 'inventory', value).map(({ line: _l, col: _c, ...d }) => {
    const prefix = prefixes.find((p) => d.message.startsWith(p));
    return { ...d, message: `${who}: ${prefix ? d.message.slice(prefix.length) : d.message}` };
  });
}

/** Each host's and each group's own variables, checked once where they are set. */
function checkVars(data: AnsibleIniData, file: string): { hostVars: Map<string, Vars>; groupVars: Map<string, Vars>; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const connection = (vars: Vars, who: string) => checkConnectionVars(vars, () => ({ file }), diagnostics, (k) => `${who}: ${k}`);
  const groupVars = new Map<string, Vars>();
  for (const g of data.groups) {
    const who = subject('group', g.name);
    const vars = withBooleans(g.vars, who, file, diagnostics);
    groupVars.set(g.name, vars);
    diagnostics.push(...schemaCheck({ [g.name]: { vars } }, [`${g.name}.vars.`, `${g.name}.vars: `, 'the document: '], who, file));
    connection(vars, who);
  }
  const hostVars = new Map<string, Vars>();
  for (const h of data.hosts) {
    const who = subject('host', h.name);
    const vars = withBooleans(h.vars, who, file, diagnostics);
    hostVars.set(h.name, vars);
    // after withBooleans: a boolean Ansible refuses is reported there (and left out), not twice
    diagnostics.push(...schemaCheck({ all: { hosts: { [h.name]: vars } } }, [`all.hosts.${h.name}.`, 'all.hosts: '], who, file));
    connection(vars, who);
  }
  for (const p of data.problems) {
    const [kind, name, key] = p.where;
    const who = subject(kind, name);
    if (p.type === 'int') diagnostics.push({ kind: 'inventory', severity: 'warning', file, message: `${who}: ${key} is a whole number too large to keep exactly, kept as the text "${p.text}"` });
    else diagnostics.push({ kind: 'inventory', severity: 'error', file, message: `${who}: ${key} is a Python ${p.type} (${p.text}), which runbook cannot take (ansible-inventory --list cannot print it either)`, hint: 'quote the value to keep it as text' });
  }
  // every one of them names a host or group, where a YAML inventory's would give the line
  const named = diagnostics.map((d) => ({ ...d, message: `${d.message} (${NO_LINE})` }));
  for (const w of data.warnings) named.push({ kind: 'inventory', severity: 'warning', file, message: `Ansible's INI parser: ${w}` });
  return { hostVars, groupVars, diagnostics: named };
}

/** Ansible's inventory graph, for host patterns, exactly as Ansible holds it. */
function patternTree(data: AnsibleIniData): PatternTree {
  return {
    hosts: data.hosts.map((h) => h.name),
    groups: data.groups.map((g) => g.name),
    kids: new Map(data.groups.map((g) => [g.name, [...g.children]])),
    direct: new Map(data.groups.map((g) => [g.name, [...g.hosts]])),
  };
}

/** runbook's Inventory from what Ansible's INI parser made of `file`. */
function inventoryFromAnsible(data: AnsibleIniData, file: string): { inventory?: Inventory; diagnostics: Diagnostic[] } {
  const { hostVars, groupVars, diagnostics } = checkVars(data, file);
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics };
  const hosts = new Map<string, HostEntry>();
  const groups = new Map<string, Set<string>>(data.groups.map((g) => [g.name, new Set<string>()]));
  for (const h of data.hosts) {
    // `all`'s, then each group's by Ansible's sort_groups(), then the host's own: as Ansible merges them
    const vars: Vars = {};
    for (const g of h.groups) Object.assign(vars, groupVars.get(g));
    Object.assign(vars, hostVars.get(h.name));
    hosts.set(h.name, hostEntry(h.name, vars, h.groups));
    for (const g of h.groups) groups.get(g)?.add(h.name);
  }
  return { inventory: { file, hosts, groups, tree: patternTree(data) }, diagnostics };
}
