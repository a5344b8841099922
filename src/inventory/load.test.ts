import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUserError } from '../errors.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adhocInventory, expandHostRange, loadInventoryFile, loadInventoryText, selectHosts, unreadVarsDirs } from './load.js';
import { sshOptionsForHost } from '../transport/ssh-options.js';

const text = `
all:
  vars: { level: all, ansible_user: root }
  children:
    control_plane:
      vars: { level: cp, renew_within: 30d }
      hosts:
        cp[1:3]:
        cp2: { level: host, ansible_host: 10.0.0.2, ansible_port: 2222 }
      children:
        cp_primary:
          vars: { level: primary }
          hosts: { cp1: }
    workers:
      hosts:
        w[01:02]:
`;

test('Ansible inventory: ranges, groups, children and variable precedence', () => {
  const { inventory, diagnostics } = loadInventoryText(text, 'inv.yaml');
  assert.deepEqual(diagnostics, []);
  assert.ok(inventory);
  assert.deepEqual([...inventory.hosts.keys()].sort(), ['cp1', 'cp2', 'cp3', 'w01', 'w02']);
  const cp1 = inventory.hosts.get('cp1')!;
  const cp2 = inventory.hosts.get('cp2')!;
  const cp3 = inventory.hosts.get('cp3')!;
  assert.equal(cp1.vars.level, 'primary'); // child group beats parent
  assert.equal(cp2.vars.level, 'host'); // host beats groups
  assert.equal(cp3.vars.level, 'cp');
  assert.equal(inventory.hosts.get('w01')!.vars.level, 'all');
  assert.equal(cp2.address, '10.0.0.2');
  assert.equal(cp2.port, 2222);
  assert.equal(cp3.address, 'cp3');
  assert.equal(cp3.user, 'root');
  assert.deepEqual(cp1.groups.sort(), ['all', 'control_plane', 'cp_primary']);
});

test('patterns: groups, globs, exclusion, intersection, limit', () => {
  const { inventory } = loadInventoryText(text, 'inv.yaml');
  const names = (p: string, l?: string) => selectHosts(inventory!, p, l).map((h) => h.name);
  assert.deepEqual(names('control_plane'), ['cp1', 'cp2', 'cp3']);
  assert.deepEqual(names('all:!workers'), ['cp1', 'cp2', 'cp3']);
  assert.deepEqual(names('control_plane:&cp_primary'), ['cp1']);
  assert.deepEqual(names('w*'), ['w01', 'w02']);
  assert.deepEqual(names('all', 'cp2,w01'), ['cp2', 'w01']);
  assert.deepEqual(names('control_plane', '!cp1'), ['cp2', 'cp3']);
  assert.throws(() => names('control_planes'), (e) => isUserError(e) && /did you mean `control_plane`/.test(e.diagnostic.hint ?? ''));
});

test('ranges and ad-hoc hosts', () => {
  assert.deepEqual(expandHostRange('n[08:10].x'), ['n08.x', 'n09.x', 'n10.x']);
  assert.deepEqual(expandHostRange('web[a:c]'), ['weba', 'webb', 'webc']);
  const inv = adhocInventory('a, admin@b:2222,[::1]:22');
  const b = inv.hosts.get('admin@b:2222')!;
  assert.equal(b.address, 'b');
  assert.equal(b.user, 'admin');
  assert.equal(b.port, 2222);
  assert.equal(inv.hosts.get('[::1]:22')!.address, '::1');
});

test("YAML 1.1 booleans (`yes`, `no`, `on`...) in a YAML inventory are read as Ansible's boolean() reads them", () => {
  const { inventory, diagnostics } = loadInventoryText(
    'all:\n  vars: { ansible_host_key_checking: no }\n  hosts:\n    a: { ansible_become: yes }\n    b: { ansible_become: "Off", ansible_host_key_checking: "ON" }\n    c: { ansible_become: 1 }\n    d:\n',
    'inv.yaml',
  );
  assert.deepEqual(diagnostics, []);
  const h = (n: string) => inventory!.hosts.get(n)!;
  assert.deepEqual([h('a').become, h('b').become, h('c').become, h('d').become], [true, false, true, false]);
  assert.equal(h('a').vars.ansible_host_key_checking, false);
  // `no` is no longer text that stays strict without a word: unknown host keys are recorded
  assert.equal(sshOptionsForHost(h('a'), { sshConfigText: '' }).hostKeyPolicy, 'accept-new');
  assert.equal(sshOptionsForHost(h('b'), { sshConfigText: '' }).hostKeyPolicy, 'strict');
});

test('a boolean connection variable Ansible would refuse is an error at its line, naming the host or group and the variable', () => {
  const { inventory, diagnostics } = loadInventoryText('all:\n  children:\n    web:\n      vars:\n        ansible_host_key_checking: sometimes\n      hosts:\n        w1:\n          ansible_become: maybe\n', 'inv.yaml');
  assert.equal(inventory, undefined);
  assert.deepEqual(
    diagnostics.map((d) => [d.severity, d.line, d.message]),
    [
      ['error', 5, 'group `web`: ansible_host_key_checking is "sometimes", which Ansible does not take as a boolean (true/false, yes/no, on/off, y/n, 1/0)'],
      ['error', 8, 'host `w1`: ansible_become is "maybe", which Ansible does not take as a boolean (true/false, yes/no, on/off, y/n, 1/0)'],
    ],
  );
});

test('group_vars/ and host_vars/ beside the inventory: not read, and one warning for each that exists saying so', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'inv-vars-dirs-'));
  try {
    const inv = join(dir, 'hosts.yaml');
    writeFileSync(inv, 'all:\n  hosts:\n    h1:\n');
    const warnings = async () => (await loadInventoryFile(inv)).diagnostics.filter((d) => d.severity === 'warning');
    assert.deepEqual(await warnings(), []);
    // a file of that name is not what Ansible reads
    writeFileSync(join(dir, 'host_vars'), '');
    assert.deepEqual(await warnings(), []);
    rmSync(join(dir, 'host_vars'));
    mkdirSync(join(dir, 'group_vars'));
    writeFileSync(join(dir, 'group_vars', 'all.yml'), 'ansible_user: deploy\n');
    const one = await warnings();
    assert.deepEqual(
      one.map((d) => [d.kind, d.file, d.message]),
      [['inventory', join(dir, 'group_vars'), 'not read: Ansible reads group_vars/ beside the inventory, runbook does not, so none of its variables reach the hosts']],
    );
    assert.match(one[0]!.hint ?? '', /in the inventory file itself, under the group's `vars:`, or in the runbook's vars or vars_files/);
    const r = await loadInventoryFile(inv);
    assert.equal(r.inventory!.hosts.get('h1')!.user, undefined, 'still not read');
    mkdirSync(join(dir, 'host_vars'));
    assert.deepEqual((await warnings()).map((d) => d.file), [join(dir, 'group_vars'), join(dir, 'host_vars')]);
    // beside the runbook (plan and apply check its directory too, when it is not the inventory's)
    assert.deepEqual(unreadVarsDirs(dir, 'the runbook').map((d) => d.message), [
      'not read: Ansible reads group_vars/ beside the runbook, runbook does not, so none of its variables reach the hosts',
      'not read: Ansible reads host_vars/ beside the runbook, runbook does not, so none of its variables reach the hosts',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
