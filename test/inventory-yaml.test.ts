/**
 * YAML inventories are runbook's own to read, but a host's variables must be those Ansible gives it:
 * where several groups set the same variable, the group Ansible's sort_groups() puts last wins (by
 * depth, then ansible_group_priority, then name by code point, so `B` before `a`), and
 * ansible_group_priority itself is no variable; `ungrouped` holds the hosts in no other group. Checked
 * against Ansible on the same file: each host's variables, and the hosts of a few patterns.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInventoryFile, selectHosts } from '../src/inventory/load.js';
import { formatDiagnostic } from '../src/errors.js';
import { ansibleEnv, askAnsible } from './support/ansible-oracle.js';

const skip = spawnSync('sh', ['-c', 'command -v ansible-inventory']).status === 0 ? false : 'ansible (ansible-core) is not installed';

const CASES: Record<string, string> = {
  // siblings at one depth: the name decides, by code point (Python's sort), upper case first
  'names.yaml': `all:
  vars: { role: from-all, port_note: all }
  children:
    a_web: { hosts: { h1: {}, h2: {} }, vars: { role: a_web } }
    B_web: { hosts: { h1: {}, h3: {} }, vars: { role: B_web } }
    Zeta: { hosts: { h2: {}, h3: {} }, vars: { role: Zeta, port_note: Zeta } }
`,
  // priority before name, depth before priority; the priority is no variable of the host
  'priority.yaml': `all:
  children:
    first:
      vars: { role: first, ansible_group_priority: 10 }
      hosts: { h1: {}, h2: {} }
    second:
      vars: { role: second, ansible_group_priority: "3" }
      hosts: { h1: {}, h3: {} }
    parent:
      vars: { role: parent, ansible_group_priority: 99 }
      children:
        child:
          vars: { role: child }
          hosts: { h3: {} }
`,
  // a group met at two depths takes the deeper one, as Ansible's Group.depth does, and its children
  // move down with it (c is at depth 3, below x at 2, though first met at 2)
  'depth.yaml': `all:
  children:
    top:
      vars: { role: top }
      hosts: { h1: {} }
      children:
        c: { hosts: { h2: {} }, vars: { role: c } }
    outer:
      children:
        top: {}
        inner:
          vars: { role: inner }
          hosts: { h1: {} }
        x: { hosts: { h2: {} }, vars: { role: x } }
`,
  // int() of what YAML gives: a float cut, a boolean 1 or 0, text with blanks and underscores
  'priority-int.yaml': `all:
  children:
    p_float: { vars: { role: p_float, ansible_group_priority: 2.9 }, hosts: { h1: {} } }
    p_bool: { vars: { role: p_bool, ansible_group_priority: true }, hosts: { h1: {} } }
    p_text: { vars: { role: p_text, ansible_group_priority: " 1_0 " }, hosts: { h1: {} } }
    p_neg: { vars: { role: p_neg, ansible_group_priority: -4 }, hosts: { h1: {}, h2: {} } }
`,
  // ungrouped: the hosts in no group but all, whatever was listed under it
  'ungrouped.yaml': `all:
  hosts: { h1: {}, h2: {} }
  children:
    ungrouped: { vars: { u: 1 }, hosts: { h2: {} } }
    web: { hosts: { h2: {} } }
`,
};

test("a YAML inventory's host variables are those ansible-inventory gives: groups by depth, ansible_group_priority, then name by code point", { skip, timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'inventory-yaml-'));
  try {
    const env = ansibleEnv(dir);
    for (const [name, text] of Object.entries(CASES)) {
      const file = join(dir, name);
      writeFileSync(file, text);
      const r = await loadInventoryFile(file);
      assert.ok(r.inventory, r.diagnostics.map(formatDiagnostic).join('\n'));
      // (a pattern that matches nothing is refused by runbook, where Ansible warns: only those that match)
      const patterns: [string][] = name === 'ungrouped.yaml' ? [['all'], ['ungrouped'], ['web']] : [['all']];
      const theirs = await askAnsible(file, patterns, env);
      assert.deepEqual(patterns.map(([p]) => selectHosts(r.inventory!, p).map((h) => h.name)), theirs.patterns, `${name}: the hosts of ${patterns.join(', ')}`);
      assert.deepEqual([...r.inventory.hosts.keys()].sort(), Object.keys(theirs.hostvars).sort(), name);
      for (const [h, vars] of Object.entries(theirs.hostvars)) assert.deepEqual(r.inventory.hosts.get(h)!.vars, vars, `${name}: ${h}`);
    }
    // not vacuous: each case has a host whose winner is not the last group by plain name order
    const ours = async (name: string, host: string) => (await loadInventoryFile(join(dir, name))).inventory!.hosts.get(host)!.vars.role;
    assert.equal(await ours('names.yaml', 'h1'), 'a_web');
    assert.equal(await ours('priority.yaml', 'h1'), 'first');
    assert.equal(await ours('priority.yaml', 'h3'), 'child');
    assert.equal(await ours('depth.yaml', 'h1'), 'top');
    assert.equal(await ours('depth.yaml', 'h2'), 'c');
    assert.equal(await ours('priority-int.yaml', 'h1'), 'p_text');
    const ungrouped = (await loadInventoryFile(join(dir, 'ungrouped.yaml'))).inventory!;
    assert.deepEqual([ungrouped.hosts.get('h1')!.vars.u, ungrouped.hosts.get('h2')!.vars.u], [1, undefined]);
    assert.deepEqual([...ungrouped.groups.get('ungrouped')!], ['h1']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an ansible_group_priority Python\'s int() refuses is refused at its line and column', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'inventory-yaml-'));
  try {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'all:\n  children:\n    web:\n      vars:\n        ansible_group_priority: "3.0"\n      hosts: { h1: {} }\n');
    const r = await loadInventoryFile(file);
    assert.equal(r.inventory, undefined);
    assert.deepEqual(
      r.diagnostics.map((d) => [d.line, d.col, d.message]),
      [[5, 34, 'group `web`: ansible_group_priority must be a whole number, not "3.0"']],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
