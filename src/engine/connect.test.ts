/** How a host is reached when ansible.cfg says something too: Ansible's precedence. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostBecome, openTransport, withAnsibleDefaults } from './connect.js';
import type { HostEntry } from '../inventory/types.js';

const host = (vars: Record<string, unknown> = {}, over: Partial<HostEntry> = {}): HostEntry => ({
  name: 'cp-1',
  address: '10.0.0.5',
  port: typeof vars.ansible_port === 'number' ? vars.ansible_port : 22,
  become: vars.ansible_become === true,
  connection: 'ssh',
  groups: ['all'],
  vars,
  ...(typeof vars.ansible_user === 'string' ? { user: vars.ansible_user } : {}),
  ...over,
});

const ansible = { ansible_user: 'from-cfg', ansible_ssh_private_key_file: '/cfg/key', ansible_port: 2222, ansible_become: true, ansible_become_user: 'cfg-admin', ansible_ssh_common_args: '-o ProxyJump=cfg-bastion' };

test('the inventory wins over -u and --private-key, which win over ansible.cfg; its other settings stand beneath the inventory\'s variables', () => {
  const fromCfg = withAnsibleDefaults(host(), { ansible });
  assert.deepEqual([fromCfg.user, fromCfg.privateKeyFile, fromCfg.port, fromCfg.vars.ansible_ssh_common_args], ['from-cfg', '/cfg/key', 2222, '-o ProxyJump=cfg-bastion']);
  const fromCli = withAnsibleDefaults(host(), { ansible, user: 'from-cli', privateKey: '/cli/key' });
  assert.deepEqual([fromCli.user, fromCli.privateKeyFile], ['from-cli', '/cli/key']);
  const fromInventory = withAnsibleDefaults(host({ ansible_user: 'from-inv', ansible_port: 22, ansible_ssh_common_args: '-o ProxyJump=inv-bastion' }), { ansible, user: 'from-cli' });
  assert.deepEqual([fromInventory.user, fromInventory.port, fromInventory.vars.ansible_ssh_common_args], ['from-inv', 22, '-o ProxyJump=inv-bastion']);
  assert.equal(withAnsibleDefaults(host({ ansible_ssh_port: 2200 }, { port: 2200 }), { ansible }).port, 2200);
});

test("become: the runbook's, then -b, then the inventory's ansible_become (false too), then ansible.cfg's", () => {
  assert.deepEqual(hostBecome(host(), { ansible }), { user: 'cfg-admin' });
  assert.equal(hostBecome(host({ ansible_become: false }), { ansible }), false);
  assert.deepEqual(hostBecome(host({ ansible_become_user: 'inv-admin' }), { ansible }), { user: 'inv-admin' });
  assert.equal(hostBecome(host(), { ansible }, { become: false }), false);
  assert.equal(hostBecome(host(), {}), false);
});

test('a local host\'s sudo password: as for SSH hosts, the inventory\'s (either spelling, digits too) or ansible.cfg\'s, else -K\'s', async () => {
  const local = (vars: Record<string, unknown>) => host(vars, { name: 'lh', connection: 'local' });
  // the password LocalTransport will answer sudo with (its options are private: read here only)
  const given = async (h: HostEntry, o: Parameters<typeof openTransport>[1] = {}) => ((await openTransport(h, o)) as unknown as { opts: { becomePassword?: string } }).opts.becomePassword;
  assert.equal(await given(local({ ansible_become_pass: 's3cret' })), 's3cret');
  assert.equal(await given(local({ ansible_become_password: 123456 })), '123456');
  assert.equal(await given(local({}), { ansible: { ansible_become_password: 'from-cfg' } }), 'from-cfg');
  assert.equal(await given(local({ ansible_become_password: 'inv' }), { becomePassword: 'cli' }), 'inv');
  assert.equal(await given(local({}), { becomePassword: 'cli' }), 'cli');
  assert.equal(await given(local({})), undefined);
});
