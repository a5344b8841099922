import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUserError } from '../errors.js';
import { ansibleBoolean, hostAnsibleBoolean, withAnsibleBooleans } from './ansible-values.js';

test("Ansible's boolean(): every spelling it takes, in any case and with blanks around", () => {
  for (const t of [true, 1, 1.0, 'true', 'True', 'TRUE', 'yes', 'Yes', 'YES', 'on', 'On', 'y', 'Y', 't', '1', ' yes ']) assert.equal(ansibleBoolean(t), true, JSON.stringify(t));
  for (const f of [false, 0, 'false', 'False', 'no', 'No', 'NO', 'off', 'OFF', 'n', 'N', 'f', '0', '\tno\n']) assert.equal(ansibleBoolean(f), false, JSON.stringify(f));
  for (const bad of ['maybe', 'yes please', '', '2', 2, -1, null, [], {}]) assert.equal(ansibleBoolean(bad), undefined, JSON.stringify(bad));
});

test('a host\'s boolean variable: read as Ansible reads it; a value Ansible refuses names the host and the variable', () => {
  assert.equal(hostAnsibleBoolean({ ansible_become: 'yes' }, 'ansible_become', 'web1'), true);
  assert.equal(hostAnsibleBoolean({ ansible_host_key_checking: 'no' }, 'ansible_host_key_checking', 'web1'), false);
  assert.equal(hostAnsibleBoolean({}, 'ansible_become', 'web1'), undefined);
  assert.throws(
    () => hostAnsibleBoolean({ ansible_become: 'maybe' }, 'ansible_become', 'web1'),
    (e) => isUserError(e) && e.kind === 'inventory' && e.diagnostic.host === 'web1' && e.message === 'host `web1`: ansible_become is "maybe", which Ansible does not take as a boolean (true/false, yes/no, on/off, y/n, 1/0)',
  );
});

test('withAnsibleBooleans: only the boolean connection variables become booleans; a refused one is reported and left out', () => {
  const refused: string[] = [];
  const out = withAnsibleBooleans({ ansible_become: 'On', ansible_host_key_checking: 'bogus', flag: 'yes' }, (k, v) => refused.push(`${k}=${String(v)}`));
  assert.deepEqual(out, { ansible_become: true, flag: 'yes' });
  assert.deepEqual(refused, ['ansible_host_key_checking=bogus']);
});
