/**
 * ansible.cfg and the ANSIBLE_* environment, found and read as Ansible finds and reads them: the
 * connection settings an Ansible project keeps there (remote_user, private_key_file,
 * host_key_checking, ssh_args, become ...) become defaults beneath the inventory's own variables,
 * with the same names. Python's configparser, Ansible's own parser, reads the file (`;` comments,
 * continuation lines, [DEFAULT]); values are raw, as Ansible takes them (no `%(name)s`: `%%` stays).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Diagnostic } from '../errors.js';
import { checkConnectionVars } from './connection-vars.js';
import { ansibleBoolean, pythonInt } from './ansible-values.js';

type Kind = 'string' | 'bool' | 'int' | 'path';

/** Ansible's config definitions (config/base.yml, the ssh connection plugin) for what runbook reads; a later entry wins. */
const SETTINGS: { variable: string; ini: [string, string][]; env: string[]; kind?: Kind }[] = [
  { variable: 'ansible_user', ini: [['defaults', 'remote_user']], env: ['ANSIBLE_REMOTE_USER'] },
  { variable: 'ansible_ssh_private_key_file', ini: [['defaults', 'private_key_file']], env: ['ANSIBLE_PRIVATE_KEY_FILE'], kind: 'path' },
  { variable: 'ansible_port', ini: [['defaults', 'remote_port']], env: ['ANSIBLE_REMOTE_PORT'], kind: 'int' },
  { variable: 'ansible_host_key_checking', ini: [['defaults', 'host_key_checking'], ['ssh_connection', 'host_key_checking']], env: ['ANSIBLE_HOST_KEY_CHECKING', 'ANSIBLE_SSH_HOST_KEY_CHECKING'], kind: 'bool' },
  // a run takes the play's timeout (-T, whose default is this): [ssh_connection] timeout never reaches ssh
  { variable: 'ansible_timeout', ini: [['defaults', 'timeout']], env: ['ANSIBLE_TIMEOUT'], kind: 'int' },
  { variable: 'ansible_ssh_args', ini: [['ssh_connection', 'ssh_args']], env: ['ANSIBLE_SSH_ARGS'] },
  { variable: 'ansible_ssh_common_args', ini: [['ssh_connection', 'ssh_common_args']], env: ['ANSIBLE_SSH_COMMON_ARGS'] },
  { variable: 'ansible_ssh_extra_args', ini: [['ssh_connection', 'ssh_extra_args']], env: ['ANSIBLE_SSH_EXTRA_ARGS'] },
  { variable: 'ansible_ssh_executable', ini: [['ssh_connection', 'ssh_executable']], env: ['ANSIBLE_SSH_EXECUTABLE'] },
  { variable: 'ansible_become', ini: [['privilege_escalation', 'become']], env: ['ANSIBLE_BECOME'], kind: 'bool' },
  // the sudo become plugin's own settings come after the general ones (later wins)
  { variable: 'ansible_become_user', ini: [['privilege_escalation', 'become_user'], ['sudo_become_plugin', 'user']], env: ['ANSIBLE_BECOME_USER', 'ANSIBLE_SUDO_USER'] },
  { variable: 'ansible_become_password', ini: [['sudo_become_plugin', 'password']], env: ['ANSIBLE_BECOME_PASS', 'ANSIBLE_SUDO_PASS'] },
  { variable: 'ansible_become_method', ini: [['privilege_escalation', 'become_method']], env: ['ANSIBLE_BECOME_METHOD'] },
  { variable: 'ansible_become_exe', ini: [['privilege_escalation', 'become_exe'], ['sudo_become_plugin', 'executable']], env: ['ANSIBLE_BECOME_EXE', 'ANSIBLE_SUDO_EXE'] },
  { variable: 'ansible_become_flags', ini: [['privilege_escalation', 'become_flags'], ['sudo_become_plugin', 'flags']], env: ['ANSIBLE_BECOME_FLAGS', 'ANSIBLE_SUDO_FLAGS'] },
];

/** Settings that would change how Ansible connects or logs in, which runbook does not follow: a warning each when set. */
const NOT_FOLLOWED: { ini: [string, string]; env: string; why: (v: string) => string | undefined }[] = [
  { ini: ['defaults', 'transport'], env: 'ANSIBLE_TRANSPORT', why: (v) => (['smart', 'ssh', 'paramiko', ''].includes(v) ? undefined : `runbook connects over ssh, not ${v}`) },
  { ini: ['defaults', 'ask_pass'], env: 'ANSIBLE_ASK_PASS', why: (v) => (ansibleBoolean(v) === true ? 'runbook does not ask for a login password: use a key, the agent, or ansible_password' : undefined) },
  { ini: ['privilege_escalation', 'become_ask_pass'], env: 'ANSIBLE_BECOME_ASK_PASS', why: (v) => (ansibleBoolean(v) === true ? 'runbook asks for the sudo password with -K (or reads $RUNBOOK_BECOME_PASSWORD)' : undefined) },
  { ini: ['defaults', 'connection_password_file'], env: 'ANSIBLE_CONNECTION_PASSWORD_FILE', why: () => 'runbook does not read a login password from a file: use a key, the agent, or ansible_password' },
  { ini: ['defaults', 'become_password_file'], env: 'ANSIBLE_BECOME_PASSWORD_FILE', why: () => 'runbook reads the sudo password from -K or $RUNBOOK_BECOME_PASSWORD' },
  { ini: ['ssh_connection', 'pkcs11_provider'], env: 'ANSIBLE_PKCS11_PROVIDER', why: () => 'runbook cannot use a PKCS#11 token: load its key into ssh-agent' },
  { ini: ['paramiko_connection', 'proxy_command'], env: 'ANSIBLE_PARAMIKO_PROXY_COMMAND', why: () => 'runbook does not use paramiko: give the proxy as an ssh ProxyCommand or ProxyJump' },
  // the inventory's variables: a mapping set in two groups is the later group's, whole, as Ansible's default `replace` has it
  { ini: ['defaults', 'hash_behaviour'], env: 'ANSIBLE_HASH_BEHAVIOUR', why: (v) => (v === 'merge' ? "runbook does not merge a mapping variable set in several groups (or a group and its host): the later one replaces it whole, as Ansible's default `replace` does" : undefined) },
  // group names: Ansible's default `never` keeps them as written, and so does runbook
  { ini: ['defaults', 'force_valid_group_names'], env: 'ANSIBLE_TRANSFORM_INVALID_GROUP_CHARS', why: (v) => (['always', 'silently'].includes(v) ? `runbook keeps group names as written (Ansible's default \`never\`): a group with a \`-\` or \`.\` in its name keeps it, and patterns must name it so` : undefined) },
];

export type AnsibleVars = Record<string, string | number | boolean>;

/** The inventory the config names ([defaults] inventory or $ANSIBLE_INVENTORY), as ansible-playbook takes it without -i. */
export interface ConfiguredInventory {
  /** each source, resolved as Ansible resolves a pathlist (relative to the config file's directory, or to the working directory for the variable) */
  paths: string[];
  /** `[defaults] inventory` or `$ANSIBLE_INVENTORY` */
  name: string;
  at: { file: string; line?: number; col?: number };
}

export interface AnsibleDefaults {
  /** the config file read, if any */
  file?: string;
  inventory?: ConfiguredInventory;
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
    if (readable(file)) return { file, diagnostics };
  }
  const local = join(cwd, 'ansible.cfg');
  if (readable(local)) {
    if ((statSync(cwd).mode & 0o002) === 0) return { file: local, diagnostics };
    diagnostics.push({ kind: 'inventory', severity: 'warning', file: local, message: `${local} is not read: its directory is writable by anyone (Ansible ignores it too)` });
  }
  for (const file of [join(o.home ?? homedir(), '.ansible.cfg'), '/etc/ansible/ansible.cfg']) if (readable(file)) return { file, diagnostics };
  return { diagnostics };
}

/** As Ansible's lookup: a candidate this user cannot read is passed over. Only a regular file (a FIFO would hang the read). */
function readable(file: string): boolean {
  try {
    accessSync(file, constants.R_OK);
    return statSync(file).isFile() || file === '/dev/null';
  } catch {
    return false;
  }
}

/** os.path.expanduser(os.path.expandvars(path)), as Ansible's resolve_path: unset variables stay as written. */
function expandPath(path: string, env: NodeJS.ProcessEnv, home?: string): string {
  const vars = path.replace(/\$(?:(\w+)|\{([^}]*)\})/g, (m, a: string | undefined, b: string | undefined) => env[a ?? b ?? ''] ?? m);
  return vars.replace(/^~(?=\/|$)/, home ?? homedir());
}

// isolated (-I): nothing from the working directory (a planted json.py) or PYTHON* is imported
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
for s, k in json.loads(sys.argv[2]):
    if c.has_option(s, k):
        out.setdefault(s, {})[k] = c.get(s, k, raw=True)
print(json.dumps({'sections': out}))
`;

type Parsed = { error: string } | { sections: Record<string, Record<string, string>> };

const INVENTORY: { ini: [string, string]; env: string } = { ini: ['defaults', 'inventory'], env: 'ANSIBLE_INVENTORY' };
const WANTED: [string, string][] = [...SETTINGS.flatMap((s) => s.ini), ...NOT_FOLLOWED.map((n) => n.ini), INVENTORY.ini];

/** Reads the settings runbook uses from `file` with Python's configparser, as Ansible reads them. */
function parseConfig(file: string): Parsed {
  const r = spawnSync('python3', ['-I', '-c', PARSE, file, JSON.stringify(WANTED)], { encoding: 'utf8', timeout: 30_000, cwd: '/', maxBuffer: 16 << 20 });
  const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return { error: "reading it needs python3 (Ansible's own parser reads it), which is not installed. Install python3, or point ANSIBLE_CONFIG at an empty .cfg file not to read it" };
  if (r.error) return { error: `python3 could not read it: ${r.error.message}` };
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

/** The connection defaults of the Ansible config and environment (none when neither says anything). */
export function loadAnsibleDefaults(o: Where = {}): AnsibleDefaults {
  const env = o.env ?? process.env;
  const found = findAnsibleConfig(o);
  const diagnostics = [...found.diagnostics];
  const vars: AnsibleVars = {};
  // where each setting came from: its place (file and line, or the variable) and its name there
  const origin = new Map<string, { at: { file: string; line?: number; col?: number }; name: string }>();
  let sections: Record<string, Record<string, string>> = {};
  let text = '';
  // Ansible's unquote: one pair of matching outer quotes off a string setting
  const unquote = (v: string) => (v.length > 1 && v[0] === v[v.length - 1] && (v[0] === '"' || v[0] === "'") && v[v.length - 2] !== '\\' ? v.slice(1, -1) : v);
  if (found.file && !/\.(cfg|ini)$/.test(found.file)) {
    diagnostics.push({ kind: 'inventory', severity: 'error', file: found.file, message: `Unsupported configuration file extension for ${found.file}: Ansible reads .cfg and .ini files only, and refuses this one too (to read none, point ANSIBLE_CONFIG at an empty .cfg file)` });
  } else if (found.file) {
    text = readFileSync(found.file, 'utf8');
    // a file that sets none of the keys runbook reads needs no python3 to be passed over
    const mentions = WANTED.some(([, key]) => new RegExp(`^\\s*${key}\\s*[=:]`, 'im').test(text));
    const parsed: Parsed = mentions ? parseConfig(found.file) : { sections: {} };
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
      raw = v;
      base = dirname(found.file!);
      origin.set(s.variable, { at, name: `[${section}] ${key}` });
    }
    for (const name of s.env) {
      // set but empty: Ansible takes the next source, as if unset
      if (env[name] === undefined || env[name] === '') continue;
      raw = env[name];
      base = o.cwd ?? process.cwd();
      origin.set(s.variable, { at: { file: `$${name}` }, name: `$${name}` });
    }
    if (raw === undefined) continue;
    if (s.kind === 'bool') vars[s.variable] = ansibleBoolean(raw) === true;
    else if (s.kind === 'int') {
      // as Python's int() reads it; a count or a timeout is never negative
      const n = pythonInt(raw);
      if (n !== undefined && n >= 0) vars[s.variable] = n;
      else diagnostics.push({ kind: 'inventory', severity: 'error', ...origin.get(s.variable)!.at, message: `${origin.get(s.variable)!.name} must be a whole number, not ${JSON.stringify(raw)}` });
    } else if (s.kind === 'path') vars[s.variable] = resolvePath(raw, base!, env, o);
    else vars[s.variable] = unquote(raw);
  }
  for (const n of NOT_FOLLOWED) {
    const fromEnv = env[n.env];
    const value = fromEnv !== undefined && fromEnv !== '' ? fromEnv : sections[n.ini[0]]?.[n.ini[1]];
    const why = value === undefined ? undefined : n.why(unquote(value.trim()));
    if (!why) continue;
    const line = fromEnv ? undefined : lineOf(text, n.ini[0], n.ini[1]);
    const name = fromEnv ? `$${n.env}` : `[${n.ini[0]}] ${n.ini[1]}`;
    diagnostics.push({ kind: 'inventory', severity: 'warning', file: fromEnv ? name : found.file!, ...(line !== undefined ? { line, col: 1 } : {}), message: `${name} is not followed: ${why}` });
  }
  // what the inventory's own variables would be warned about, at the line (or variable) that set it
  checkConnectionVars(vars, (k) => origin.get(k)?.at ?? {}, diagnostics, (k) => origin.get(k)?.name ?? k);
  const inventory = configuredInventory(sections, text, found.file, o);
  return { ...(found.file ? { file: found.file } : {}), ...(inventory ? { inventory } : {}), vars, diagnostics };
}

/**
 * DEFAULT_HOST_LIST (config/base.yml): $ANSIBLE_INVENTORY, else [defaults] inventory; a pathlist,
 * split at commas, each part's `{{CWD}}`, variables and `~` expanded and a relative one resolved
 * against the config file's directory (the variable's against the working directory), as
 * config/manager.py's resolve_path does. Ansible's own default, /etc/ansible/hosts, is not taken:
 * a run reaches only hosts someone named for it.
 */
function configuredInventory(sections: Record<string, Record<string, string>>, text: string, file: string | undefined, o: Where): ConfiguredInventory | undefined {
  const env = o.env ?? process.env;
  const fromEnv = env[INVENTORY.env];
  const raw = fromEnv !== undefined && fromEnv !== '' ? fromEnv : sections[INVENTORY.ini[0]]?.[INVENTORY.ini[1]];
  if (raw === undefined) return undefined;
  const viaEnv = raw === fromEnv;
  const base = viaEnv ? (o.cwd ?? process.cwd()) : dirname(file!);
  const paths = raw
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => resolvePath(p, base, env, o));
  if (paths.length === 0) return undefined;
  if (viaEnv) return { paths, name: `$${INVENTORY.env}`, at: { file: `$${INVENTORY.env}` } };
  const [section, key] = INVENTORY.ini;
  const line = lineOf(text, section, key);
  return { paths, name: `[${section}] ${key}`, at: { file: file!, ...(line !== undefined ? { line, col: 1 } : {}) } };
}

/** config/manager.py resolve_path: `{{CWD}}` is the working directory, then variables and `~`, then relative to `base`. */
function resolvePath(path: string, base: string, env: NodeJS.ProcessEnv, o: Where): string {
  const p = expandPath(path.replaceAll('{{CWD}}', o.cwd ?? process.cwd()), env, o.home);
  return isAbsolute(p) ? p : resolve(base, p);
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
