/**
 * YAML inventories are runbook's own to read, but a host's variables must be those Ansible gives it:
 * where several groups set the same variable, the group Ansible's sort_groups() puts last wins (by
 * depth, then ansible_group_priority, then name by code point, so `B` before `a`), and
 * ansible_group_priority itself is no variable. Checked against ansible-inventory on the same file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadInventoryFile } from '../src/inventory/load.js';
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
  // a group met at two depths takes the deeper one, as Ansible's Group.depth does
  'depth.yaml': `all:
  children:
    top:
      vars: { role: top }
      hosts: { h1: {} }
    outer:
      children:
        top: {}
        inner:
          vars: { role: inner }
          hosts: { h1: {} }
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
      const theirs = await askAnsible(file, [], env);
      assert.deepEqual([...r.inventory.hosts.keys()].sort(), Object.keys(theirs.hostvars).sort(), name);
      for (const [h, vars] of Object.entries(theirs.hostvars)) assert.deepEqual(r.inventory.hosts.get(h)!.vars, vars, `${name}: ${h}`);
    }
    // not vacuous: each case has a host whose winner is not the last group by plain name order
    const ours = async (name: string, host: string) => (await loadInventoryFile(join(dir, name))).inventory!.hosts.get(host)!.vars.role;
    assert.equal(await ours('names.yaml', 'h1'), 'a_web');
    assert.equal(await ours('priority.yaml', 'h1'), 'first');
    assert.equal(await ours('priority.yaml', 'h3'), 'child');
    assert.equal(await ours('depth.yaml', 'h1'), 'top');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an ansible_group_priority that is no whole number is refused at its line and column', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'inventory-yaml-'));
  try {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'all:\n  children:\n    web:\n      vars:\n        ansible_group_priority: high\n      hosts: { h1: {} }\n');
    const r = await loadInventoryFile(file);
    assert.equal(r.inventory, undefined);
    assert.deepEqual(
      r.diagnostics.map((d) => [d.line, d.col, d.message]),
      [[5, 33, 'group `web`: ansible_group_priority must be a whole number, not "high"']],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
