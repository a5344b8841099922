import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSshArgs, splitArgs } from './ssh-args.js';

test('ssh arguments are split like shlex: quotes, backslashes, no variable expansion', () => {
  assert.deepEqual(splitArgs(`-o 'ProxyCommand=ssh -W %h:%p b' -o "UserKnownHostsFile=$HOME/kh" -o A\\ B`).argv, ['-o', 'ProxyCommand=ssh -W %h:%p b', '-o', 'UserKnownHostsFile=$HOME/kh', '-o', 'A B']);
  assert.deepEqual(splitArgs('-o X=1; rm -rf /').errors, ['shell operator `;` is not an ssh argument']);
});

test('the options that matter become ssh_config lines; -p/-i/-J/-l/-F too', () => {
  const p = parseSshArgs(
    '-o UserKnownHostsFile=/kh -o StrictHostKeyChecking=accept-new -oProxyJump=u@b:2200 -o "Port 2222" -o User=ops -o IdentityFile=/k -o IdentitiesOnly=yes ' +
      '-o ConnectTimeout=7 -o ServerAliveInterval=5 -o ServerAliveCountMax=2 -o HostKeyAlgorithms=+ssh-rsa -p 2201 -i /k2 -J j1,j2 -l admin -F /cfg',
  );
  assert.deepEqual(p.lines, [
    'UserKnownHostsFile /kh',
    'StrictHostKeyChecking accept-new',
    'ProxyJump u@b:2200',
    'Port 2222',
    'User ops',
    'IdentityFile /k',
    'IdentitiesOnly yes',
    'ConnectTimeout 7',
    'ServerAliveInterval 5',
    'ServerAliveCountMax 2',
    'HostKeyAlgorithms +ssh-rsa',
    'Port 2201',
    'IdentityFile /k2',
    'ProxyJump j1,j2',
    'User admin',
  ]);
  assert.equal(p.configFile, '/cfg');
  assert.deepEqual(p.ignored, []);
});

test('every other option is reported by name, never dropped silently', () => {
  const p = parseSshArgs('-C -o ControlMaster=auto -o ControlPersist=60s -o ForwardAgent=yes -L 8080:localhost:80 -tt -o CertificateFile=/c');
  assert.deepEqual(
    p.ignored.map((i) => i.option),
    ['-C', '-o ControlMaster=auto', '-o ControlPersist=60s', '-o ForwardAgent=yes', '-L 8080:localhost:80', '-t', '-t', '-o CertificateFile=/c'],
  );
  assert.match(p.ignored[1]!.why, /one connection per host/);
  assert.deepEqual(parseSshArgs('host.example').errors.length, 1);
  assert.deepEqual(parseSshArgs('-o').errors, ['-o needs an option']);
});

test('an -o keyword no ssh knows, and IgnoreUnknown, become config lines: the ssh config evaluation judges them in ssh\'s order', () => {
  const p = parseSshArgs('-o IgnoreUnknown=PROXYJUM,UseKeychain -o ProxyJum=bastion -o UseKeychain=yes');
  assert.deepEqual([p.errors, p.lines, p.ignored.map((i) => i.option)], [[], ['IgnoreUnknown PROXYJUM,UseKeychain', 'ProxyJum bastion'], ['-o UseKeychain=yes']]);
  // a line break cannot add a line of its own through an unknown keyword either
  const injected = parseSshArgs("-o 'Foo=x\nProxyCommand sh -c evil'");
  assert.deepEqual([injected.lines, injected.errors], [[], ['ssh option `Foo` has a line break or NUL in its value']]);
});
