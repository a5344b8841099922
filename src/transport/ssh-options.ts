/**
 * Connection options for an inventory host, the way Ansible's ssh connection hands them to ssh(1)
 * (first value wins): `ansible_ssh_args`, then the inventory's own values (ansible_port,
 * ansible_user, ansible_ssh_private_key_file, runbook_known_hosts), then `ansible_ssh_common_args`
 * and `ansible_ssh_extra_args`, then ~/.ssh/config (or the `-F` file the arguments name), then
 * /etc/ssh/ssh_config (not with `-F`). Everything is turned into ssh_config lines and resolved by
 * ssh-config.ts in one pass.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { HostEntry } from '../inventory/types.js';
import { hostAnsibleBoolean } from '../inventory/ansible-values.js';
import { userError } from '../errors.js';
import { localLogin, parseJumpChain, resolveSshConfig } from './ssh-config.js';
import type { SshConfigSource } from './ssh-config-eval.js';
import { PendingExec, type SshConfigIo } from './ssh-config-io.js';
import { parseSshArgs, SSH_ARG_VARS } from './ssh-args.js';
import { expandProxyCommand, programOf, type ProxyTokens } from './proxy-command.js';
import type { SshConnectOptions } from './ssh.js';
import { parseLoginShell } from './login-shell.js';

export interface JumpHop {
  /** the hop as written in ProxyJump (its ~/.ssh/config alias) */
  alias: string;
  host: string;
  port: number;
  user: string;
  /** no user in the ProxyJump or the hop's config: the local login name, as ssh(1) logs in there */
  userByDefault?: true;
  privateKeyPaths: string[];
  /** the hop's own ssh_config UserKnownHostsFile / GlobalKnownHostsFile / StrictHostKeyChecking (else the target's), HostKeyAlias */
  knownHostsPaths?: string[];
  globalKnownHostsPaths?: string[];
  hostKeyAlias?: string;
  hostKeyPolicy?: 'strict' | 'accept-new';
  /** the first hop's own ProxyCommand, tokens expanded */
  proxyCommand?: string;
}

export type HostSshOptions = Omit<SshConnectOptions, 'proxyJump'> & {
  /** ProxyJump as written; `jumps` are its hops, resolved */
  proxyJumpSpec?: string;
  jumps?: JumpHop[];
};

// Every host of a group usually carries the same ansible_ssh_common_args: split it once per run.
// The parsed result is shared, so it is frozen (readers only spread its lines).
const parsedArgs = new Map<string, ReturnType<typeof parseSshArgs>>();
function parseSshArgsOnce(text: string): ReturnType<typeof parseSshArgs> {
  let p = parsedArgs.get(text);
  if (!p) {
    if (parsedArgs.size >= 64) parsedArgs.clear();
    p = parseSshArgs(text);
    Object.freeze(p.lines);
    Object.freeze(p.errors);
    parsedArgs.set(text, Object.freeze(p));
  }
  return p;
}

function str(entry: HostEntry, k: string): string | undefined {
  const v = entry.vars[k];
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

/** The sudo password a host's variables give (a number is its digits: `ansible_become_password: 123456`), for SSH and local hosts alike. */
export function becomePasswordOf(entry: HostEntry): string | undefined {
  return str(entry, 'ansible_become_password') ?? str(entry, 'ansible_become_pass');
}

/**
 * Quote a value for an ssh_config line (paths with spaces). A line break (or NUL) would end the
 * line and start another option of the inventory's choosing (`StrictHostKeyChecking no`): refused.
 */
export function cfgValue(v: string, what: string, host: string): string {
  if (/[\r\n\0]/.test(v)) throw userError('inventory', `${what} ${JSON.stringify(v)} contains a line break: it would add ssh options of its own`, { host });
  return /\s/.test(v) ? `"${v.replace(/"/g, '')}"` : v;
}

/** The ProxyCommand with its tokens expanded, or an inventory error naming only its program. */
function proxyCommandFor(command: string, tokens: ProxyTokens, whose: string, where: { host: string }): string {
  try {
    return expandProxyCommand(command, tokens);
  } catch (e) {
    throw userError('inventory', `${whose} ProxyCommand (\`${programOf(command)}\`) cannot be run: ${(e as Error).message}`, where);
  }
}

type Hop = { user?: string; host: string; port?: number };

/**
 * The chain as ssh(1) walks it: the first hop is reached as its own config says. A ProxyJump of
 * its own goes in front of it (ssh's process for that hop follows it), and so on for the new first
 * hop; a ProxyCommand of its own is run to reach it. A ProxyJump naming the hop itself (a `Host *`
 * one) is passed over for it, where ssh would loop or stop ("jumphost loop"): it is reached as if
 * that line were not there, directly or through its own ProxyCommand.
 */
function reachFirstHop(chain: Hop[], resolveHop: (hop: Hop, passOverJump?: boolean) => ReturnType<typeof resolveSshConfig>, where: { host: string }): { chain: Hop[]; first: ReturnType<typeof resolveSshConfig> } {
  let first = resolveHop(chain[0]!);
  for (let added = 0; ; added++) {
    const own = first.proxyJump ? parseJumpChain(first.proxyJump) : [];
    if (!own.length) return { chain, first };
    if (own[0]!.host.toLowerCase() === chain[0]!.host.toLowerCase()) return { chain, first: resolveHop(chain[0]!, true) };
    if (added >= 8) throw userError('inventory', `the jump hosts' own ProxyJumps go round in a loop: ${[...own, ...chain].map((h) => h.host).join(' → ')}`, where);
    chain = [...own, ...chain];
    first = resolveHop(chain[0]!);
  }
}

export function sshOptionsForHost(
  entry: HostEntry,
  opts: {
    acceptNew?: boolean;
    /** ~/.ssh/config's text */
    sshConfigText?: string;
    /** /etc/ssh/ssh_config's text (read after the user's, unless the arguments give `-F`) */
    systemSshConfigText?: string;
    /** reads included files and runs `Match exec`: one per run */
    sshConfigIo?: SshConfigIo;
    connectTimeoutMs?: number;
    /** -J/--jump on the command line: wins over everything */
    jump?: string;
    /** reads a -F file; default readFileSync (tests pass their own) */
    readConfigFile?: (path: string) => string;
  } = {},
): HostSshOptions {
  const where = { host: entry.name };
  const parsed = SSH_ARG_VARS.map((k) => {
    const v = str(entry, k);
    return v === undefined ? undefined : parseSshArgsOnce(v);
  });
  for (const [i, p] of parsed.entries()) {
    if (p?.errors.length) throw userError('inventory', `${SSH_ARG_VARS[i]}: ${p.errors[0]}`, where);
  }
  const [sshArgs, commonArgs, extraArgs] = parsed;
  const own: string[] = [];
  if (opts.jump) own.push(`ProxyJump ${cfgValue(opts.jump, '-J', entry.name)}`);
  const explicitPort = entry.vars.ansible_port !== undefined || entry.vars.ansible_ssh_port !== undefined || entry.port !== 22;
  if (explicitPort) own.push(`Port ${entry.port}`);
  if (entry.user) own.push(`User ${cfgValue(entry.user, 'ansible_user', entry.name)}`);
  if (entry.privateKeyFile) own.push(`IdentityFile ${cfgValue(entry.privateKeyFile, 'ansible_ssh_private_key_file', entry.name)}`);
  if (entry.knownHostsFile) own.push(`UserKnownHostsFile ${cfgValue(entry.knownHostsFile, 'runbook_known_hosts', entry.name)}`);
  const timeoutVar = str(entry, 'ansible_ssh_timeout') ?? str(entry, 'ansible_timeout');
  if (timeoutVar && /^\d+$/.test(timeoutVar)) own.push(`ConnectTimeout ${timeoutVar}`);
  if (hostAnsibleBoolean(entry.vars, 'ansible_host_key_checking', entry.name) === false) own.push('StrictHostKeyChecking accept-new'); // `no`, `off`, 0... too
  const argLines = [...(opts.jump ? own.slice(0, 1) : []), ...(sshArgs?.lines ?? []), ...own.slice(opts.jump ? 1 : 0), ...(commonArgs?.lines ?? []), ...(extraArgs?.lines ?? [])];
  // the last -F of the command line Ansible builds, as ssh takes it
  const configFile = [sshArgs, commonArgs, extraArgs].reverse().find((p) => p?.configFile)?.configFile;
  let userConfig: SshConfigSource = { text: opts.sshConfigText ?? '', name: '~/.ssh/config', user: true };
  if (configFile && configFile.toLowerCase() === 'none') {
    userConfig = { text: '', name: '-F none', user: true };
  } else if (configFile) {
    try {
      userConfig = { text: (opts.readConfigFile ?? ((p) => readFileSync(p, 'utf8')))(configFile), name: configFile, user: true };
    } catch (e) {
      throw userError('inventory', `cannot read the ssh config file ${configFile} (-F): ${(e as Error).message}`, where);
    }
  }
  // as ssh(1): the user's file (or -F), then the system's, which -F replaces too
  const files = [userConfig, ...(configFile || !opts.systemSshConfigText ? [] : [{ text: opts.systemSshConfigText, name: '/etc/ssh/ssh_config', user: false }])];
  const resolve = (sources: SshConfigSource[], alias: string): ReturnType<typeof resolveSshConfig> => {
    try {
      return resolveSshConfig(sources, alias, opts.sshConfigIo ? { io: opts.sshConfigIo } : {});
    } catch (e) {
      if (e instanceof PendingExec) throw e; // the caller runs it and asks again
      throw userError('inventory', `the ssh config, for ${alias}: ${(e as Error).message}`, where);
    }
  };
  // the argument lines come first, as ssh's own -o options: they apply to this host whatever its name
  const args: SshConfigSource = { text: argLines.join('\n'), name: 'the ssh arguments', user: true };
  const cfg = resolve([args, ...files], entry.address);
  const argCfg = argLines.length ? resolve([args], entry.address) : undefined;
  const argKeys = argCfg?.identityFiles ?? [];
  // keys the inventory or its arguments name are used as given (a missing one is an error later);
  // keys only ~/.ssh/config names are tried when they exist, as ssh(1) does
  const keys = cfg.identityFiles.filter((f) => argKeys.includes(f) || existsSync(f));

  const out: HostSshOptions & { user: string } = {
    name: entry.name,
    host: cfg.hostName ?? entry.address,
    port: cfg.port ?? entry.port,
    // as ssh(1): the login name of this process's user (getpwuid), not $USER, which cron and CI may not set
    user: cfg.user ?? localLogin(),
    become: entry.become,
    hostKeyPolicy: opts.acceptNew ? 'accept-new' : (cfg.hostKeyPolicy ?? 'strict'),
  };
  if (keys.length) out.privateKeyPaths = keys;
  if (cfg.userKnownHostsFiles) out.knownHostsPaths = cfg.userKnownHostsFiles;
  if (cfg.globalKnownHostsFiles) out.globalKnownHostsPaths = cfg.globalKnownHostsFiles;
  if (cfg.hostKeyAlias) out.hostKeyAlias = cfg.hostKeyAlias;
  const becomeUser = str(entry, 'ansible_become_user');
  if (becomeUser) out.becomeUser = becomeUser;
  const becomePassword = becomePasswordOf(entry);
  if (becomePassword !== undefined) out.becomePassword = becomePassword;
  const password = str(entry, 'ansible_password') ?? str(entry, 'ansible_ssh_pass') ?? str(entry, 'ansible_ssh_password');
  if (password !== undefined) out.password = password;
  const passphrase = str(entry, 'ansible_ssh_private_key_passphrase') ?? str(entry, 'ansible_private_key_passphrase');
  if (passphrase !== undefined) out.passphrase = passphrase;
  const timeout = opts.connectTimeoutMs ?? cfg.connectTimeoutMs;
  if (timeout !== undefined) out.connectTimeoutMs = timeout;
  if (cfg.identitiesOnly) out.identitiesOnly = true;
  if (cfg.agentOff) out.agent = false;
  else if (cfg.identityAgent) out.agent = cfg.identityAgent;
  else if (process.env.SSH_AUTH_SOCK && keys.length) out.agent = true; // ssh(1) offers the agent's keys too
  const loginShell = parseLoginShell(entry.vars.ansible_shell_type, where);
  if (loginShell !== 'sh') out.loginShell = loginShell;
  if (cfg.serverAliveMs) out.keepalive = cfg.serverAliveMs;
  if (cfg.serverAliveCountMax !== undefined) out.keepaliveCountMax = cfg.serverAliveCountMax;
  if (cfg.hostKeyAlgorithms) out.hostKeyAlgorithms = cfg.hostKeyAlgorithms;
  // as ssh(1) does: the host is reached through the command (ProxyJump and ProxyCommand exclude each other: ssh-config.ts)
  if (cfg.proxyCommand) out.proxyCommand = proxyCommandFor(cfg.proxyCommand, { host: out.host, port: out.port ?? 22, user: out.user, alias: entry.address }, "this host's", where);
  if (cfg.proxyJump) {
    out.proxyJumpSpec = cfg.proxyJump;
    // ssh(1) reaches a hop as `ssh -l USER -p PORT hop`: its Match user, %r and %p see them
    const resolveHop = (hop: Hop, passOverJump = false) => {
      // `ProxyJump none` first: a later ProxyCommand still applies (ssh-config.ts proxyOf)
      const given = [...(passOverJump ? ['ProxyJump none'] : []), ...(hop.user ? [`User ${cfgValue(hop.user, 'ProxyJump user', entry.name)}`] : []), ...(hop.port ? [`Port ${hop.port}`] : [])];
      return resolve([{ text: given.join('\n'), name: `ProxyJump ${hop.host}`, user: true }, ...files], hop.host);
    };
    const { chain, first } = reachFirstHop(parseJumpChain(cfg.proxyJump), resolveHop, where);
    // each hop: its own ssh config entry (HostName, User, Port, IdentityFile). Without a User there,
    // ssh(1) logs in as the local user, never as the target's (`ssh -J` passes no -l on); without
    // keys of its own, the target's are offered (ssh would offer only the default ones and the agent's)
    out.jumps = chain.map((hop, i) => {
      const hc = i === 0 ? first : resolveHop(hop);
      const hopKeys = hc.identityFiles.filter((f) => existsSync(f));
      const user = hop.user ?? hc.user;
      const hopOut = {
        alias: hop.host,
        host: hc.hostName ?? hop.host,
        port: hop.port ?? hc.port ?? 22,
        user: user ?? localLogin(),
        ...(user === undefined ? { userByDefault: true as const } : {}),
        privateKeyPaths: hopKeys.length ? hopKeys : keys,
        // the hop's own host key settings (ssh(1) reads them from the hop's config entry)
        ...(hc.userKnownHostsFiles ? { knownHostsPaths: hc.userKnownHostsFiles } : {}),
        ...(hc.globalKnownHostsFiles ? { globalKnownHostsPaths: hc.globalKnownHostsFiles } : {}),
        ...(hc.hostKeyAlias ? { hostKeyAlias: hc.hostKeyAlias } : {}),
        ...(opts.acceptNew ? { hostKeyPolicy: 'accept-new' as const } : hc.hostKeyPolicy ? { hostKeyPolicy: hc.hostKeyPolicy } : {}),
      };
      // the first hop through its own ProxyCommand (the later ones go through the hop before)
      return i === 0 && hc.proxyCommand ? { ...hopOut, proxyCommand: proxyCommandFor(hc.proxyCommand, { host: hopOut.host, port: hopOut.port, user: hopOut.user, alias: hop.host }, `the jump host ${hop.host}'s`, where) } : hopOut;
    });
  }
  return out;
}
