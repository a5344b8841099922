import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostEntry } from './host-entry.js';

test('localhost: the operator\'s machine when bare; an SSH target when the inventory says how to reach it (a VM behind a forwarded port)', () => {
  const conn = (name: string, vars: Record<string, unknown>) => hostEntry(name, vars, ['all']).connection;
  assert.equal(conn('localhost', {}), 'local');
  assert.equal(conn('localhost', { ansible_become: true }), 'local');
  assert.equal(conn('localhost', { ansible_port: 2222, ansible_user: 'vagrant' }), 'ssh');
  assert.equal(conn('localhost', { ansible_ssh_port: '2222' }), 'ssh');
  assert.equal(conn('localhost', { ansible_user: 'deploy' }), 'ssh');
  assert.equal(conn('localhost', { ansible_host: '127.0.0.1' }), 'ssh');
  assert.equal(conn('localhost', { ansible_ssh_private_key_file: '/k' }), 'ssh');
  assert.equal(conn('localhost', { ansible_port: 2222, ansible_connection: 'local' }), 'local', 'ansible_connection decides when given');
  assert.equal(conn('web1', {}), 'ssh');
  assert.equal(conn('web1', { ansible_connection: 'local' }), 'local');
  const vm = hostEntry('localhost', { ansible_port: 2222, ansible_user: 'vagrant' }, ['all']);
  assert.deepEqual([vm.address, vm.port, vm.user], ['localhost', 2222, 'vagrant']);
});
