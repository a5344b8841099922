/**
 * Ansible itself as the oracle of the inventory tests: one Python run (under ansible-inventory's own
 * interpreter) parses an inventory as the `ansible` command does (InventoryManager with the enabled
 * plugins and the config ANSIBLE_CONFIG names), answers many host patterns as `ansible PATTERN
 * --list-hosts [-l LIMIT]` does (subset(), then get_hosts()), and gives every host's variables as
 * `ansible-inventory --host` prints them. Spawning `ansible` once per pattern costs a second each;
 * the tests check with a few real CLI calls that this agrees with the commands.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findOnPath, shebangCommand } from '../../src/inventory/ansible-ini.js';

const ORACLE = `
import json, sys
from ansible.cli.inventory import INTERNAL_VARS
from ansible.errors import AnsibleError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.vars.manager import VariableManager
loader = DataLoader()
inventory = InventoryManager(loader=loader, sources=[sys.argv[1]])
variables = VariableManager(loader=loader, inventory=inventory)
answers = []
for pattern, limit in json.loads(sys.argv[2]):
    inventory.subset(limit)
    try:
        answers.append([getattr(h, 'name', h) for h in inventory.list_hosts(pattern)])
    except AnsibleError as e:
        answers.append({'error': str(e)})
inventory.subset(None)
hostvars = {}
for h in inventory.get_hosts('all'):
    v = variables.get_vars(host=h, include_hostvars=False, stage='all')
    hostvars[h.name] = dict((k, x) for k, x in v.items() if k not in INTERNAL_VARS)
print(json.dumps({'patterns': answers, 'hostvars': hostvars}))
`;

/** The environment Ansible runs in for the tests: no ANSIBLE_* of the machine, the empty config test/fixtures/ansible-none.cfg. */
export function ansibleEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ANSIBLE_')));
  return { ...base, HOME: home, ANSIBLE_CONFIG: join(process.cwd(), 'test', 'fixtures', 'ansible-none.cfg'), ANSIBLE_LOCALHOST_WARNING: 'false', ANSIBLE_NOCOLOR: '1', ...extra };
}

export interface OracleAnswer {
  /** per [pattern, limit]: the host names in Ansible's order, or Ansible's error */
  patterns: (string[] | { error: string })[];
  /** each host's variables, as `ansible-inventory --host` prints them */
  hostvars: Record<string, Record<string, unknown>>;
}

/** Asks Ansible about `file`: the hosts of each [pattern, limit], and every host's variables. */
export function askAnsible(file: string, patterns: [string, string?][], env: NodeJS.ProcessEnv): Promise<OracleAnswer> {
  const tool = findOnPath('ansible-inventory', env);
  if (!tool) throw new Error('ansible-inventory is not installed');
  const python = shebangCommand(readFileSync(tool, 'utf8').split('\n')[0], env);
  if ('error' in python) throw new Error(python.error);
  const [command, ...args] = python.argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    execFile(command, [...args, '-c', ORACLE, file, JSON.stringify(patterns.map(([p, l]) => [p, l ?? null]))], { env, timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`the Ansible oracle failed: ${stderr || err.message}`));
      resolve(JSON.parse(stdout) as OracleAnswer);
    });
  });
}

/** `cmd ARGS` (ansible, ansible-inventory...) in `env`: its stdout, or why it failed. */
export function runAnsible(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, cwd, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

/** The host names `ansible PATTERN -i FILE --list-hosts [-l LIMIT]` prints, in order. */
export async function ansibleListHosts(file: string, pattern: string, env: NodeJS.ProcessEnv, limit?: string): Promise<string[]> {
  const r = await runAnsible('ansible', [pattern, '-i', file, '--list-hosts', ...(limit ? ['-l', limit] : [])], env);
  const lines = r.stdout.split('\n');
  const i = lines.findIndex((l) => /^\s*hosts \(\d+\):/.test(l));
  if (r.code !== 0 || i < 0) throw new Error(`ansible ${pattern}: ${r.stderr || r.stdout}`);
  return lines.slice(i + 1).map((l) => l.trim()).filter(Boolean);
}
