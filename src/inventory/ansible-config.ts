/**
 * ansible.cfg and the ANSIBLE_* environment, found and read as Ansible finds and reads them: the
 * connection settings an Ansible project keeps there (remote_user, private_key_file,
 * host_key_checking, ssh_args, become ...) become defaults beneath the inventory's own variables,
 * with the same names. Python's configparser, Ansible's own parser, reads the file (`;` comments,
 * continuation lines, [DEFAULT]); values are raw, as Ansible takes them (no `%(name)s`: `%%` stays).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Diagnostic } from '../errors.js';
import { checkConnectionVars } from './connection-vars.js';

type Kind = 'string' | 'bool' | 'int' | 'path';

/** Ansible's config definitions (config/base.yml, the ssh connection plugin) for what runbook reads; a later entry wins. */
const SETTINGS: { variable: string; ini: [string, string][]; env: string[]; kind?: Kind }[] = [
  { variable: 'ansible_user', ini: [['defaults', 'remote_user']], env: ['ANSIBLE_REMOTE_USER'] },
  { variable: 'ansible_ssh_private_key_file', ini: [['defaults', 'private_key_file']], env: ['ANSIBLE_PRIVATE_KEY_FILE'], kind: 'path' },
  { variable: 'ansible_port', ini: [['defaults', 'remote_port']], env: ['ANSIBLE_REMOTE_PORT'], kind: 'int' },
  { variable: 'ansible_host_key_checking', ini: [['defaults', 'host_key_checking'], ['ssh_connection', 'host_key_checking']], env: ['ANSIBLE_HOST_KEY_CHECKING', 'ANSIBLE_SSH_HOST_KEY_CHECKING'], kind: 'bool' },
  { variable: 'ansible_timeout', ini: [['defaults', 'timeout'], ['ssh_connection', 'timeout']], env: ['ANSIBLE_TIMEOUT', 'ANSIBLE_SSH_TIMEOUT'], kind: 'int' },
  { variable: 'ansible_ssh_args', ini: [['ssh_connection', 'ssh_args']], env: ['ANSIBLE_SSH_ARGS'] },
  { variable: 'ansible_ssh_common_args', ini: [['ssh_connection', 'ssh_common_args']], env: ['ANSIBLE_SSH_COMMON_ARGS'] },
  { variable: 'ansible_ssh_extra_args', ini: [['ssh_connection', 'ssh_extra_args']], env: ['ANSIBLE_SSH_EXTRA_ARGS'] },
  { variable: 'ansible_ssh_executable', ini: [['ssh_connection', 'ssh_executable']], env: ['ANSIBLE_SSH_EXECUTABLE'] },
  { variable: 'ansible_become', ini: [['privilege_escalation', 'become']], env: ['ANSIBLE_BECOME'], kind: 'bool' },
  { variable: 'ansible_become_user', ini: [['privilege_escalation', 'become_user']], env: ['ANSIBLE_BECOME_USER'] },
  { variable: 'ansible_become_method', ini: [['privilege_escalation', 'become_method']], env: ['ANSIBLE_BECOME_METHOD'] },
  { variable: 'ansible_become_exe', ini: [['privilege_escalation', 'become_exe']], env: ['ANSIBLE_BECOME_EXE'] },
  { variable: 'ansible_become_flags', ini: [['privilege_escalation', 'become_flags']], env: ['ANSIBLE_BECOME_FLAGS'] },
];

export type AnsibleVars = Record<string, string | number | boolean>;

export interface AnsibleDefaults {
  /** the config file read, if any */
  file?: string;
  /** the settings, named as the inventory variables they stand beneath */
  vars: AnsibleVars;
  diagnostics: Diagnostic[];
}

interface Where {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  home?: string;
}

/**
 * The one file Ansible reads: $ANSIBLE_CONFIG (a directory: its ansible.cfg), else ./ansible.cfg
 * (not in a directory anyone can write), else ~/.ansible.cfg, else /etc/ansible/ansible.cfg.
 */
export function findAnsibleConfig(o: Where = {}): { file?: string; diagnostics: Diagnostic[] } {
  const env = o.env ?? process.env;
  const cwd = o.cwd ?? process.cwd();
  const diagnostics: Diagnostic[] = [];
  const given = env.ANSIBLE_CONFIG;
  if (given) {
    const path = resolve(cwd, expandPath(given, env, o.home));
    const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'ansible.cfg') : path;
    if (existsSync(file)) return { file, diagnostics };
  }
  const local = join(cwd, 'ansible.cfg');
  if (existsSync(local)) {
    if ((statSync(cwd).mode & 0o002) === 0) return { file: local, diagnostics };
    diagnostics.push({ kind: 'inventory', severity: 'warning', file: local, message: `${local} is not read: its directory is writable by anyone (Ansible ignores it too)` });
  }
  for (const file of [join(o.home ?? homedir(), '.ansible.cfg'), '/etc/ansible/ansible.cfg']) if (existsSync(file)) return { file, diagnostics };
  return { diagnostics };
}

/** os.path.expanduser(os.path.expandvars(path)), as Ansible's resolve_path: unset variables stay as written. */
function expandPath(path: string, env: NodeJS.ProcessEnv, home?: string): string {
  const vars = path.replace(/\$(?:(\w+)|\{([^}]*)\})/g, (m, a: string | undefined, b: string | undefined) => env[a ?? b ?? ''] ?? m);
  return vars.replace(/^~(?=\/|$)/, home ?? homedir());
}

const PARSE = `
import configparser, json, sys
c = configparser.ConfigParser(inline_comment_prefixes=(';',))
try:
    with open(sys.argv[1], encoding='utf-8') as f:
        c.read_file(f)
except (configparser.Error, UnicodeDecodeError) as e:
    print(json.dumps({'error': str(e)}))
    sys.exit(0)
out = {}
for s in c.sections():
    out[s] = {}
    for k in c.options(s):
        try:
            out[s][k] = c.get(s, k, raw=True)
        except configparser.Error as e:
            out[s][k] = {'error': str(e)}
print(json.dumps({'sections': out}))
`;

type Parsed = { error: string } | { sections: Record<string, Record<string, string | { error: string }>> };

/** Reads `file` with Python's configparser, as Ansible does. */
function parseConfig(file: string): Parsed {
  const r = spawnSync('python3', ['-c', PARSE, file], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) return { error: `reading it needs python3 (Ansible's own parser reads it), which cannot be run here: ${r.error.message}. Install python3, or set ANSIBLE_CONFIG=/dev/null not to read it` };
  try {
    return JSON.parse(r.stdout) as Parsed;
  } catch {
    return { error: `python3 could not read it: ${r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`}` };
  }
}

/** The line of `key` in `[section]`, for messages. */
function lineOf(text: string, section: string, key: string): number | undefined {
  let current = '';
  const lines = text.split('\n');
  for (const [i, l] of lines.entries()) {
    const s = /^\s*\[([^\]]+)\]/.exec(l);
    if (s) current = s[1]!.trim();
    else if (current === section && new RegExp(`^\\s*${key}\\s*[=:]`, 'i').test(l)) return i + 1;
  }
  return undefined;
}

const TRUE = new Set(['y', 'yes', 'on', '1', 'true', 't']);

/** The connection defaults of the Ansible config and environment (none when neither says anything). */
export function loadAnsibleDefaults(o: Where = {}): AnsibleDefaults {
  const env = o.env ?? process.env;
  const found = findAnsibleConfig(o);
  const diagnostics = [...found.diagnostics];
  const vars: AnsibleVars = {};
  // where each setting came from: its place (file and line, or the variable) and its name there
  const origin = new Map<string, { at: { file: string; line?: number; col?: number }; name: string }>();
  let sections: Record<string, Record<string, string | { error: string }>> = {};
  let text = '';
  if (found.file && !/\.(cfg|ini)$/.test(found.file)) {
    diagnostics.push({ kind: 'inventory', severity: 'error', file: found.file, message: `Unsupported configuration file extension for ${found.file}: Ansible reads .cfg and .ini files only, and refuses this one too (to read none, point ANSIBLE_CONFIG at an empty .cfg file)` });
  } else if (found.file) {
    text = readFileSync(found.file, 'utf8');
    const parsed = text.trim() === '' ? { sections: {} } : parseConfig(found.file);
    if ('error' in parsed) diagnostics.push({ kind: 'inventory', severity: 'error', file: found.file, message: `cannot read the Ansible config: ${parsed.error}` });
    else sections = parsed.sections;
  }
  for (const s of SETTINGS) {
    let raw: string | undefined;
    let base: string | undefined;
    for (const [section, key] of s.ini) {
      const v = sections[section]?.[key];
      if (v === undefined) continue;
      const line = lineOf(text, section, key);
      const at = { file: found.file!, ...(line !== undefined ? { line, col: 1 } : {}) };
      if (typeof v !== 'string') {
        diagnostics.push({ kind: 'inventory', severity: 'error', ...at, message: `[${section}] ${key}: ${v.error}` });
        continue;
      }
      raw = v;
      base = dirname(found.file!);
      origin.set(s.variable, { at, name: `[${section}] ${key}` });
    }
    for (const name of s.env) {
      if (env[name] === undefined) continue;
      raw = env[name];
      base = o.cwd ?? process.cwd();
      origin.set(s.variable, { at: { file: `$${name}` }, name: `$${name}` });
    }
    if (raw === undefined) continue;
    if (s.kind === 'bool') vars[s.variable] = TRUE.has(raw.trim().toLowerCase());
    else if (s.kind === 'int') {
      if (/^\s*\d+\s*$/.test(raw)) vars[s.variable] = Number(raw);
      else diagnostics.push({ kind: 'inventory', severity: 'error', ...origin.get(s.variable)!.at, message: `${origin.get(s.variable)!.name} must be a whole number, not ${JSON.stringify(raw)}` });
    } else if (s.kind === 'path') {
      const p = expandPath(raw, env, o.home);
      vars[s.variable] = isAbsolute(p) ? p : resolve(base!, p);
    } else vars[s.variable] = raw;
  }
  // what the inventory's own variables would be warned about, at the line (or variable) that set it
  checkConnectionVars(vars, (k) => origin.get(k)?.at ?? {}, diagnostics, (k) => origin.get(k)?.name ?? k);
  return { ...(found.file ? { file: found.file } : {}), vars, diagnostics };
}

// one read per process for the same file, working directory and environment (a run asks twice: for its options and its warnings)
let remembered: { key: string; defaults: AnsibleDefaults } | undefined;
export function ansibleDefaultsOnce(o: Where = {}): AnsibleDefaults {
  const env = o.env ?? process.env;
  const file = findAnsibleConfig(o).file;
  const key = JSON.stringify([o.cwd ?? process.cwd(), o.home, file, file ? statSync(file).mtimeMs : 0, Object.entries(env).filter(([k]) => k.startsWith('ANSIBLE_'))]);
  if (remembered?.key !== key) remembered = { key, defaults: loadAnsibleDefaults(o) };
  return remembered.defaults;
}
