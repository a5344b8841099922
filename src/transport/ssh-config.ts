/**
 * What the ssh config says about a host alias (./ssh-config-eval.ts reads it as ssh(1) does),
 * turned into the settings runbook uses.
 */
import { homedir } from 'node:os';
import { evaluateSshConfig, type SshConfigSource } from './ssh-config-eval.js';
import { machineSshConfigIo, type SshConfigIo } from './ssh-config-io.js';
import { passwdLogin } from './local-login.js';

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
  globalKnownHostsFiles?: string[];
  /** HostKeyAlias: the name known_hosts is searched and written by */
  hostKeyAlias?: string;
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

const isNone = (v: string) => v.toLowerCase() === 'none';

/**
 * ssh(1)'s choice between the two (readconf.c): whichever comes first for the host applies, `none`
 * included (`ProxyCommand none` first: no proxy at all), except that `ProxyJump none` first still
 * lets a later ProxyCommand apply.
 */
function proxyOf(jump: string | undefined, command: string | undefined, commandFirst: boolean): { jump?: string; command?: string } {
  if (jump !== undefined && command !== undefined) {
    if (commandFirst) return isNone(command) ? {} : { command };
    if (!isNone(jump)) return { jump };
    return isNone(command) ? {} : { command };
  }
  if (jump !== undefined && !isNone(jump)) return { jump };
  if (command !== undefined && !isNone(command)) return { command };
  return {};
}

function first(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v[0] : v;
}

function all(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function expand(value: string, ctx: { host: string; user: string; localUser: string; home: string; alias: string; port: number }): string {
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
        return ctx.localUser;
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

/** The local login name, as ssh(1) takes it (getpwuid, not $USER). */
export function localLogin(): string {
  return passwdLogin() ?? process.env.USER ?? 'root';
}

/**
 * Resolve `alias` against the config (first value wins, as in ssh_config(5)): one text (read as a
 * user file) or the sources in ssh's order. `home` and `localUser` are for ~, %d and %u, Include
 * and Match; `io` reads included files and runs `Match exec` (one per run: it keeps its answers).
 * Throws SshConfigError on a line ssh(1) would refuse.
 */
export function resolveSshConfig(config: string | SshConfigSource[], alias: string, opts: { home?: string; localUser?: string; io?: SshConfigIo } = {}): SshConfigResult {
  const home = opts.home ?? homedir();
  const localUser = opts.localUser ?? localLogin();
  const sources = typeof config === 'string' ? [{ text: config, name: '~/.ssh/config', user: true }] : config;
  const c = Object.fromEntries(evaluateSshConfig(sources, { alias, home, localUser, localUid: process.getuid?.() ?? 0, io: opts.io ?? machineSshConfigIo() }));
  const keys = Object.keys(c);
  const rawHost = first(c.hostname);
  const host = rawHost ? rawHost.replace(/%h/g, alias) : alias;
  const user = first(c.user);
  const portStr = first(c.port);
  const port = portStr && /^\d+$/.test(portStr) ? Number(portStr) : undefined;
  const ctx = { host, user: user ?? localUser, localUser, home, alias, port: port ?? 22 };
  const result: SshConfigResult = {
    identityFiles: all(c.identityfile).map((f) => expand(f, ctx)),
  };
  if (rawHost) result.hostName = host;
  if (user) result.user = user;
  if (port !== undefined) result.port = port;
  const proxy = proxyOf(first(c.proxyjump), first(c.proxycommand), keys.indexOf('proxycommand') < keys.indexOf('proxyjump'));
  if (proxy.jump) result.proxyJump = proxy.jump;
  if (proxy.command) result.proxyCommand = proxy.command;
  // the package splits the list itself, keeping a quoted path with spaces whole
  const kh = all(c.userknownhostsfile).filter((f) => f !== '');
  if (kh.length) result.userKnownHostsFiles = kh.map((f) => expand(f, ctx));
  const gkh = all(c.globalknownhostsfile).filter((f) => f !== '');
  if (gkh.length) result.globalKnownHostsFiles = gkh.map((f) => expand(f, ctx));
  const keyAlias = first(c.hostkeyalias);
  if (keyAlias) result.hostKeyAlias = keyAlias;
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
