/**
 * OpenSSH command-line arguments as Ansible passes them (`ansible_ssh_common_args`,
 * `ansible_ssh_extra_args`, `ansible_ssh_args`, `runbook -J`), split by `shell-quote` the way
 * Ansible's shlex.split does (quotes and backslashes; `$VAR` stays literal, `#` is no comment, nothing is run), and
 * turned into ssh_config lines (`Keyword value`) that are resolved together with ~/.ssh/config:
 * what the command line says comes first, and the first value wins, as in ssh(1).
 *
 * Options runbook does not act on are returned in `ignored`, so the caller warns about each one.
 */
import { parse } from 'shell-quote';
import SSHConfig from 'ssh-config';
import { SSH_KEYWORDS } from './ssh-keywords.js';

/** ssh_config keywords (lower case) runbook honours, from -o, the flags below, or ~/.ssh/config. */
export const HONOURED_KEYWORDS = new Map(
  [
    'HostName',
    'User',
    'Port',
    'IdentityFile',
    'IdentitiesOnly',
    'IdentityAgent',
    'ProxyJump',
    'UserKnownHostsFile',
    'GlobalKnownHostsFile',
    'HostKeyAlias',
    'StrictHostKeyChecking',
    'ConnectTimeout',
    'ServerAliveInterval',
    'ServerAliveCountMax',
    'HostKeyAlgorithms',
  ].map((k) => [k.toLowerCase(), k]),
);

/** Options that only tune OpenSSH's own connection sharing: runbook keeps one connection per host anyway. */
const CONNECTION_SHARING = new Set(['controlmaster', 'controlpath', 'controlpersist']);

/** One-letter flags that take a value, with the keyword they set (undefined: not honoured). */
const VALUE_FLAGS: Record<string, string | undefined> = {
  p: 'Port',
  i: 'IdentityFile',
  J: 'ProxyJump',
  l: 'User',
  F: undefined, // handled apart: another ssh_config file
  b: undefined,
  c: undefined,
  D: undefined,
  E: undefined,
  e: undefined,
  I: undefined,
  L: undefined,
  m: undefined,
  O: undefined,
  Q: undefined,
  R: undefined,
  S: undefined,
  W: undefined,
  w: undefined,
  B: undefined,
  P: undefined,
};

export interface ParsedSshArgs {
  /** `Keyword value` lines, in command-line order */
  lines: string[];
  /** -F FILE: read this ssh_config instead of ~/.ssh/config */
  configFile?: string;
  /** what is not honoured, as the operator wrote it (`-C`, `-o ControlMaster=auto`, `-L`) with why */
  ignored: { option: string; why: string }[];
  /** an argument that is not an option at all */
  errors: string[];
}

/** Two characters (private use, one UTF-16 unit each) that do not occur in `text`. */
function unusedPair(text: string): [string, string] {
  const free: string[] = [];
  for (let c = 0xe000; free.length < 2; c++) if (!text.includes(String.fromCharCode(c))) free.push(String.fromCharCode(c));
  return [free[0]!, free[1]!];
}

/** shell-quote's words and operators, with globs as their text and `#` an ordinary character. */
function parseWords(text: string): (string | { op: string })[] {
  // shell-quote takes an unquoted `#` anywhere as the start of a comment; shlex.split (comments=False)
  // never does. So each `#` is parsed as a stand-in character, twice with two different ones: where
  // the results differ was a `#` (a stand-in made by a `$'\uXXXX'` escape is the same in both).
  const [p, q] = unusedPair(text);
  const words = (c: string) =>
    parse(text.replaceAll('#', c), (name) => `$${name}`).map((t) => (typeof t === 'string' ? t : 'pattern' in t ? t.pattern : 'op' in t ? { op: t.op } : { op: '#' })); // no `#` is left to start a comment
  const a = words(p);
  const b = words(q);
  return a.map((t, i) => {
    const other = b[i];
    if (typeof t !== 'string' || typeof other !== 'string') return t;
    let out = '';
    for (let j = 0; j < t.length; j++) out += t[j] === p && other[j] === q ? '#' : t[j];
    return out;
  });
}

/** Split like Ansible's shlex.split: no variable expansion, no globbing, no comments, operators are errors. */
export function splitArgs(text: string): { argv: string[]; errors: string[] } {
  const errors: string[] = [];
  const argv: string[] = [];
  for (const t of parseWords(text)) {
    if (typeof t === 'string') argv.push(t);
    else errors.push(`shell operator \`${t.op}\` is not an ssh argument`);
  }
  return { argv, errors };
}

function quoteConfigValue(v: string): string {
  return /[\s"#]/.test(v) && !/^"/.test(v) ? `"${v.replace(/"/g, '')}"` : v;
}

/** `-o Key=Value` / `-o "Key Value"` / `-oKey=Value` → [Key, Value] */
function splitOption(o: string): [string, string] | undefined {
  const m = /^\s*([A-Za-z][A-Za-z0-9]*)\s*(?:=\s*|\s+)(.*)$/s.exec(o);
  return m ? [m[1]!, m[2]!.trim()] : undefined;
}

export function parseSshArgs(text: string): ParsedSshArgs {
  const { argv, errors } = splitArgs(text);
  const out: ParsedSshArgs = { lines: [], ignored: [], errors };
  // a value ssh_config cannot hold (an unclosed quote, a trailing backslash) is the argument's error, not the parser's crash later
  const configLine = (line: string, shown: string) => {
    try {
      SSHConfig.parse(line);
      out.lines.push(line);
    } catch {
      out.errors.push(`cannot read ssh option \`${shown}\`: an unclosed quote or a trailing backslash`);
    }
  };
  const option = (raw: string, shown: string) => {
    const kv = splitOption(raw);
    if (!kv) {
      out.errors.push(`cannot read ssh option \`${shown}\`: expected Keyword=value`);
      return;
    }
    const key = kv[0].toLowerCase();
    const canon = HONOURED_KEYWORDS.get(key);
    // a line break would end the ssh_config line and start another option
    if (/[\r\n\0]/.test(kv[1])) out.errors.push(`ssh option \`${kv[0]}\` has a line break or NUL in its value`);
    // both passed on as config lines: the evaluator refuses an unknown keyword as ssh does, unless an
    // IgnoreUnknown before it (from any of Ansible's three argument variables, in ssh's order) names it
    else if (!SSH_KEYWORDS.has(key) || key === 'ignoreunknown') configLine(`${kv[0]} ${quoteConfigValue(kv[1])}`, shown);
    else if (key === 'proxycommand' && kv[1] === '') out.errors.push('`-o ProxyCommand=` needs a command (or `none`)');
    else if (canon) configLine(`${canon} ${quoteConfigValue(kv[1])}`, shown);
    // passed on as written (ssh_config keeps a command's quotes); run as ssh(1) runs it (proxy-command.ts)
    else if (key === 'proxycommand') configLine(`ProxyCommand ${kv[1]}`, shown);
    else if (key === 'certificatefile') out.ignored.push({ option: shown, why: 'OpenSSH user certificates are not supported by runbook\'s SSH client (ssh2); use a plain key' });
    else if (CONNECTION_SHARING.has(key)) out.ignored.push({ option: shown, why: 'not needed: runbook keeps one connection per host for the whole run' });
    else out.ignored.push({ option: shown, why: 'this ssh option is not supported by runbook' });
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-') || a === '-') {
      out.errors.push(`unexpected argument \`${a}\` (a host name or command does not belong in the ssh arguments)`);
      continue;
    }
    // bundled boolean flags like -tt or -CA, or a flag with its value attached (-p2222, -oX=y)
    for (let j = 1; j < a.length; j++) {
      const f = a[j]!;
      if (f === 'o') {
        const attached = a.slice(j + 1);
        const raw = attached !== '' ? attached : argv[++i];
        if (raw === undefined) out.errors.push('-o needs an option');
        else option(raw, `-o ${raw}`);
        break;
      }
      if (f in VALUE_FLAGS) {
        const attached = a.slice(j + 1);
        const value = attached !== '' ? attached : argv[++i];
        if (value === undefined) {
          out.errors.push(`-${f} needs a value`);
          break;
        }
        if (/[\r\n\0]/.test(value)) out.errors.push(`-${f} has a line break or NUL in its value`);
        else if (f === 'F') out.configFile = value;
        else if (VALUE_FLAGS[f]) configLine(`${VALUE_FLAGS[f]} ${quoteConfigValue(value)}`, `-${f} ${value}`);
        else out.ignored.push({ option: `-${f} ${value}`, why: 'this ssh option is not supported by runbook' });
        break;
      }
      if (f === 'C') out.ignored.push({ option: '-C', why: 'compression is not supported by runbook\'s SSH client' });
      else if (f === 'q' || f === 'v' || f === 'T' || f === 'n' || f === 'x' || f === 'a' || f === 'k') out.ignored.push({ option: `-${f}`, why: 'has no effect on runbook (no terminal, no forwarding, no ssh(1) output)' });
      else out.ignored.push({ option: `-${f}`, why: 'this ssh flag is not supported by runbook' });
    }
  }
  return out;
}

/** The Ansible variables that hold ssh arguments, in the order ssh(1) would see them (first value wins). */
export const SSH_ARG_VARS = ['ansible_ssh_args', 'ansible_ssh_common_args', 'ansible_ssh_extra_args'] as const;
