/**
 * ssh_config(5) patterns and `Match` criteria, as readconf.c's match_cfg_line and match.c read
 * them: criteria are checked left to right, `!` negates one, and an `exec` is not run once an
 * earlier criterion has failed.
 */
import { createHash } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { expandCommandTokens } from './proxy-command.js';
import type { EvalContext } from './ssh-config-io.js';

// `*` any run of characters, `?` one; everything else literal (match.c's match_pattern)
const patterns = new Map<string, RegExp>();
export function matchesPattern(text: string, pattern: string): boolean {
  let re = patterns.get(pattern);
  if (!re) {
    if (patterns.size >= 1024) patterns.clear();
    re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
    patterns.set(pattern, re);
  }
  return re.test(text);
}

/** A comma list of patterns (match_pattern_list): a matching `!pattern` wins over every other. */
export function matchesPatternList(text: string, list: string, lower = false): boolean {
  return matchesAnyPattern(text, list.split(','), lower);
}

/** Patterns, each maybe `!negated`, as a Host line's words or a pattern list's items: a matching `!pattern` wins. */
export function matchesAnyPattern(text: string, patterns: readonly string[], lower = false): boolean {
  let positive = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = lower ? raw.slice(negated ? 1 : 0).toLowerCase() : raw.slice(negated ? 1 : 0);
    if (!matchesPattern(text, pattern)) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

/** Is one of this machine's addresses in the CIDR list (`Match localnetwork`, addr_match_cidr_list)? */
function onLocalNetwork(list: string): boolean {
  const allowed = new BlockList();
  const denied = new BlockList();
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const [net, bits] = raw.slice(negated ? 1 : 0).split('/');
    const family = isIP(net ?? '');
    if (!family) throw new Error(`localnetwork ${raw} is not an address or CIDR block`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    (negated ? denied : allowed).addSubnet(net!, bits === undefined ? (family === 6 ? 128 : 32) : Number(bits), type);
  }
  const addresses = Object.values(networkInterfaces()).flatMap((a) => a ?? []);
  if (addresses.some((a) => denied.check(a.address, a.family === 'IPv6' ? 'ipv6' : 'ipv4'))) return false;
  return addresses.some((a) => allowed.check(a.address, a.family === 'IPv6' ? 'ipv6' : 'ipv4'));
}

export interface MatchState {
  /** the host name so far (HostName with %h expanded, else the alias) */
  host: string;
  originalHost: string;
  /** the remote user so far (User, else the local user) */
  user: string;
  port: number;
  /** the Tag option so far */
  tag: string;
  /** the HostKeyAlias option so far */
  hostKeyAlias?: string;
  final: boolean;
  ctx: EvalContext;
}

export interface MatchResult {
  matched: boolean;
  /** `Match final` asks for a second pass */
  wantFinal: boolean;
  /** why ssh(1) would refuse the line */
  error?: string;
}

// criteria runbook cannot judge: they are about OpenSSH's own client and session
const NOT_JUDGED: Record<string, string> = {
  version: 'the version of the OpenSSH client (runbook is not one)',
  sessiontype: 'the kind of ssh session (runbook opens several kinds on one connection)',
  command: 'the remote command given to ssh (runbook runs many)',
};

function execTokens(s: MatchState): Record<string, string> {
  const local = hostname();
  return {
    // as OpenSSH 9's ssh_connection_hash: SHA-1 of this host, the host, the port and the remote user
    C: createHash('sha1').update(`${local}${s.host}${s.port}${s.user}`).digest('hex'),
    d: s.ctx.home,
    h: s.host,
    i: String(s.ctx.localUid),
    k: s.hostKeyAlias ?? s.host,
    L: local.split('.')[0]!,
    l: local,
    n: s.originalHost,
    p: String(s.port),
    r: s.user,
    u: s.ctx.localUser,
  };
}

/**
 * The words after `Match`. In a file included from a block that does not apply (`neverMatch`), the
 * line is still checked for errors, but no command runs: its block cannot apply whatever it says.
 */
export function matchCriteria(words: string[], s: MatchState, neverMatch: boolean): MatchResult {
  let result = true;
  let wantFinal = false;
  let attributes = 0;
  for (let i = 0; i < words.length; i++) {
    let attrib = words[i]!;
    if (attrib.startsWith('#')) break;
    const negate = attrib.startsWith('!');
    if (negate) attrib = attrib.slice(1);
    let arg: string | undefined;
    const eq = /^(host|originalhost|user|localuser|localnetwork|version|tagged|command|exec)=/i.exec(attrib);
    if (eq) {
      arg = attrib.slice(eq[0].length);
      attrib = eq[1]!;
    }
    const name = attrib.toLowerCase();
    if (name === 'all') {
      // alone, or right after `canonical` or `final`
      const rest = words[i + 1];
      if (attributes > 1 || (rest !== undefined && !rest.startsWith('#'))) return { matched: false, wantFinal, error: `'${words[i]}' cannot be combined with other Match attributes` };
      return { matched: result && !negate, wantFinal };
    }
    attributes++;
    if (name === 'canonical' || name === 'final') {
      // OpenSSH 9 (and before) reads the files again for `!final` too; 10.1 no longer does
      if (name === 'final') wantFinal = true;
      if (s.final === negate) result = false;
      continue;
    }
    if (arg === undefined) {
      arg = words[++i];
      if (arg === undefined || arg === '' || arg.startsWith('#')) return { matched: false, wantFinal, error: `Missing Match criteria for ${attrib}` };
    }
    let r: boolean;
    switch (name) {
      case 'host':
        r = matchesPatternList(s.host.toLowerCase(), arg, true);
        break;
      case 'originalhost':
        r = matchesPatternList(s.originalHost.toLowerCase(), arg, true);
        break;
      case 'user':
        r = matchesPatternList(s.user, arg);
        break;
      case 'localuser':
        r = matchesPatternList(s.ctx.localUser, arg);
        break;
      case 'tagged':
        r = matchesPatternList(s.tag, arg);
        break;
      case 'localnetwork':
        try {
          r = onLocalNetwork(arg);
        } catch (e) {
          return { matched: false, wantFinal, error: (e as Error).message };
        }
        break;
      case 'exec': {
        let command: string;
        try {
          command = expandCommandTokens(arg, execTokens(s), 'Match exec');
        } catch (e) {
          return { matched: false, wantFinal, error: `exec "${arg}": ${(e as Error).message}` };
        }
        // as ssh(1): not run once an earlier criterion failed (nor where the block cannot apply)
        if (!result || neverMatch) continue;
        r = s.ctx.io.exec(command);
        break;
      }
      default:
        if (NOT_JUDGED[name]) return { matched: false, wantFinal, error: `Match ${attrib} is about ${NOT_JUDGED[name]}: runbook cannot tell whether it applies` };
        return { matched: false, wantFinal, error: `Unsupported Match attribute ${attrib}` };
    }
    if (r === negate) result = false;
  }
  if (attributes === 0) return { matched: false, wantFinal, error: 'One or more attributes required for Match' };
  return { matched: result, wantFinal };
}
