/**
 * Ansible-compatible YAML inventories (`all`, `children`, `hosts`, `vars`, `ansible_*` vars,
 * host ranges like `cp[1:3]`), INI ones through Ansible's own parser (ini-inventory.ts), ad-hoc
 * `--hosts a,b`, and host patterns (`--limit`).
 */
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { UserError, messageOf, type Diagnostic } from '../errors.js';
import { isObject, loadYaml, positionOf, type YamlDocument } from '../runbook/yaml.js';
import { schemaDiagnostics } from '../runbook/schema-check.js';
import { sortDiagnostics } from '../runbook/load.js';
import type { HostEntry, Inventory } from './types.js';
import { connectionVarDiagnostics } from './connection-vars.js';
import { buildPatternTree, evaluatePattern, flatPatternTree } from './patterns.js';
import { hostEntry } from './host-entry.js';
import { loadIniInventory } from './ini-inventory.js';
import { notAnsibleBoolean, pythonInt, withAnsibleBooleans } from './ansible-values.js';

type Vars = Record<string, unknown>;
interface RawGroup {
  hosts?: Record<string, Vars | null> | null;
  children?: Record<string, RawGroup | null> | null;
  vars?: Vars | null;
}

export async function loadInventoryFile(path: string): Promise<{ inventory?: Inventory; diagnostics: Diagnostic[] }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { diagnostics: [{ kind: 'io', severity: 'error', message: code === 'ENOENT' ? `no such inventory file: ${path}` : `cannot read ${path}: ${messageOf(e)}`, file: path }] };
  }
  const r = await loadReadInventory(path, text);
  return { ...r, diagnostics: [...r.diagnostics, ...unreadVarsDirs(dirname(path), 'the inventory')] };
}

async function loadReadInventory(path: string, text: string): Promise<{ inventory?: Inventory; diagnostics: Diagnostic[] }> {
  const as = readsAs(path, text);
  if (as.format === 'yaml') return loadInventoryText(text, path, as.doc);
  const r = await loadIniInventory(path);
  // no extension: Ansible tries YAML first, and says why that failed too
  const yamlError = as.yamlError;
  if (r.inventory || !yamlError) return r;
  const why = `read as YAML (as Ansible tries first for a file without extension), it fails at line ${yamlError.line ?? '?'}: ${yamlError.message}`;
  return { diagnostics: r.diagnostics.map((d, i) => (i === 0 ? { ...d, hint: d.hint ? `${d.hint}; ${why}` : why } : d)) };
}

/**
 * Ansible reads group_vars/ and host_vars/ beside the inventory (and the playbook); runbook reads
 * neither (nothing in them is decrypted or journaled: README "Inventories"). A warning for each
 * one in `dir`, so their variables are not missed without a word.
 */
export function unreadVarsDirs(dir: string, beside: 'the inventory' | 'the runbook'): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const name of ['group_vars', 'host_vars'] as const) {
    const p = join(dir, name);
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      /* absent or unreadable: nothing Ansible would read either */
    }
    if (!isDir) continue;
    const where = name === 'group_vars' ? "under the group's `vars:`" : "in the host's entry";
    out.push({
      kind: 'inventory',
      severity: 'warning',
      file: p,
      message: `not read: Ansible reads ${name}/ beside ${beside}, runbook does not, so none of its variables reach the hosts`,
      hint: `put them in the inventory file itself, ${where}, or in the runbook's vars or vars_files; secrets in an encrypted vars_files`,
    });
  }
  return out;
}

/** The directory whose group_vars/ and host_vars/ an inventory or runbook file stands beside. */
export function varsDirOf(file: string): string {
  return resolve(dirname(file));
}

/**
 * The warnings for the vars directories beside runbook `file`, unless its directory is in `warned`
 * (an inventory's, warned about as it loaded, or a runbook's already seen); adds it there.
 */
export function unreadVarsDirsBesideRunbook(file: string, warned: Set<string>): Diagnostic[] {
  const dir = varsDirOf(file);
  if (warned.has(dir)) return [];
  warned.add(dir);
  return unreadVarsDirs(dirname(file), 'the runbook'); // named as the file was given
}

/** The names Ansible's YAML inventory plugin takes (its yaml_extensions): runbook's own loader reads them. */
const YAML_EXTENSIONS = ['.yaml', '.yml', '.json'];

/**
 * How Ansible would read `path`: YAML for a YAML extension, and for a name without any extension
 * whose text is a YAML mapping (Ansible's YAML plugin takes those before its INI plugin); INI for
 * every other name (with, for a name without extension that looks like YAML, why YAML failed).
 */
function readsAs(path: string, text: string): { format: 'yaml'; doc?: YamlDocument } | { format: 'ini'; yamlError?: Diagnostic } {
  const ext = extname(path).toLowerCase();
  if (YAML_EXTENSIONS.includes(ext)) return { format: 'yaml' };
  if (ext !== '') return { format: 'ini' };
  const doc = loadYaml(text, path);
  if (isObject(doc.value)) return { format: 'yaml', doc };
  // meant as YAML (its first line `all:` or `---`): why YAML failed is the news, not INI's complaint
  const first = text.split('\n').find((l) => l.trim() !== '' && !/^\s*#/.test(l)) ?? '';
  const yamlError = /^(---|[\w.-]+:(\s|$))/.test(first) ? doc.diagnostics.find((d) => d.severity === 'error') : undefined;
  return { format: 'ini', ...(yamlError ? { yamlError } : {}) };
}

/** `doc`: the text already parsed (an extensionless file was read as YAML to tell its format). */
export function loadInventoryText(text: string, file: string, doc: YamlDocument = loadYaml(text, file)): { inventory?: Inventory; diagnostics: Diagnostic[] } {
  const diagnostics = [...doc.diagnostics];
  if (doc.value === undefined) return { diagnostics };
  if (doc.value === null || typeof doc.value !== 'object' || Array.isArray(doc.value)) {
    diagnostics.push({ kind: 'inventory', severity: 'error', message: doc.value === null ? 'the inventory is empty' : 'an inventory must be a mapping of groups (usually `all:`)', file, line: 1, col: 1 });
    return { diagnostics };
  }
  diagnostics.push(...schemaDiagnostics(doc, 'inventory'));
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics: sortDiagnostics(diagnostics) };
  const built = buildInventory(doc.value as Record<string, RawGroup | null>, doc);
  diagnostics.push(...built.diagnostics, ...connectionVarDiagnostics(doc.value as Record<string, RawGroup | null>, doc));
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics: sortDiagnostics(diagnostics) };
  return { inventory: { ...built.inventory, file }, diagnostics: sortDiagnostics(diagnostics) };
}

/** A range that expands past this is refused (a typo like `node[1:99999999]` would exhaust memory). */
export const MAX_HOSTS_PER_RANGE = 10_000;

/** How many names a host pattern expands to, without expanding it (ranges multiply). */
export function hostRangeSize(name: string): number {
  const m = /^(.*)\[([0-9]+|[a-z]):([0-9]+|[a-z])\](.*)$/.exec(name);
  if (!m) return 1;
  const [, pre, from, to, post] = m as unknown as [string, string, string, string, string];
  let n: number;
  if (/^[0-9]+$/.test(from) && /^[0-9]+$/.test(to)) n = Math.max(0, Number(to) - Number(from) + 1);
  else if (/^[a-z]$/.test(from) && /^[a-z]$/.test(to)) n = Math.max(0, to.charCodeAt(0) - from.charCodeAt(0) + 1);
  else return 1;
  return n === 0 ? 0 : n * hostRangeSize(pre + from + post);
}

/** `cp[1:3]` → cp1, cp2, cp3; `node[01:10]` keeps the zero padding; `web[a:c]` letters. */
export function expandHostRange(name: string): string[] {
  const m = /^(.*)\[([0-9]+|[a-z]):([0-9]+|[a-z])\](.*)$/.exec(name);
  if (!m) return [name];
  const [, pre, from, to, post] = m as unknown as [string, string, string, string, string];
  const out: string[] = [];
  if (/^[0-9]+$/.test(from) && /^[0-9]+$/.test(to)) {
    const width = from.length > 1 && from.startsWith('0') ? from.length : 0;
    for (let i = Number(from); i <= Number(to); i++) out.push(...expandHostRange(pre + String(i).padStart(width, '0') + post));
  } else if (/^[a-z]$/.test(from) && /^[a-z]$/.test(to)) {
    for (let c = from.charCodeAt(0); c <= to.charCodeAt(0); c++) out.push(...expandHostRange(pre + String.fromCharCode(c) + post));
  } else return [name];
  return out;
}

/**
 * Each group's depth as Ansible keeps it: the longest path from `all` (a group under two parents
 * takes the deeper, and its children move down with it: Group._check_children_depth). A group no
 * other names is a child of `all`, as reconcile_inventory makes it.
 */
function setDepths(groups: Map<string, GroupInfo>): void {
  const parents = new Map<string, string[]>();
  for (const [name, g] of groups) for (const c of g.children) if (c !== name) parents.set(c, [...(parents.get(c) ?? []), name]);
  const depth = new Map<string, number>([['all', 0]]);
  const of = (name: string, trail: Set<string>): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    // a loop is refused where it was met (visit); here it only must not recurse forever
    const ps = (parents.get(name) ?? []).filter((p) => !trail.has(p));
    const d = ps.length ? Math.max(...ps.map((p) => of(p, new Set([...trail, name])) + 1)) : 1;
    depth.set(name, d);
    return d;
  };
  for (const [name, g] of groups) g.depth = of(name, new Set());
}

interface GroupInfo {
  depth: number;
  /** ansible_group_priority: as in Ansible, it orders the group's variables and is none of them */
  priority?: number;
  vars: Vars;
  directHosts: Set<string>;
  children: Set<string>;
}

function buildInventory(root: Record<string, RawGroup | null>, doc: YamlDocument): { inventory: Inventory; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const groups = new Map<string, GroupInfo>();
  const hostVars = new Map<string, Vars>();
  const group = (name: string): GroupInfo => {
    let g = groups.get(name);
    if (!g) groups.set(name, (g = { depth: 0, vars: {}, directHosts: new Set(), children: new Set() }));
    return g;
  };
  const visit = (name: string, raw: RawGroup | null, path: (string | number)[], trail: string[]) => {
    if (trail.includes(name)) {
      diagnostics.push({ kind: 'inventory', severity: 'error', message: `group \`${name}\` contains itself (${[...trail, name].join(' → ')})`, file: doc.source.file, ...positionOf(doc, path, 'key') });
      return;
    }
    const g = group(name);
    if (!raw) return;
    // `ansible_become: yes` is text in YAML 1.2: made true here, as Ansible's boolean() reads it
    const booleans = (vars: Vars, who: string, at: (string | number)[]) =>
      withAnsibleBooleans(vars, (k, v) => diagnostics.push({ kind: 'inventory', severity: 'error', message: `${who}: ${notAnsibleBoolean(k, v)}`, file: doc.source.file, ...positionOf(doc, [...at, k], 'value') }));
    const { ansible_group_priority: priority, ...vars } = booleans(raw.vars ?? {}, `group \`${name}\``, [...path, 'vars']);
    if (priority !== undefined) {
      const p = pythonInt(priority); // as Ansible's Group.set_priority takes it
      if (p !== undefined) g.priority = p;
      else diagnostics.push({ kind: 'inventory', severity: 'error', message: `group \`${name}\`: ansible_group_priority must be a whole number, not ${JSON.stringify(priority)}`, file: doc.source.file, ...positionOf(doc, [...path, 'vars', 'ansible_group_priority'], 'value') });
    }
    Object.assign(g.vars, vars);
    for (const [hostPattern, vars] of Object.entries(raw.hosts ?? {})) {
      const size = hostRangeSize(hostPattern);
      if (size > MAX_HOSTS_PER_RANGE) {
        diagnostics.push({
          kind: 'inventory',
          severity: 'error',
          message: `host range \`${hostPattern}\` expands to ${size} hosts, more than ${MAX_HOSTS_PER_RANGE}`,
          hint: 'check the range bounds, or split it into several entries',
          file: doc.source.file,
          ...positionOf(doc, [...path, 'hosts', hostPattern], 'key'),
        });
        continue;
      }
      const own = booleans(vars ?? {}, `host \`${hostPattern}\``, [...path, 'hosts', hostPattern]);
      for (const h of expandHostRange(hostPattern)) {
        g.directHosts.add(h);
        hostVars.set(h, { ...(hostVars.get(h) ?? {}), ...own });
      }
    }
    for (const [child, childRaw] of Object.entries(raw.children ?? {})) {
      g.children.add(child);
      visit(child, childRaw, [...path, 'children', child], [...trail, name]);
    }
  };
  for (const [name, raw] of Object.entries(root)) visit(name, raw, [name], []);
  group('all');
  setDepths(groups);

  // transitive membership
  const members = new Map<string, Set<string>>();
  const membersOf = (name: string, seen = new Set<string>()): Set<string> => {
    const cached = members.get(name);
    if (cached) return cached;
    const out = new Set(groups.get(name)?.directHosts ?? []);
    seen.add(name);
    for (const c of groups.get(name)?.children ?? []) if (!seen.has(c)) for (const h of membersOf(c, seen)) out.add(h);
    members.set(name, out);
    return out;
  };
  for (const name of groups.keys()) membersOf(name);
  for (const h of hostVars.keys()) members.get('all')!.add(h);
  // reconcile_inventory: `ungrouped` holds the hosts in no group but `all`; one listed under it that
  // is in another group too leaves it
  if (members.has('ungrouped')) {
    const grouped = new Set<string>();
    for (const [g, m] of members) if (g !== 'all' && g !== 'ungrouped') for (const h of m) grouped.add(h);
    members.set('ungrouped', new Set([...members.get('all')!].filter((h) => !grouped.has(h))));
  }

  // Ansible's sort_groups(): by depth, ansible_group_priority (default 1), then name by code point
  const priority = (g: GroupInfo) => g.priority ?? 1;
  const ordered = [...groups.entries()].sort(([an, a], [bn, b]) => (an === 'all' ? -1 : bn === 'all' ? 1 : a.depth - b.depth || priority(a) - priority(b) || (an < bn ? -1 : an > bn ? 1 : 0)));
  const hosts = new Map<string, HostEntry>();
  for (const name of [...hostVars.keys()]) {
    const vars: Vars = {};
    const hostGroups: string[] = [];
    for (const [gname, g] of ordered) {
      if (!members.get(gname)!.has(name)) continue;
      hostGroups.push(gname);
      Object.assign(vars, g.vars);
    }
    Object.assign(vars, hostVars.get(name));
    hosts.set(name, hostEntry(name, vars, hostGroups));
  }
  return { inventory: { hosts, groups: members, tree: buildPatternTree(root, (p) => (hostRangeSize(p) > MAX_HOSTS_PER_RANGE ? [] : expandHostRange(p))) }, diagnostics };
}

/** `--hosts a,b,user@c:2222`: an inventory without a file. */
export function adhocInventory(list: string, defaults: Partial<HostEntry> = {}): Inventory {
  const hosts = new Map<string, HostEntry>();
  for (const item of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(?:([^@]+)@)?(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(item);
    if (!m) throw new UserError({ kind: 'usage', message: `--hosts: cannot read "${item}": expected host, user@host or host:port` });
    const address = m[2]!.replace(/^\[|\]$/g, '');
    const vars: Vars = { ansible_host: address };
    if (m[1]) vars.ansible_user = m[1];
    if (m[3]) vars.ansible_port = Number(m[3]);
    const name = item;
    const entry = hostEntry(name, vars, ['all']);
    hosts.set(name, { ...entry, ...defaults, name, address, port: m[3] ? Number(m[3]) : defaults.port ?? 22, user: m[1] ?? defaults.user ?? entry.user });
  }
  return { hosts, groups: new Map([['all', new Set(hosts.keys())]]) };
}

/**
 * The hosts a runbook's `hosts:` pattern selects, narrowed by `--limit`, in the order Ansible
 * gives them (patterns.ts).
 */
export function selectHosts(inv: Inventory, pattern: string, limit?: string): HostEntry[] {
  const tree = inv.tree ?? flatPatternTree([...inv.hosts.keys()], inv.groups);
  return evaluatePattern(tree, pattern, limit, inv.file).map((n) => inv.hosts.get(n)!).filter(Boolean);
}

/**
 * For `validate` (LoadOptions.givenToEveryHost): the -e names and the variable names set on every
 * host a pattern selects; on every host of the inventory when the pattern selects none or is
 * invalid (the pattern's own diagnostic says so).
 */
export function namesGivenToEveryHost(inv: Inventory, extraNames: Iterable<string>): (pattern: string) => Set<string> {
  const extra = [...extraNames];
  return (pattern) => {
    let hosts: HostEntry[] = [];
    try {
      hosts = selectHosts(inv, pattern);
    } catch {
      /* an invalid pattern: every host */
    }
    return new Set([...extra, ...varNamesOnEveryHost(hosts.length > 0 ? hosts : inv.hosts.values())]);
  };
}

/** The variable names every one of `hosts` sets. */
export function varNamesOnEveryHost(hosts: Iterable<{ vars: Record<string, unknown> }>): Set<string> {
  let out: Set<string> | undefined;
  for (const h of hosts) out = new Set(Object.keys(h.vars).filter((k) => out === undefined || out.has(k)));
  return out ?? new Set();
}

/** All variable names the inventory defines (for `validate -i`). */
export function inventoryVarNames(inv: Inventory): Set<string> {
  const out = new Set<string>();
  for (const h of inv.hosts.values()) for (const k of Object.keys(h.vars)) out.add(k);
  return out;
}
