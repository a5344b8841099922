/**
 * Options shared by the commands that reach hosts (plan, apply, rollback, connect), and turning
 * them into a loaded runbook, the selected hosts, -e values and connection options.
 */
import { Option, type Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import type { Diagnostic } from '../errors.js';
import { userError, UserError } from '../errors.js';
import { adhocInventory, inventoryVarNames, loadInventoryFile, selectHosts, unreadVarsDirsBesideRunbook, varsDirOf } from '../inventory/load.js';
import { parseSlice } from '../inventory/slice.js';
import { sliceRun } from './slicing.js';
import type { SliceRef } from '../engine/events.js';
import type { HostEntry, Inventory } from '../inventory/types.js';
import { loadRunbookFile } from '../runbook/load.js';
import type { LoadedRunbook } from '../runbook/model.js';
import { parseExtraVars } from '../runbook/vars.js';
import { typeExtraVars } from '../runbook/extra-var-types.js';
import { useAgeIdentityFile } from '../runbook/encrypted.js';
import type { ConnectOptions } from '../engine/connect.js';
import { ansibleDefaultsOnce, type ConfiguredInventory } from '../inventory/ansible-config.js';
import type { EngineOptions } from '../engine/run.js';
import { DEFAULT_FORKS } from '../engine/host-connection.js';
import { printDiagnostics } from './output.js';

export interface ConnectionCliOptions {
  /** age identity file for encrypted variables (src/runbook/encrypted.ts) */
  identityFile?: string;
  acceptNew?: boolean;
  knownHosts?: string;
  privateKey?: string;
  user?: string;
  become?: boolean;
  askBecomePass?: boolean;
  becomeUser?: string;
  jump?: string;
  connectTimeout?: number;
}

export interface HostsCliOptions {
  inventory?: string;
  hosts?: string;
  limit?: string;
}

export interface RunCliOptions extends ConnectionCliOptions, HostsCliOptions {
  extraVars?: string[];
  forks?: number;
  json?: boolean;
  tags?: string[];
  skipTags?: string[];
  startAtStep?: string;
  breakLock?: boolean;
  stateDir?: string;
  /** K/N: only the K-th of N slices of the selected hosts */
  slice?: string;
  /** names the logical run the slices belong to */
  sliceGroup?: string;
  /** show how copy/file steps change files (unified diffs, secrets redacted) */
  diff?: boolean;
  /** --profile FILE: per host and phase timings as JSON (src/engine/profile.ts) */
  profile?: string;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];
const list = (v: string, prev: string[] = []) => [...prev, ...v.split(',').map((s) => s.trim()).filter(Boolean)];
/** An option's whole-number parser: `min` and over, else a usage error saying what was expected. */
const wholeNumber = (min: number, expected: string) => (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw userError('usage', `${what}: expected ${expected}, got "${v}"`);
  return n;
};
export const positiveInt = wholeNumber(1, 'a positive whole number');
export const nonNegativeInt = wholeNumber(0, 'a whole number (0 or more)');

export function addHostOptions(cmd: Command): Command {
  return cmd
    .option('-i, --inventory <file>', "Ansible inventory: YAML, or INI read by the installed ansible-core (default: the one $ANSIBLE_INVENTORY or ansible.cfg's [defaults] inventory names)")
    .option('--hosts <list>', 'hosts without an inventory: a,b,user@c:2222')
    .option('-l, --limit <pattern>', 'narrow the selected hosts further (Ansible pattern)');
}

export function addConnectionOptions(cmd: Command): Command {
  return cmd
    .option('--accept-new', 'trust and record host keys not yet in known_hosts (a changed key is still refused)')
    .option('--known-hosts <file>', 'known_hosts file (default: the inventory\'s, else ~/.ssh/known_hosts)')
    .option('--private-key <file>', 'SSH private key when the inventory names none')
    .option('-u, --user <name>', 'SSH user when the inventory names none')
    .option('-b, --become', 'run everything on the hosts through sudo')
    .option('--become-user <name>', 'become this user instead of root (wins over ansible_become_user)')
    .option('-K, --ask-become-pass', 'sudo password: $RUNBOOK_BECOME_PASSWORD, else a prompt')
    .option('-J, --jump <hosts>', 'ProxyJump for every host: [user@]bastion[:port][,next...] (wins over the inventory and ~/.ssh/config)')
    .addOption(new Option('--connect-timeout <ms>', 'TCP + SSH handshake timeout').argParser(positiveInt('--connect-timeout')).hideHelp());
}

export function addRunOptions(cmd: Command): Command {
  addHostOptions(cmd);
  cmd
    .option('-e, --extra-vars <var>', 'key=value, @file.yaml or {"key": value} (repeatable; wins over inventory and runbook vars; key=value takes the type of a boolean or number default)', collect)
    .option('-f, --forks <n>', `hosts worked on at once (default ${DEFAULT_FORKS})`, positiveInt('--forks'))
    .option('-t, --tags <tags>', 'only steps with one of these tags (comma list; `always` steps run too)', list)
    .option('--skip-tags <tags>', 'leave out steps with these tags', list)
    .option('--start-at-step <step>', 'start at this step: its number (1-based) or its name')
    .option('--json', 'JSON-lines events on stdout instead of the tree/lines')
    .option('--identity-file <file>', 'age identity (key) file for encrypted -e @file.age and vars_files (default $RUNBOOK_AGE_IDENTITY)')
    .option('--diff', 'show how copy/file steps change each file: unified diffs of text (secrets redacted), binary, large and private files summarised, mode/owner changes')
    .option('--state-dir <dir>', "where run journals are kept (default: the runbook's git root's .runbook, else $XDG_STATE_HOME/runbook)")
    .option('--slice <K/N>', 'only the K-th of N deterministic, balanced slices of the selected hosts (one job of N on a scheduler)')
    .option('--slice-group <name>', 'the logical run the slices belong to (default $RUNBOOK_SLICE_GROUP; apply needs one)')
    .option('--profile <file>', 'write where each host\'s time went (connect, auth, probe, apply, wait, journal, backup) as JSON');
  return addConnectionOptions(cmd);
}

/** The become password: $RUNBOOK_BECOME_PASSWORD, else a prompt on the terminal (no echo). */
export async function becomePassword(o: ConnectionCliOptions): Promise<string | undefined> {
  if (!o.askBecomePass) return undefined;
  const env = process.env.RUNBOOK_BECOME_PASSWORD;
  if (env !== undefined) return env;
  if (!process.stdin.isTTY) throw userError('usage', '--ask-become-pass: no terminal to ask on; set RUNBOOK_BECOME_PASSWORD');
  return askHidden('BECOME password: ');
}

// each encrypted key is asked for once per process, however many hosts use it
const passphrases = new Map<string, Promise<string | undefined>>();
/** The passphrase of an encrypted private key, asked on the terminal (undefined without one). */
export function askKeyPassphrase(keyPath: string): Promise<string | undefined> {
  if (!process.stdin.isTTY) return Promise.resolve(undefined);
  let p = passphrases.get(keyPath);
  if (!p) passphrases.set(keyPath, (p = askHidden(`Passphrase for ${keyPath}: `)));
  return p;
}

let asking: Promise<unknown> = Promise.resolve();
/** One line from the terminal without echo; questions wait for each other. */
function askHidden(prompt: string): Promise<string> {
  const next = asking.then(() => askHiddenNow(prompt));
  asking = next.catch(() => undefined);
  return next;
}

function askHiddenNow(prompt: string): Promise<string> {
  process.stderr.write(prompt);
  const stdin = process.stdin;
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let pw = '';
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          cleanup();
          process.stderr.write('\n');
          resolve(pw);
          return;
        }
        if (ch === '\u0003') {
          cleanup();
          reject(userError('usage', 'cancelled'));
          return;
        }
        if (ch === '\u007f') pw = pw.slice(0, -1);
        else pw += ch;
      }
    };
    const cleanup = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
    };
    stdin.on('data', onData);
  });
}

export async function connectOptions(o: ConnectionCliOptions): Promise<ConnectOptions> {
  // ansible.cfg and ANSIBLE_*: what Ansible would use beneath the inventory; a file that cannot be read stops here (before -K asks)
  const ansible = ansibleDefaultsOnce();
  const broken = ansible.diagnostics.find((d) => d.severity === 'error');
  if (broken) throw new UserError(broken);
  const pw = await becomePassword(o);
  return {
    ...(Object.keys(ansible.vars).length ? { ansible: ansible.vars } : {}),
    ...(o.acceptNew ? { acceptNew: true } : {}),
    ...(o.knownHosts ? { knownHosts: o.knownHosts } : {}),
    ...(o.privateKey ? { privateKey: o.privateKey } : {}),
    ...(o.user ? { user: o.user } : {}),
    ...(o.become ? { become: true } : {}),
    ...(o.becomeUser ? { becomeUser: o.becomeUser } : {}),
    ...(o.jump ? { jump: o.jump } : {}),
    askPassphrase: askKeyPassphrase,
    ...(pw !== undefined ? { becomePassword: pw } : {}),
    ...(o.connectTimeout !== undefined ? { connectTimeoutMs: o.connectTimeout } : {}),
  };
}

/**
 * The inventory file: -i, else (with no --hosts either) the one the Ansible config names, as
 * ansible-playbook takes it: $ANSIBLE_INVENTORY or ansible.cfg's [defaults] inventory.
 */
function inventoryFileOf(o: HostsCliOptions, configured: ConfiguredInventory | undefined): string | undefined {
  if (o.inventory || o.hosts) return o.inventory;
  if (!configured) return undefined;
  if (configured.paths.length > 1) {
    throw new UserError({ kind: 'usage', ...configured.at, message: `${configured.name} names ${configured.paths.length} inventory sources (${configured.paths.join(', ')}); runbook reads one inventory file: give it with -i` });
  }
  const path = configured.paths[0]!;
  if (!existsSync(path)) throw new UserError({ kind: 'inventory', ...configured.at, message: `${configured.name} names the inventory ${path}, which does not exist: correct it, or give the inventory with -i` });
  if (statSync(path).isDirectory()) throw new UserError({ kind: 'inventory', ...configured.at, message: `${configured.name} names the directory ${path}; runbook reads one inventory file: give it with -i` });
  return path;
}

/** The inventory from -i, --hosts or the Ansible config. */
export async function loadHostsInventory(o: HostsCliOptions, stderr: NodeJS.WritableStream): Promise<Inventory | undefined> {
  if (o.inventory && o.hosts) throw userError('usage', 'give either -i/--inventory or --hosts, not both');
  // the Ansible config's warnings (its errors stop the run where its settings are taken: connectOptions)
  const ansible = ansibleDefaultsOnce();
  printDiagnostics(ansible.diagnostics.filter((d) => d.severity !== 'error'), stderr);
  if (o.hosts) return adhocInventory(o.hosts);
  const file = inventoryFileOf(o, ansible.inventory);
  if (!file) throw userError('usage', "no hosts: give an inventory with -i FILE (or name it in ansible.cfg's [defaults] inventory) or hosts with --hosts a,b");
  const { inventory, diagnostics } = await loadInventoryFile(file);
  printDiagnostics(diagnostics, stderr);
  return inventory;
}

export interface PreparedRun {
  rb: LoadedRunbook;
  hosts: HostEntry[];
  inventoryFile?: string;
  extraVars: Record<string, unknown>;
  diagnostics: Diagnostic[];
  slice?: SliceRef;
  /** multi-play: the names of each play's hosts in the whole inventory (the engine narrows them to `hosts`) */
  playHosts?: string[][];
}

/** --slice-group, else $RUNBOOK_SLICE_GROUP (what the N jobs were given). */
export function givenSliceGroup(o: RunCliOptions): string | undefined {
  const given = o.sliceGroup ?? process.env.RUNBOOK_SLICE_GROUP;
  return given !== undefined && given.trim() !== '' ? given.trim() : undefined;
}

/** The group a slice journals under; a plan (nothing journaled) may go without one. */
function sliceGroupName(o: RunCliOptions, runbookName: string, count: number): string {
  return givenSliceGroup(o) ?? `${runbookName}-${count}x`;
}

/** Load the runbook and inventory and select hosts; undefined (after printing why) on invalid input. */
export async function prepareRun(runbookFile: string, o: RunCliOptions, stderr: NodeJS.WritableStream = process.stderr): Promise<PreparedRun | undefined> {
  useAgeIdentityFile(o.identityFile);
  const given = await parseExtraVars(o.extraVars ?? []);
  const inventory = await loadHostsInventory(o, stderr);
  if (!inventory) return undefined;
  const inventoryFile = inventory.file;
  const known = new Set([...inventoryVarNames(inventory), ...Object.keys(given.values)]);
  const { runbook, diagnostics } = await loadRunbookFile(runbookFile, { knownVarNames: known });
  printDiagnostics(diagnostics, stderr);
  if (!runbook) return undefined;
  // Ansible reads group_vars/ and host_vars/ beside the playbook too; the inventory's directory was warned about already
  printDiagnostics(unreadVarsDirsBesideRunbook(runbookFile, new Set(inventoryFile ? [varsDirOf(inventoryFile)] : [])), stderr);
  // -e key=value read as the types the runbook declares, before any host is reached
  const { values: extraVars, problems } = typeExtraVars(runbook, given);
  printDiagnostics(problems, stderr);
  if (problems.length) return undefined;
  // each play's pattern on its own (a `!x` of one play must not drop x from another), then the union
  const playHosts = runbook.multiPlay && !o.hosts ? runbook.plays.map((p) => selectHosts(inventory, p.hosts, o.limit).map((h) => h.name)) : undefined;
  let hosts = o.hosts ? selectHosts(inventory, 'all', o.limit) : playHosts ? [...inventory.hosts.values()].filter((h) => playHosts.some((names) => names.includes(h.name))) : selectHosts(inventory, runbook.hostsPattern, o.limit);
  if (hosts.length === 0) {
    throw userError('inventory', `no hosts selected: \`${runbook.hostsPattern}\`${o.limit ? ` limited to \`${o.limit}\`` : ''} matches nothing in ${inventoryFile ?? '--hosts'}`);
  }
  let slice: SliceRef | undefined;
  if (o.slice !== undefined) ({ hosts, slice } = sliceRun(runbook, hosts, { slice: o.slice, group: sliceGroupName(o, runbook.runbook.name, parseSlice(o.slice).count) }));
  return { rb: runbook, hosts, ...(inventoryFile ? { inventoryFile } : {}), extraVars, diagnostics, ...(slice ? { slice } : {}), ...(playHosts ? { playHosts } : {}) };
}

/** What plan and apply both hand the engine: the prepared run and the options given for it (breaking a lock is apply's alone). */
export async function engineOptions(prepared: PreparedRun, o: RunCliOptions): Promise<Omit<EngineOptions, 'dryRun' | 'breakLock' | 'sink'>> {
  return {
    rb: prepared.rb,
    hosts: prepared.hosts,
    ...(prepared.inventoryFile ? { inventoryFile: prepared.inventoryFile } : {}),
    extraVars: prepared.extraVars,
    ...(prepared.slice ? { slice: prepared.slice } : {}),
    ...(prepared.playHosts ? { playHosts: prepared.playHosts } : {}),
    ...(o.forks ? { forks: o.forks } : {}),
    connect: await connectOptions(o),
    ...(o.tags ? { tags: o.tags } : {}),
    ...(o.skipTags ? { skipTags: o.skipTags } : {}),
    ...(o.startAtStep ? { startAtStep: o.startAtStep } : {}),
    ...(o.stateDir ? { stateDir: o.stateDir } : {}),
    ...(o.diff ? { diff: true } : {}),
  };
}
