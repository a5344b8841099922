/**
 * Runs ansible-core's own INI inventory parser on a file (ansible-ini.py) and returns what Ansible
 * made of it: hosts and groups in Ansible's order, each with its own variables only, typed as
 * Ansible types them. The script runs under the Python that runs `ansible-inventory` (its #! line),
 * so it finds the same ansible-core, with an empty ansible.cfg and no ANSIBLE_* variable of the
 * operator's, so nothing but the INI plugin runs: no script is executed, no group_vars/ or
 * host_vars/ read (load.ts warns about each one beside the inventory), nothing decrypted.
 */
import { execFile } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import { basename, delimiter, isAbsolute, join, resolve } from 'node:path';
import { packageRoot } from '../paths.js';

/** A group as Ansible holds it: its own vars, its own hosts and child groups, in Ansible's order. */
export interface AnsibleIniGroup {
  name: string;
  vars: Record<string, unknown>;
  hosts: string[];
  children: string[];
}

/** A host: its own vars (no group's), and all its groups (ancestors too) in Ansible's merge order. */
export interface AnsibleIniHost {
  name: string;
  vars: Record<string, unknown>;
  groups: string[];
}

/** A value JSON cannot carry (a Python set, complex...): where it is, its Python type and text. */
export interface AnsibleIniProblem {
  where: ['host' | 'group', string, string];
  type: string;
  text: string;
}

export interface AnsibleIniData {
  /** ansible-core's version */
  version: string;
  /** in Ansible's inventory.hosts order */
  hosts: AnsibleIniHost[];
  /** in Ansible's inventory.groups order (`all`, `ungrouped`, then as met in the file) */
  groups: AnsibleIniGroup[];
  /** the parser's warnings */
  warnings: string[];
  problems: AnsibleIniProblem[];
}

export type AnsibleIniResult = { data: AnsibleIniData } | { error: string; line?: number; hint?: string };

const SCRIPT = join(packageRoot, 'src', 'inventory', 'ansible-ini.py');
/** An empty ansible.cfg: ANSIBLE_CONFIG must name a file that exists, or Ansible looks for others. */
const NO_CONFIG = join(packageRoot, 'src', 'inventory', 'ansible-none.cfg');
const TIMEOUT_MS = 60_000;
const INSTALL = 'install ansible-core (Debian/Ubuntu: apt-get install ansible-core; elsewhere: pip install ansible-core), or write the inventory in YAML (a .yaml file)';

/** The executable `name` on PATH, as a shell finds it. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      if (statSync(p).isFile()) {
        accessSync(p, constants.X_OK);
        return p;
      }
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** The first line of a file (at most 1 KiB), or undefined when it cannot be read. */
function firstLine(path: string): string | undefined {
  try {
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(1024);
      const n = readSync(fd, buf, 0, buf.length, 0);
      return buf.subarray(0, n).toString('utf8').split('\n')[0];
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/**
 * The interpreter and its arguments a script's `#!` line names, as the kernel (and `env`, with
 * `-S` or without) would run it: `#!/usr/bin/python3`, `#!/usr/bin/env python3`,
 * `#!/usr/bin/env -S python3 -E`.
 */
export function shebangCommand(line: string | undefined, env: NodeJS.ProcessEnv = process.env): { argv: string[] } | { error: string } {
  if (!line?.startsWith('#!')) return { error: 'its first line is no #! line naming its Python' };
  const words = line.slice(2).trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return { error: 'its #! line names no program' };
  if (basename(words[0]!) === 'env') {
    words.shift();
    // env's own options (-S splits the rest, as here) and NAME=value assignments
    while (words.length && (words[0]!.startsWith('-') || /^\w+=/.test(words[0]!))) words.shift();
    const name = words.shift();
    if (!name) return { error: `its #! line (${line}) names no program after env` };
    const found = isAbsolute(name) ? name : findOnPath(name, env);
    if (!found) return { error: `its #! line runs \`${name}\` through env, and \`${name}\` is not on PATH` };
    words.unshift(found);
  }
  if (!/^python/.test(basename(words[0]!))) return { error: `its #! line (${line}) runs ${words[0]}, not Python: runbook cannot tell which Python has ansible-core` };
  return { argv: words };
}

/**
 * The environment of the script: the operator's without any ANSIBLE_* setting, and with only the
 * INI plugin. PYTHONPATH and the user's site-packages stay, as for ansible-inventory itself: they
 * may be where its ansible-core is.
 */
function scriptEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('ANSIBLE_')));
  // belt and braces: the script calls the INI plugin itself and no vars plugin at all
  return { ...out, ANSIBLE_CONFIG: NO_CONFIG, ANSIBLE_INVENTORY_ENABLED: 'ini', ANSIBLE_VARS_ENABLED: '', ANSIBLE_NOCOLOR: '1' };
}

type ScriptOutput = { unsupported: string } | { error: string; version?: string } | AnsibleIniData;

/** Ansible's `FILE:LINE: message`: the line, and the message without the file (it names the absolute path runbook passed). */
function splitAt(message: string, abs: string): { message: string; line?: number } {
  const m = message.startsWith(`${abs}:`) ? /^(\d+): ([\s\S]*)$/.exec(message.slice(abs.length + 1)) : null;
  if (m) return { message: m[2]!, line: Number(m[1]) };
  return { message: message.split(abs).join(basename(abs)) };
}

/** Reads `path` (an INI inventory) with the installed ansible-core's INI parser. */
export function readIniThroughAnsible(path: string, env: NodeJS.ProcessEnv = process.env): Promise<AnsibleIniResult> {
  const tool = findOnPath('ansible-inventory', env);
  if (!tool) return Promise.resolve({ error: "runbook reads an INI inventory (a file not named .yaml, .yml or .json) with Ansible's own parser, and ansible-inventory (ansible-core) is not installed", hint: INSTALL });
  const python = shebangCommand(firstLine(tool), env);
  if ('error' in python) return Promise.resolve({ error: `cannot read the INI inventory: runbook reads it with Ansible's own parser, under the Python of ${tool}, and ${python.error}`, hint: INSTALL });
  const [command, ...args] = python.argv as [string, ...string[]];
  const abs = resolve(path);
  return new Promise((done) => {
    execFile(command, [...args, SCRIPT, abs], { env: scriptEnv(env), cwd: '/', timeout: TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 512 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      let out: ScriptOutput | undefined;
      try {
        out = JSON.parse(stdout) as ScriptOutput;
      } catch {
        /* no answer: below */
      }
      if (out === undefined) {
        const why = (err as (Error & { killed?: boolean }) | null)?.killed ? `no answer within ${TIMEOUT_MS / 1000} s` : (stderr.trim().split('\n').pop() || err?.message || 'no output');
        return done({ error: `Ansible's INI parser, run by ${command} (the Python of ${tool}), gave no answer: ${why}` });
      }
      if ('unsupported' in out) {
        return done({ error: `cannot read the INI inventory: ${command} (the Python of ${tool}) cannot load Ansible's INI parser as runbook calls it: ${out.unsupported}`, hint: `runbook was tested with ansible-core 2.14; ${INSTALL}` });
      }
      if ('error' in out) {
        const at = splitAt(out.error, abs);
        return done({ error: `Ansible's INI parser (ansible-core ${out.version ?? '?'}): ${at.message}`, ...(at.line !== undefined ? { line: at.line } : {}) });
      }
      done({ data: out });
    });
  });
}
