import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJump, resolveSshConfig } from './ssh-config.js';
import type { SshConfigIo } from './ssh-config-io.js';

const CONFIG = `
Host bastion
  HostName 10.0.0.100
  User jump
  Port 2200

Host cp-*
  User admin
  ProxyJump bastion
  IdentityFile ~/.ssh/cluster_ed25519
  UserKnownHostsFile ~/.ssh/known_hosts.cluster /etc/ssh/known_hosts.extra
  StrictHostKeyChecking accept-new

Host cp-1
  HostName 10.0.1.%h.internal
  Port 2222

Host *
  User nobody-wins-because-first-value-wins
  IdentityFile ~/.ssh/id_%r_%h
  StrictHostKeyChecking yes
  ConnectTimeout 7
Match exec "false-on-this-machine"
  User from-a-match-that-fails
`;

// no file and no command of this machine: a Match exec answers no, and is recorded
const ran: string[] = [];
const io: SshConfigIo = { read: () => undefined, glob: () => [], exec: (c) => (ran.push(c), false) };
const opts = { home: '/home/op', localUser: 'op', io };

test('first value wins; wildcards; %h, %r and ~ expansion; lists', () => {
  const r = resolveSshConfig(CONFIG, 'cp-1', opts);
  assert.equal(r.hostName, '10.0.1.cp-1.internal');
  assert.equal(r.user, 'admin');
  assert.equal(r.port, 2222);
  assert.equal(r.proxyJump, 'bastion');
  assert.deepEqual(r.identityFiles, ['/home/op/.ssh/cluster_ed25519', '/home/op/.ssh/id_admin_10.0.1.cp-1.internal']);
  assert.deepEqual(r.userKnownHostsFiles, ['/home/op/.ssh/known_hosts.cluster', '/etc/ssh/known_hosts.extra']);
  assert.equal(r.hostKeyPolicy, 'accept-new');
  assert.equal(r.connectTimeoutMs, 7000);
});

test('an alias with only Host * settings', () => {
  const r = resolveSshConfig(CONFIG, 'elsewhere', opts);
  assert.equal(r.hostName, undefined);
  assert.equal(r.port, undefined);
  assert.equal(r.user, 'nobody-wins-because-first-value-wins');
  assert.equal(r.hostKeyPolicy, 'strict');
  assert.equal(r.proxyJump, undefined);
});

test('bastion itself', () => {
  const r = resolveSshConfig(CONFIG, 'bastion', opts);
  assert.equal(r.hostName, '10.0.0.100');
  assert.equal(r.user, 'jump');
  assert.equal(r.port, 2200);
});

test('case-insensitive keywords, ProxyJump none, StrictHostKeyChecking no', () => {
  const r = resolveSshConfig('host x\n  HOSTNAME 1.2.3.4\n  proxyjump none\n  stricthostkeychecking no\n', 'x', opts);
  assert.equal(r.hostName, '1.2.3.4');
  assert.equal(r.proxyJump, undefined);
  assert.equal(r.hostKeyPolicy, 'accept-new'); // we never accept a changed key, so `no` means accept-new
});

test('a line that starts with `=` is the keyword after it, as ssh reads it (not a comment, not the end of its block)', () => {
  const r = resolveSshConfig('Host x\n=HostName 1.2.3.4\n  = User bob\n  Port 2202\n', 'x', opts);
  assert.deepEqual([r.hostName, r.user, r.port], ['1.2.3.4', 'bob', 2202]);
});

test('empty config resolves to nothing', () => {
  assert.deepEqual(resolveSshConfig('', 'h', opts), { identityFiles: [] });
});

test('ProxyJump hop parsing', () => {
  assert.deepEqual(parseJump('bastion'), { host: 'bastion' });
  assert.deepEqual(parseJump('jump@10.0.0.1:2200'), { user: 'jump', host: '10.0.0.1', port: 2200 });
  assert.deepEqual(parseJump('ssh://u@[::1]:22,second'), { user: 'u', host: '::1', port: 22 });
});
