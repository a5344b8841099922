/**
 * Host patterns exactly as Ansible (ansible-core's InventoryManager) reads them, same hosts in the
 * same order: `a,b` and `a:b` unions, `&` intersections, `!` exclusions (applied after the unions,
 * whatever their position), globs (fnmatch: `*`, `?`, `[seq]`), `~regex` (anchored at the start),
 * subscripts `g[0]`, `g[-1]`, `g[0:2]` (inclusive), `g[1:]`, on groups, hosts and globs alike.
 *
 * The order follows Ansible's inventory model, rebuilt from the YAML as its yaml plugin builds it
 * (for an INI inventory, the graph Ansible's own INI parser built: ini-inventory.ts): a group's
 * hosts are its own hosts, then its child groups' (breadth first); `all` has `ungrouped` and then
 * its children; groups nobody names as a child are children of `all`.
 *
 * One deliberate difference: a term that matches nothing is an error here (with a suggestion), where
 * Ansible warns and ignores it — a mistyped `!control_plane` must not select every node.
 */
import { UserError } from '../errors.js';
import { closest } from '../runbook/suggest.js';

/** Ansible's inventory graph: what the patterns are evaluated against. */
export interface PatternTree {
  /** host names in the order Ansible first saw them */
  hosts: string[];
  /** group names in creation order (`all`, `ungrouped`, then as met in the file) */
  groups: string[];
  /** child groups of each group, in Ansible's order */
  kids: Map<string, string[]>;
  /** hosts named directly under each group */
  direct: Map<string, string[]>;
}

type Vars = Record<string, unknown>;
interface RawGroup {
  hosts?: Record<string, Vars | null> | null;
  children?: Record<string, RawGroup | null> | null;
  vars?: Vars | null;
}

/** The graph Ansible's yaml inventory plugin builds from `root` (`expand` turns `cp[1:3]` into names). */
export function buildPatternTree(root: Record<string, RawGroup | null>, expand: (pattern: string) => string[]): PatternTree {
  const t: PatternTree = { hosts: [], groups: ['all', 'ungrouped'], kids: new Map([['all', ['ungrouped']], ['ungrouped', []]]), direct: new Map([['all', []], ['ungrouped', []]]) };
  const parents = new Map<string, Set<string>>();
  const hostGroups = new Map<string, Set<string>>();
  const directSets = new Map<string, Set<string>>([['all', new Set()], ['ungrouped', new Set()]]);
  const addGroup = (g: string) => {
    if (t.kids.has(g)) return;
    t.groups.push(g);
    t.kids.set(g, []);
    t.direct.set(g, []);
    directSets.set(g, new Set());
  };
  const addChild = (p: string, c: string) => {
    const k = t.kids.get(p)!;
    if (!k.includes(c) && p !== c) k.push(c);
    if (!parents.has(c)) parents.set(c, new Set());
    parents.get(c)!.add(p);
  };
  const addHost = (g: string, h: string) => {
    if (!hostGroups.has(h)) {
      hostGroups.set(h, new Set());
      t.hosts.push(h);
    }
    hostGroups.get(h)!.add(g);
    const seen = directSets.get(g)!;
    if (!seen.has(h)) {
      seen.add(h);
      t.direct.get(g)!.push(h);
    }
  };
  const parse = (name: string, raw: RawGroup | null, trail: string[]) => {
    addGroup(name);
    if (!raw || trail.includes(name)) return;
    for (const key of Object.keys(raw)) {
      if (key === 'children') {
        for (const [sub, subRaw] of Object.entries(raw.children ?? {})) {
          parse(sub, subRaw, [...trail, name]);
          addChild(name, sub); // after the subgroup, as Ansible does
        }
      } else if (key === 'hosts') {
        for (const pattern of Object.keys(raw.hosts ?? {})) for (const h of expand(pattern)) addHost(name, h);
      }
    }
  };
  for (const [name, raw] of Object.entries(root)) parse(name, raw, []);
  // reconcile_inventory: every group descends from all; hosts in no group (or only all) are ungrouped,
  // and one listed under ungrouped that is in another group too is taken out of it
  for (const g of t.groups) if (g !== 'all' && !parents.get(g)?.size) addChild('all', g);
  for (const h of t.hosts) {
    const gs = hostGroups.get(h)!;
    if ([...gs].some((g) => g !== 'all' && g !== 'ungrouped')) {
      if (gs.has('ungrouped')) t.direct.set('ungrouped', t.direct.get('ungrouped')!.filter((x) => x !== h));
    } else if (!gs.has('ungrouped')) addHost('ungrouped', h);
  }
  return t;
}

/**
 * A graph for an inventory made in code (ad-hoc `--hosts`, a run's hosts): every group a child of
 * `all`, holding its members directly, in host order.
 */
export function flatPatternTree(hosts: string[], groups: Map<string, Set<string>> = new Map()): PatternTree {
  const t: PatternTree = { hosts: [...hosts], groups: ['all', 'ungrouped'], kids: new Map([['all', ['ungrouped']], ['ungrouped', []]]), direct: new Map([['all', []], ['ungrouped', []]]) };
  const grouped = new Set<string>();
  for (const [g, members] of groups) {
    if (g === 'all' || g === 'ungrouped') continue;
    t.groups.push(g);
    t.kids.get('all')!.push(g);
    t.kids.set(g, []);
    t.direct.set(g, hosts.filter((h) => members.has(h)));
    for (const h of members) grouped.add(h);
  }
  t.direct.set('all', [...hosts]); // `all` keeps the given order
  t.direct.set('ungrouped', hosts.filter((h) => !grouped.has(h)));
  return t;
}

/**
 * Group.get_hosts(): the group, then its descendants breadth first, each host once. Ansible walks
 * the groups of one level in the order of a Python set of Group objects (by their ids): where two
 * or more of them have child groups, the order of those children's hosts changes from one run of
 * Ansible to the next. Here it is always the child groups' order, one of the orders Ansible gives.
 */
function groupHosts(t: PatternTree, g: string): string[] {
  const ordered = [g, ...(t.kids.get(g) ?? [])];
  const seen = new Set<string>();
  let unprocessed = [g, ...(t.kids.get(g) ?? [])];
  while (unprocessed.length) {
    for (const u of unprocessed) seen.add(u);
    const next: string[] = [];
    for (const u of unprocessed) {
      for (const c of t.kids.get(u) ?? []) {
        if (!next.includes(c)) next.push(c);
        if (!seen.has(c)) ordered.push(c);
      }
    }
    unprocessed = next.filter((c) => !seen.has(c));
  }
  // each host once, where it first appears (a Set keeps insertion order)
  return [...new Set(ordered.flatMap((kid) => t.direct.get(kid) ?? []))];
}

/** split_host_pattern: commas split; otherwise `:` outside brackets (IPv6 and host:port patterns are not supported). */
export function splitPattern(pattern: string): string[] {
  const p = pattern.trim();
  const parts = p.includes(',') ? p.split(',') : (p.match(/(?:[^\s:[\]]|\[[^\]]*\])+/g) ?? []);
  return parts.map((s) => s.trim()).filter(Boolean);
}

/** order_patterns: unions first, then intersections, then exclusions; only & and ! → all first. */
function orderPatterns(terms: string[]): string[] {
  const regular = terms.filter((t) => t[0] !== '!' && t[0] !== '&');
  return [...(regular.length ? regular : ['all']), ...terms.filter((t) => t[0] === '&'), ...terms.filter((t) => t[0] === '!')];
}

const SUBSCRIPT = /^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$/s;

function splitSubscript(p: string): [string, [number, number | undefined] | undefined] {
  if (p[0] === '~') return [p, undefined];
  const m = SUBSCRIPT.exec(p);
  if (!m) return [p, undefined];
  if (m[2] !== undefined) return [m[1]!, [Number(m[2]), undefined]];
  return [m[1]!, [Number(m[3]), m[5] ? Number(m[5]) : -1]];
}

function applySubscript(hosts: string[], sub: [number, number | undefined] | undefined, pattern: string): string[] {
  if (!sub) return hosts;
  const [start] = sub;
  let end = sub[1];
  if (end) {
    if (end === -1) end = hosts.length - 1;
    return pySlice(hosts, start, end + 1);
  }
  const i = start < 0 ? hosts.length + start : start;
  if (i < 0 || i >= hosts.length) throw new UserError({ kind: 'inventory', message: `no hosts matched the subscripted pattern \`${pattern}\` (${hosts.length} hosts before the subscript)` });
  return [hosts[i]!];
}

function pySlice<T>(a: T[], start: number, end: number): T[] {
  const n = a.length;
  const s = start < 0 ? Math.max(0, n + start) : Math.min(start, n);
  const e = end < 0 ? Math.max(0, n + end) : Math.min(end, n);
  return a.slice(s, Math.max(s, e));
}

/** fnmatch.translate: `*`, `?`, `[seq]`, `[!seq]`; everything else literal; the whole name. */
function fnmatchRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) re += '\\[';
      else {
        let body = glob.slice(i + 1, close);
        body = body[0] === '!' ? '^' + body.slice(1) : body[0] === '^' ? '\\' + body : body;
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\/\]]/g, '\\$&');
  }
  return new RegExp(`^(?:${re})$`, 's');
}

function matchList(items: string[], pattern: string): string[] {
  let re: RegExp;
  try {
    re = pattern[0] === '~' ? new RegExp(`^(?:${pattern.slice(1)})`) : fnmatchRegExp(pattern);
  } catch {
    throw new UserError({ kind: 'inventory', message: `invalid host pattern \`${pattern}\`: not a valid regular expression` });
  }
  return items.filter((i) => re.test(i));
}

/** _enumerate_matches: groups the expression names, and hosts when no group matched or it is a glob/regex. */
function enumerate(t: PatternTree, expr: string): string[] {
  const out: string[] = [];
  const groups = matchList(t.groups, expr);
  for (const g of groups) out.push(...groupHosts(t, g));
  if (!groups.length || expr[0] === '~' || /[.?*[]/.test(expr)) out.push(...matchList(t.hosts, expr));
  return out;
}

function noMatch(t: PatternTree, term: string, file: string | undefined): UserError {
  const guess = closest(term, [...t.groups, ...t.hosts]);
  return new UserError({
    kind: 'inventory',
    message: `no group or host \`${term}\` in the inventory${file ? ` ${file}` : ''}`,
    hint: guess ? `did you mean \`${guess}\`?` : `groups: ${t.groups.filter((g) => g !== 'ungrouped').join(', ')}`,
  });
}

function matchOne(t: PatternTree, pattern: string, file: string | undefined): string[] {
  const p = pattern[0] === '&' || pattern[0] === '!' ? pattern.slice(1) : pattern;
  const [expr, sub] = splitSubscript(p);
  const hosts = enumerate(t, expr);
  if (hosts.length === 0 && expr !== 'all') throw noMatch(t, p, file);
  return applySubscript(hosts, sub, p);
}

/** The host names `pattern` selects, in Ansible's order; `limit` narrows them (Ansible's --limit). */
export function evaluatePattern(t: PatternTree, pattern: string, limit?: string, file?: string): string[] {
  const evaluate = (pat: string): string[] => {
    const hostSet = new Set(t.hosts);
    let hosts: string[] = [];
    for (const p of orderPatterns(splitPattern(pat))) {
      if (hostSet.has(p)) {
        hosts.push(p);
        continue;
      }
      const that = matchOne(t, p, file);
      if (p[0] === '!') {
        const s = new Set(that);
        hosts = hosts.filter((h) => !s.has(h));
      } else if (p[0] === '&') {
        const s = new Set(that);
        hosts = hosts.filter((h) => s.has(h));
      } else {
        const existing = new Set(hosts);
        hosts.push(...that.filter((h) => !existing.has(h)));
      }
    }
    return [...new Set(hosts)];
  };
  let hosts = evaluate(pattern);
  if (limit !== undefined && limit.trim() !== '') {
    const subset = new Set(evaluate(limit));
    hosts = hosts.filter((h) => subset.has(h));
  }
  return hosts;
}
