import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadInventoryText } from './load.js';

test('connection variables: unsupported ssh options and variables are warnings at the line they are on', () => {
  const text = [
    'all:',
    '  vars:',
    '    ansible_ssh_common_args: "-o UserKnownHostsFile=/kh -o StrictHostKeyChecking=yes -o ControlMaster=auto"',
    '    ansible_become_method: su',
    '  hosts:',
    '    a: { ansible_ssh_extra_args: "-C", ansible_ssh_executable: /usr/bin/ssh, ansible_ssh_user: admin, ansible_ssh_port: 2222, ansible_ssh_host: 10.0.0.1 }',
    '',
  ].join('\n');
  const { inventory, diagnostics } = loadInventoryText(text, 'inv.yaml');
  assert.ok(inventory);
  const msgs = diagnostics.map((d) => `${d.severity} ${d.line}: ${d.message}`);
  assert.deepEqual(msgs, [
    'warning 3: ansible_ssh_common_args: `-o ControlMaster=auto` is ignored: not needed: runbook keeps one connection per host for the whole run',
    'warning 4: ansible_become_method "su" is not supported: runbook becomes other users only through sudo',
    "warning 6: ansible_ssh_extra_args: `-C` is ignored: compression is not supported by runbook's SSH client",
    'warning 6: ansible_ssh_executable is ignored: runbook does not run ssh(1); it speaks SSH itself',
  ]);
  const a = inventory.hosts.get('a')!;
  assert.deepEqual([a.user, a.port, a.address], ['admin', 2222, '10.0.0.1']);
});

test('an ssh argument that cannot be read is an error', () => {
  const { inventory, diagnostics } = loadInventoryText('all:\n  vars:\n    ansible_ssh_common_args: "-o X=1 && reboot"\n  hosts:\n    a: {}\n', 'inv.yaml');
  assert.equal(inventory, undefined);
  assert.match(diagnostics[0]!.message, /ansible_ssh_common_args: shell operator `&&`/);
});

test('a ProxyCommand in the ssh arguments is honoured: no warning', () => {
  for (const args of ['-o ProxyCommand="ssh -W %h:%p -q ops@bastion"', '-o ProxyCommand=none']) {
    const r = loadInventoryText(`all:\n  vars:\n    ansible_ssh_extra_args: '${args}'\n  hosts:\n    a: {}\n`, 'inv.yaml');
    assert.deepEqual(r.diagnostics, [], args);
  }
});
