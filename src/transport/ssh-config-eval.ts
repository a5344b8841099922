/**
 * ssh_config(5) evaluated for one host the way ssh(1) does it (readconf.c, OpenSSH 9.x): the
 * sources in order (the command line's options, the user's file or -F, then the system file), Host
 * and Match blocks, `Include` (globbed, nested, conditional inside a block), and the final pass that
 * `Match final` or CanonicalizeHostName asks for. The first value obtained for a keyword wins;
 * IdentityFile adds up. The `ssh-config` package only splits the lines into words.
 */
import SSHConfig from 'ssh-config';
import { isIP } from 'node:net';
import { matchCriteria, matchesAnyPattern, matchesPatternList, type MatchState } from './ssh-config-match.js';
import { SSH_KEYWORDS } from './ssh-keywords.js';
import { SshConfigError, type EvalContext } from './ssh-config-io.js';

export interface SshConfigSource {
  text: string;
  /** for messages: `~/.ssh/config`, the -F file, /etc/ssh/ssh_config, `the ssh arguments` */
  name: string;
  /** a user file: a relative Include is under ~/.ssh (and may start with ~); else under /etc/ssh */
  user: boolean;
}

/** What a host obtained: keyword (lower case) → value, in the order each was first set. */
export type Obtained = Map<string, string | string[]>;

type Parsed = ReturnType<typeof SSHConfig.parse>;
type Line = Parsed[number];
type Directive = Extract<Line, { param: string }>;
type Words = Exclude<Directive['value'], string>;

/** ssh(1) reads at most this deep (READCONF_MAX_DEPTH) */
const MAX_INCLUDE_DEPTH = 16;
const REPEATABLE = new Set(['identityfile', 'certificatefile', 'localforward', 'remoteforward', 'dynamicforward']);
// the rest of the line, as ssh(1) keeps it (the package splits it into words)
const COMMAND = new Set(['proxycommand', 'knownhostscommand', 'localcommand', 'remotecommand']);

interface ParsedText {
  lines: Parsed;
  /** a command keyword's rest of the line as written (ssh keeps it whole, quotes, `#` and all) */
  commands: WeakMap<object, string>;
}

const COMMAND_LINE = /^[ \t]*(proxycommand|knownhostscommand|localcommand|remotecommand)(?:[ \t]*=[ \t]*|[ \t]+)(.*?)[ \t\r]*$/i;

// pads a Match line with a word the package pairs off and words() drops
const MATCH_PAD = '\u0001';

/**
 * The package's parse. It pairs a Match line's words itself and throws where a `!canonical`,
 * `!final` or `!all` (which take no value) leaves a word unpaired; runbook reads the words on its
 * own (ssh-config-match.ts), so such a line is parsed again with a word of padding.
 */
function parseLines(text: string): Parsed {
  try {
    return SSHConfig.parse(text);
  } catch (e) {
    if (!/^Missing value for match criteria/.test((e as Error).message)) throw e;
    try {
      // only the lines the package cannot pair (alone, a Match line parses as it does in the file)
      const unpaired = (line: string) => {
        try {
          SSHConfig.parse(line);
          return false;
        } catch {
          return true;
        }
      };
      return SSHConfig.parse(text.replace(/^([ \t]*match(?:[ \t]*=[ \t]*|[ \t]+)[^\r\n]*?)[ \t]*(\r?)$/gim, (line, body: string, cr: string) => (unpaired(line) ? `${body} ${MATCH_PAD}${cr}` : line)));
    } catch {
      throw e;
    }
  }
}

/**
 * A line that starts with `=` (after blanks): ssh's strdelim reads an empty word before it and takes
 * the next word as the keyword (`=User bob`, `  = User bob` are `User bob`); the package would drop
 * the line. The `=` goes, the line stays where it is.
 */
const LEADING_EQUALS = /^[ \t]*=[ \t]*/gm;

// parsed texts, by text: an inventory's hosts share their few config texts (bounded: distinct texts are rare)
const parsedTexts = new Map<string, ParsedText>();
function parsed(original: string): ParsedText {
  let p = parsedTexts.get(original);
  if (p) return p;
  const text = original.replace(LEADING_EQUALS, '');
  let lines: Parsed;
  try {
    lines = parseLines(text);
  } catch (e) {
    throw new SshConfigError((e as Error).message);
  }
  const commands = new WeakMap<object, string>();
  const raw = text.split('\n').flatMap((l) => COMMAND_LINE.exec(l)?.[2] ?? []);
  const found: Directive[] = [];
  const visit = (ls: Parsed): void => {
    for (const l of ls) {
      if (!('param' in l)) continue;
      // a Host or Match with nothing after it swallows the next line as its keyword; any keyword with
      // only blanks after it, the next line as its value (ssh refuses both: no argument after keyword)
      if (/\s/.test(l.param)) throw new SshConfigError(`\`${l.param.split(/\s/)[0]}\` with no value`);
      if (/[\r\n]/.test(l.separator)) throw new SshConfigError(`\`${l.param}\` with no value`);
      if (COMMAND.has(l.param.toLowerCase())) found.push(l);
      if ('config' in l) visit(l.config as Parsed);
    }
  };
  visit(lines);
  // the package keeps document order: pair its command lines with the raw ones
  if (found.length !== raw.length) throw new SshConfigError(`cannot tell its ${found.length} command lines (ProxyCommand and the like) apart: is a line indented with something other than spaces and tabs?`);
  found.forEach((d, i) => commands.set(d, raw[i]!));
  if (parsedTexts.size >= 64) parsedTexts.clear();
  parsedTexts.set(original, (p = { lines, commands }));
  return p;
}

/** A word as ssh's argv_split leaves it: single quotes off, `\\'` `\\"` `\\ ` unescaped (the package keeps both). */
function unquote(w: string, quoted?: boolean): string {
  if (quoted) return w;
  const single = /^'(.*)'$/s.exec(w);
  return single ? single[1]! : w.replace(/\\(['" \t])/g, '$1');
}

function words(v: Directive['value']): string[] {
  return typeof v === 'string' ? [unquote(v)] : v.filter((w) => w.val !== MATCH_PAD).map((w) => unquote(w.val, w.quoted));
}

/** A Match line's words: ssh's strdelim reads double quotes only, so a single-quoted word stays as written. */
function matchWords(v: Directive['value']): string[] {
  return typeof v === 'string' ? [v] : v.filter((w) => w.val !== MATCH_PAD).map((w) => w.val);
}

function commandText(v: Directive['value']): string {
  if (typeof v === 'string') return v;
  return (v as Words)
    .map(({ val, separator, quoted }) => `${separator}${quoted ? `"${val.replace(/"/g, '\\"')}"` : val}`)
    .join('')
    .trim();
}

function lineText(d: Directive): string {
  return `${d.param} ${typeof d.value === 'string' ? d.value : commandText(d.value.filter((w) => w.val !== MATCH_PAD))}`;
}

interface Pass {
  ctx: EvalContext;
  out: Obtained;
  /** the name Host lines match: the alias, then in the final pass the (canonical) HostName */
  host: string;
  final: boolean;
  wantFinal: boolean;
}

function set(p: Pass, key: string, value: string | string[]): void {
  if (REPEATABLE.has(key)) {
    const list = p.out.get(key);
    // as ssh's add_identity_file: a file already listed is not added again (the final pass reads every line twice)
    const add = (Array.isArray(value) ? value : [value]).filter((v) => !(Array.isArray(list) && list.includes(v)));
    if (Array.isArray(list)) list.push(...add);
    else p.out.set(key, [...add]);
  } else if (!p.out.has(key)) {
    p.out.set(key, value);
  }
}

function matchState(p: Pass): MatchState {
  const hostName = p.out.get('hostname');
  const host = p.final ? p.host : typeof hostName === 'string' ? hostName.replace(/%h/g, p.ctx.alias) : p.ctx.alias;
  const user = p.out.get('user');
  const port = p.out.get('port');
  const tag = p.out.get('tag');
  const alias = p.out.get('hostkeyalias');
  return {
    tag: typeof tag === 'string' ? tag : '',
    ...(typeof alias === 'string' ? { hostKeyAlias: alias } : {}),
    host,
    originalHost: p.ctx.alias,
    user: typeof user === 'string' ? user : p.ctx.localUser,
    port: typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : 22,
    final: p.final,
    ctx: p.ctx,
  };
}

/** Every file an Include line names, as glob(3) finds them (sorted); relative ones under ~/.ssh or /etc/ssh. */
function includedFiles(patterns: string[], src: SshConfigSource, ctx: EvalContext): string[] {
  const files: string[] = [];
  for (const pattern of patterns) {
    if (/%|\$\{/.test(pattern)) throw new SshConfigError(`include path ${pattern}: runbook does not expand % tokens or \${VARIABLES} there (OpenSSH 9.9 does): write the path out`);
    let path: string;
    if (pattern.startsWith('~')) {
      if (!src.user) throw new SshConfigError(`bad include path ${pattern}: a system file cannot name one under ~`);
      if (!/^~(\/|$)/.test(pattern)) throw new SshConfigError(`include path ${pattern}: runbook expands only ~/ (your own home), not another user's`);
      path = ctx.home + pattern.slice(1);
    } else {
      path = pattern.startsWith('/') ? pattern : src.user ? `${ctx.home}/.ssh/${pattern}` : `/etc/ssh/${pattern}`;
    }
    files.push(...ctx.io.glob(path));
  }
  return files;
}

/**
 * ssh refuses a keyword it does not know on any line, in a block that applies or not, unless an
 * `IgnoreUnknown` obtained before it names it: a misspelt `ProxyJump` must not mean a direct dial.
 */
function checkKeyword(p: Pass, key: string, written: string): void {
  if (SSH_KEYWORDS.has(key)) return;
  const ignored = p.out.get('ignoreunknown');
  const list = Array.isArray(ignored) ? ignored[0] : ignored;
  if (list !== undefined && matchesPatternList(key, list, true)) return;
  throw new SshConfigError(`Bad configuration option: ${written} (ssh refuses the file: correct the keyword, or put \`IgnoreUnknown ${written}\` before it if another ssh client reads it)`);
}

function walk(text: ParsedText, lines: Parsed, src: SshConfigSource, p: Pass, active: boolean, neverMatch: boolean, depth: number): void {
  for (const line of lines) {
    if (!('param' in line)) continue;
    // ssh's strdelim takes a double-quoted keyword too (the package keeps the quotes)
    const written = /^"(.*)"$/s.exec(line.param)?.[1] ?? line.param;
    const key = written.toLowerCase();
    checkKeyword(p, key, written);
    if (key === 'host' || key === 'match') {
      let blockActive: boolean;
      if (key === 'host') {
        blockActive = !neverMatch && matchesAnyPattern(p.host, words(line.value));
      } else {
        const m = matchCriteria(matchWords(line.value), matchState(p), neverMatch);
        if (m.error) throw new SshConfigError(`${lineText(line)}: ${m.error}`);
        if (m.wantFinal) p.wantFinal = true;
        blockActive = !neverMatch && m.matched;
      }
      // the package nests a block's lines under its Host or Match line
      if ('config' in line) walk(text, line.config as Parsed, src, p, blockActive, neverMatch, depth);
      continue;
    }
    if (key === 'include') {
      if (depth >= MAX_INCLUDE_DEPTH) throw new SshConfigError(`Include nested deeper than ${MAX_INCLUDE_DEPTH} files (a file that includes itself?)`);
      for (const file of includedFiles(words(line.value), src, p.ctx)) {
        const text = p.ctx.io.read(file);
        if (text === undefined) continue;
        const inner: SshConfigSource = { text, name: file, user: src.user };
        try {
          // an included file's Match cannot change the including block's state (ssh restores it)
          const inside = parsed(text);
          walk(inside, inside.lines, inner, p, active, neverMatch || !active, depth + 1);
        } catch (e) {
          if (e instanceof SshConfigError && !e.message.startsWith(file)) throw new SshConfigError(`${file}: ${e.message}`);
          throw e;
        }
      }
      continue;
    }
    if (!active) continue;
    // OpenSSH 10.1: a RefuseConnection that applies stops ssh before it connects, with its message
    if (key === 'refuseconnection') throw new SshConfigError(`RefuseConnection: ${words(line.value).join(' ')} (ssh refuses to connect to this host)`);
    set(p, key, COMMAND.has(key) ? (text.commands.get(line) ?? commandText(line.value)) : typeof line.value === 'string' ? unquote(line.value, line.quoted) : words(line.value));
  }
}

function runPass(sources: SshConfigSource[], p: Pass): void {
  for (const src of sources) {
    try {
      const text = parsed(src.text);
      walk(text, text.lines, src, p, true, false, 0);
    } catch (e) {
      if (e instanceof SshConfigError) throw new SshConfigError(`${src.name}: ${e.message}`);
      throw e;
    }
  }
}

/**
 * Canonicalization looks names up in the DNS under each CanonicalDomains: runbook makes no such
 * lookups, and will not connect to a name ssh(1) might have changed. Names it leaves alone pass.
 */
function refuseDnsCanonicalization(out: Obtained, host: string): void {
  const mode = String(out.get('canonicalizehostname') ?? 'no').toLowerCase();
  if (mode === 'no' || mode === 'false') return;
  const proxied = (out.has('proxycommand') && String(out.get('proxycommand')).toLowerCase() !== 'none') || (out.has('proxyjump') && String(out.get('proxyjump')).toLowerCase() !== 'none');
  if (proxied && mode !== 'always') return;
  if (isIP(host)) return;
  const domains = out.get('canonicaldomains');
  const maxDots = Number(out.get('canonicalizemaxdots') ?? 1);
  const dots = host.split('.').length - 1;
  if (host.endsWith('.') || (domains !== undefined && dots <= maxDots)) {
    throw new SshConfigError(`CanonicalizeHostName ${mode} would look ${host} up in the DNS${domains !== undefined ? ` under ${[domains].flat().join(', ')}` : ''}, which runbook does not do: write the full host name in the inventory, or set CanonicalizeHostName no for it`);
  }
}

/** What the sources say about `ctx.alias`. Throws SshConfigError on a line ssh(1) would refuse. */
export function evaluateSshConfig(sources: SshConfigSource[], ctx: EvalContext): Obtained {
  const p: Pass = { ctx, out: new Map(), host: ctx.alias, final: false, wantFinal: false };
  runPass(sources, p);
  const canonicalize = String(p.out.get('canonicalizehostname') ?? 'no').toLowerCase();
  if (!p.wantFinal && (canonicalize === 'no' || canonicalize === 'false')) return p.out;
  // the final pass: Host lines now match the HostName (lowercased unless an address), as ssh.c does
  const hostName = p.out.get('hostname');
  let host = typeof hostName === 'string' ? hostName.replace(/%h/g, ctx.alias) : ctx.alias;
  if (!isIP(host)) host = host.toLowerCase();
  refuseDnsCanonicalization(p.out, host);
  p.out.set('hostname', host);
  runPass(sources, { ...p, host, final: true });
  return p.out;
}
