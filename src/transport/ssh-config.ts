/**
 * What ~/.ssh/config says about a host alias, through the `ssh-config` package.
 * `resolveSshConfig(text, alias)` is pure (no file or network access, `Match exec` is never run).
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import SSHConfig from 'ssh-config';

export interface SshConfigResult {
  /** HostName, with %h expanded; undefined when the config does not set one */
  hostName?: string;
  user?: string;
  port?: number;
  /** IdentityFile entries, in order, with ~ and %h/%r/%u expanded */
  identityFiles: string[];
  /** ProxyJump as written (`none` becomes undefined) */
  proxyJump?: string;
  /** ProxyCommand as written, tokens unexpanded (`none` becomes undefined): run by ./proxy-command.ts */
  proxyCommand?: string;
  userKnownHostsFiles?: string[];
  /** StrictHostKeyChecking mapped to our policies: yes → strict, accept-new → accept-new; `no`/`off` → accept-new (we never accept a CHANGED key) */
  hostKeyPolicy?: 'strict' | 'accept-new';
  /** ConnectTimeout in ms */
  connectTimeoutMs?: number;
  identitiesOnly?: boolean;
  /** IdentityAgent: a socket path, or `none` (then undefined and `agentOff`) */
  identityAgent?: string;
  agentOff?: boolean;
  /** ServerAliveInterval in ms (0: off) */
  serverAliveMs?: number;
  serverAliveCountMax?: number;
  /** HostKeyAlgorithms as written (`a,b`, `+a`, `-a`, `^a`) */
  hostKeyAlgorithms?: string;
}

// Parsed configs by text: the hosts of an inventory usually share one config text (the same
// group vars and ~/.ssh/config), and parsing it again for each of 2,000 hosts was most of their
// connection set-up. compute() only reads the parsed lines. Bounded: distinct texts are rare.
const parsedConfigs = new Map<string, ReturnType<typeof SSHConfig.parse>>();
function parsedConfig(text: string): ReturnType<typeof SSHConfig.parse> {
  let cfg = parsedConfigs.get(text);
  if (!cfg) {
    if (parsedConfigs.size >= 64) parsedConfigs.clear();
    parsedConfigs.set(text, (cfg = SSHConfig.parse(text)));
  }
  return cfg;
}

const PROXY_COMMAND_MARK = '\u0001proxy-command';
const isNone = (v: string) => v.toLowerCase() === 'none';

/**
 * ssh(1)'s choice between the two (readconf.c): whichever comes first for the host applies, `none`
 * included (`ProxyCommand none` first: no proxy at all), except that `ProxyJump none` first still
 * lets a later ProxyCommand apply.
 */
function proxyOf(jump: string | undefined, command: string | undefined, order: () => 'jump' | 'command' | undefined): { jump?: string; command?: string } {
  if (jump !== undefined && command !== undefined) {
    if (order() === 'command') return isNone(command) ? {} : { command };
    if (!isNone(jump)) return { jump };
    return isNone(command) ? {} : { command };
  }
  if (jump !== undefined && !isNone(jump)) return { jump };
  if (command !== undefined && !isNone(command)) return { command };
  return {};
}

// the config with every ProxyCommand marked as a ProxyJump, by text (as parsedConfigs)
const markedConfigs = new Map<string, ReturnType<typeof SSHConfig.parse>>();

/**
 * Which of ProxyJump and ProxyCommand comes first for `alias`: the config resolved again with every
 * ProxyCommand turned into a marked ProxyJump (the package keeps no order between two keywords).
 */
function firstProxy(text: string, alias: string): 'jump' | 'command' | undefined {
  type Line = { param?: string; value?: unknown; config?: Line[] };
  let cfg = markedConfigs.get(text);
  if (!cfg) {
    cfg = SSHConfig.parse(text);
    const mark = (lines: Line[]): void => {
      for (const l of lines) {
        if (l.param && /^proxycommand$/i.test(l.param)) {
          l.param = 'ProxyJump';
          l.value = PROXY_COMMAND_MARK;
        }
        if (l.config) mark(l.config);
      }
    };
    mark(cfg as unknown as Line[]);
    if (markedConfigs.size >= 64) markedConfigs.clear();
    markedConfigs.set(text, cfg);
  }
  const v = first((cfg.compute(alias, { ignoreCase: true, matchExec: false }) as Record<string, string | string[]>).proxyjump);
  return v === undefined ? undefined : v === PROXY_COMMAND_MARK ? 'command' : 'jump';
}

function first(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v[0] : v;
}

function all(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function expand(value: string, ctx: { host: string; user: string; home: string; alias: string; port: number }): string {
  let s = value.replace(/^~(?=\/|$)/, ctx.home);
  s = s.replace(/%([%hrunpd])/g, (_m, c: string) => {
    switch (c) {
      case '%':
        return '%';
      case 'h':
        return ctx.host;
      case 'r':
        return ctx.user;
      case 'u':
        return ctx.user;
      case 'n':
        return ctx.alias;
      case 'p':
        return String(ctx.port);
      case 'd':
        return ctx.home;
    }
    return _m;
  });
  return s;
}

/**
 * Resolve `alias` against the config `text` (first value wins, as in ssh_config(5)).
 * `home` and `localUser` are only used for ~ and %u/%d expansion.
 */
export function resolveSshConfig(text: string, alias: string, opts: { home?: string; localUser?: string } = {}): SshConfigResult {
  const home = opts.home ?? homedir();
  const localUser = opts.localUser ?? process.env.USER ?? 'root';
  const cfg = parsedConfig(text);
  const c = cfg.compute(alias, { ignoreCase: true, matchExec: false }) as Record<string, string | string[]>;
  const rawHost = first(c.hostname);
  const host = rawHost ? rawHost.replace(/%h/g, alias) : alias;
  const user = first(c.user);
  const portStr = first(c.port);
  const port = portStr && /^\d+$/.test(portStr) ? Number(portStr) : undefined;
  const ctx = { host, user: user ?? localUser, home, alias, port: port ?? 22 };
  const result: SshConfigResult = {
    identityFiles: all(c.identityfile).map((f) => expand(f, ctx)),
  };
  if (rawHost) result.hostName = host;
  if (user) result.user = user;
  if (port !== undefined) result.port = port;
  const proxy = proxyOf(first(c.proxyjump), first(c.proxycommand), () => firstProxy(text, alias));
  if (proxy.jump) result.proxyJump = proxy.jump;
  if (proxy.command) result.proxyCommand = proxy.command;
  // the package splits the list itself, keeping a quoted path with spaces whole
  const kh = all(c.userknownhostsfile).filter((f) => f !== '');
  if (kh.length) result.userKnownHostsFiles = kh.map((f) => expand(f, ctx));
  const strict = first(c.stricthostkeychecking)?.toLowerCase();
  if (strict === 'yes' || strict === 'ask') result.hostKeyPolicy = 'strict';
  else if (strict === 'accept-new' || strict === 'no' || strict === 'off') result.hostKeyPolicy = 'accept-new';
  const ct = first(c.connecttimeout);
  if (ct && /^\d+$/.test(ct)) result.connectTimeoutMs = Number(ct) * 1000;
  const io = first(c.identitiesonly)?.toLowerCase();
  if (io === 'yes' || io === 'no') result.identitiesOnly = io === 'yes';
  const ia = first(c.identityagent);
  if (ia && ia.toLowerCase() === 'none') result.agentOff = true;
  else if (ia === 'SSH_AUTH_SOCK' || ia === '$SSH_AUTH_SOCK') result.identityAgent = process.env.SSH_AUTH_SOCK ?? '';
  else if (ia) result.identityAgent = expand(ia, ctx);
  const sa = first(c.serveraliveinterval);
  if (sa && /^\d+$/.test(sa)) result.serverAliveMs = Number(sa) * 1000;
  const sc = first(c.serveralivecountmax);
  if (sc && /^\d+$/.test(sc)) result.serverAliveCountMax = Number(sc);
  const hka = first(c.hostkeyalgorithms);
  if (hka) result.hostKeyAlgorithms = hka;
  return result;
}

/** `resolveSshConfig` on ~/.ssh/config (or `file`); an absent file resolves to nothing. */
export function resolveSshConfigFile(alias: string, file = join(homedir(), '.ssh', 'config')): SshConfigResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { identityFiles: [] };
  }
  return resolveSshConfig(text, alias);
}

/** Every hop of a ProxyJump value (`a,u@b:2222`), in the order they are dialled. */
export function parseJumpChain(spec: string): { user?: string; host: string; port?: number }[] {
  return spec
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean)
    .map((h) => parseJump(h));
}

/** `user@host:port` of one ProxyJump hop (the first one of a comma list). */
export function parseJump(spec: string): { user?: string; host: string; port?: number } {
  const hop = spec.split(',')[0]!.trim().replace(/^ssh:\/\//, '');
  let user: string | undefined;
  let rest = hop;
  const at = hop.lastIndexOf('@');
  if (at >= 0) {
    user = hop.slice(0, at);
    rest = hop.slice(at + 1);
  }
  let host = rest;
  let port: number | undefined;
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest) ?? /^([^:]+)(?::(\d+))?$/.exec(rest);
  if (m) {
    host = m[1]!;
    if (m[2]) port = Number(m[2]);
  }
  return { ...(user ? { user } : {}), host, ...(port !== undefined ? { port } : {}) };
}
