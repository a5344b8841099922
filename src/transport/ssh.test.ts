import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sshOptionsForHost } from './ssh.js';
import type { HostEntry } from '../inventory/types.js';

const entry = (over: Partial<HostEntry> = {}): HostEntry => ({
  name: 'cp-1',
  address: 'cp-1',
  port: 22,
  become: false,
  connection: 'ssh',
  groups: ['all'],
  vars: {},
  ...over,
});

const CONFIG = 'Host cp-1\n  HostName 10.0.0.5\n  User admin\n  Port 2222\n  ProxyJump bastion\n  StrictHostKeyChecking accept-new\n  UserKnownHostsFile /kh\n';

test('inventory values win over ~/.ssh/config; config fills the rest', () => {
  const o = sshOptionsForHost(entry(), { sshConfigText: CONFIG });
  assert.deepEqual(
    [o.host, o.port, o.user, o.hostKeyPolicy, o.proxyJumpSpec, o.knownHostsPaths],
    ['10.0.0.5', 2222, 'admin', 'accept-new', 'bastion', ['/kh']],
  );
  const p = sshOptionsForHost(entry({ user: 'root', port: 2200, knownHostsFile: '/lab/kh', privateKeyFile: '/lab/key', become: true, vars: { ansible_become_password: 'pw' } }), { sshConfigText: CONFIG });
  assert.deepEqual([p.user, p.port, p.knownHostsPaths, p.privateKeyPaths, p.become, p.becomePassword], ['root', 2200, ['/lab/kh'], ['/lab/key'], true, 'pw']);
  assert.equal(sshOptionsForHost(entry()).hostKeyPolicy, 'strict');
  assert.equal(sshOptionsForHost(entry(), { acceptNew: true }).hostKeyPolicy, 'accept-new');
});
