/**
 * Inventories runbook's YAML reader does not read, INI above all (Ansible's default format, the
 * one most projects keep), read through Ansible's own `ansible-inventory --list`: its parser, its
 * ranges, quoting and `:vars`/`:children` rules, so a host gets what Ansible would give it. The
 * JSON it prints keeps Ansible's order of hosts and groups (its YAML output sorts them), and
 * becomes a YAML inventory: every group under its first parent, each host's variables as Ansible
 * merged them at its first appearance.
 */
import { spawn } from 'node:child_process';
import type { Diagnostic } from '../errors.js';

/** What `ansible-inventory --list` prints: `_meta.hostvars`, then each group's hosts and children. */
interface AnsibleList {
  _meta?: { hostvars?: Record<string, Record<string, unknown>> };
  [group: string]: { hosts?: string[]; children?: string[] } | undefined | AnsibleList['_meta'];
}

type RawGroup = { hosts?: Record<string, Record<string, unknown>>; children?: Record<string, RawGroup> };

/** Connection variables that runbook takes as booleans, which INI gives as strings (Ansible converts them when used). */
const BOOLEAN_VARS = ['ansible_become', 'ansible_host_key_checking'];
const TRUE = new Set(['y', 'yes', 'on', '1', 'true', 't']);
const FALSE = new Set(['n', 'no', 'off', '0', 'false', 'f']);

/** Ansible's inventory found this long to answer (a dynamic inventory script may query an API). */
const TIMEOUT_MS = 120_000;

/** A file Ansible reads as INI: its extension, or a `[group]` line where YAML has none. */
export function looksLikeIni(path: string, text: string): boolean {
  return /\.ini$/i.test(path) || /^[ \t]*\[[^\]\s]+\][ \t]*([;#].*)?$/m.test(text);
}

function asBoolean(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const s = v.trim().toLowerCase();
  return TRUE.has(s) ? true : FALSE.has(s) ? false : v;
}

/** The YAML inventory (as JSON text) equivalent to what `ansible-inventory --list` printed. */
export function inventoryFromList(list: AnsibleList): Record<string, RawGroup> {
  const hostvars = list._meta?.hostvars ?? {};
  const groupOf = (name: string) => (name === '_meta' ? undefined : (list[name] as { hosts?: string[]; children?: string[] } | undefined));
  const placedGroups = new Set<string>();
  const placedHosts = new Set<string>();
  const build = (name: string): RawGroup => {
    const g = groupOf(name) ?? {};
    const out: RawGroup = {};
    // a group under a second parent, or a host met again: a reference, as in a YAML inventory
    if (placedGroups.has(name)) return out;
    placedGroups.add(name);
    if (g.hosts?.length) {
      out.hosts = {};
      for (const h of g.hosts) {
        const vars = placedHosts.has(h) ? {} : { ...(hostvars[h] ?? {}) };
        placedHosts.add(h);
        for (const k of BOOLEAN_VARS) if (k in vars) vars[k] = asBoolean(vars[k]);
        out.hosts[h] = vars;
      }
    }
    if (g.children?.length) out.children = Object.fromEntries(g.children.map((c) => [c, build(c)]));
    return out;
  };
  return { all: build('all') };
}

/** Runs `ansible-inventory -i PATH --list`: the inventory as YAML text (JSON), or why it could not. */
export function listThroughAnsible(path: string): Promise<{ text: string } | { error: string; line?: number; missing?: true }> {
  return new Promise((resolve) => {
    // a source Ansible cannot parse is an error here, not an empty inventory with a warning
    // (and the plugin's own reason, `FILE:LINE: what`, is printed with it)
    const child = spawn('ansible-inventory', ['-i', path, '--list'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED: 'True', ANSIBLE_NOCOLOR: '1' } });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code === 'ENOENT' ? { error: 'ansible-inventory is not installed', missing: true } : { error: `cannot run ansible-inventory: ${e.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        if (signal === 'SIGKILL') return resolve({ error: `ansible-inventory did not answer within ${TIMEOUT_MS / 1000} s` });
        const lines = stderr.trim().split('\n').filter(Boolean);
        // Ansible wraps its warnings at spaces: joined again, the reason follows `PATH:LINE: `
        const joined = lines.join(' ');
        const i = joined.lastIndexOf(`${path}:`);
        const at = i < 0 ? null : /^:(\d+): (.+?)(?: ERROR!| \[WARNING\]|$)/.exec(joined.slice(i + path.length));
        if (at) return resolve({ error: `ansible-inventory says: ${at[2]}`, line: Number(at[1]) });
        return resolve({ error: `ansible-inventory says: ${lines.slice(-3).join(' ') || `exit ${code}`}` });
      }
      try {
        resolve({ text: JSON.stringify(inventoryFromList(JSON.parse(stdout) as AnsibleList)) });
      } catch (e) {
        resolve({ error: `ansible-inventory printed no inventory: ${(e as Error).message}` });
      }
    });
  });
}

/** Diagnostics of the generated inventory point at the file the operator gave, without positions in a text they never saw. */
export function atSource(diagnostics: Diagnostic[], path: string): Diagnostic[] {
  return diagnostics.map(({ line: _l, col: _c, ...d }) => ({ ...d, file: path, message: `${d.message} (as ansible-inventory reads ${path})` }));
}
