import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSshArgs, splitArgs } from './ssh-args.js';

test('ssh arguments are split like shlex: quotes, backslashes, no variable expansion', () => {
  assert.deepEqual(splitArgs(`-o 'ProxyCommand=ssh -W %h:%p b' -o "UserKnownHostsFile=$HOME/kh" -o A\\ B`).argv, ['-o', 'ProxyCommand=ssh -W %h:%p b', '-o', 'UserKnownHostsFile=$HOME/kh', '-o', 'A B']);
  assert.deepEqual(splitArgs('-o X=1; rm -rf /').errors, ['shell operator `;` is not an ssh argument']);
});

test('`#` is an ordinary character, as in shlex.split (comments=False): never the start of a comment that drops the rest', () => {
  // mid-word: the key file keeps its name and the options after it stay
  // (quoted in the config line: the ssh_config reader would take a bare `#` for a comment there too)
  assert.deepEqual(parseSshArgs('-i /keys/prod#1.pem -o ProxyJump=bastion').lines, ['IdentityFile "/keys/prod#1.pem"', 'ProxyJump bastion']);
  // at the start of a word, bare or quoted
  assert.deepEqual(splitArgs('-o "Foo=#x" #x -p 22').argv, ['-o', 'Foo=#x', '#x', '-p', '22']);
  assert.deepEqual(splitArgs("-o 'ProxyCommand=sshpass -p Pa#ss ssh -W %h:%p b' -o \"A=# b\"").argv, ['-o', 'ProxyCommand=sshpass -p Pa#ss ssh -W %h:%p b', '-o', 'A=# b']);
  // escaped: shlex drops the backslash outside quotes and keeps it inside double quotes
  assert.deepEqual(splitArgs('a\\#b "c\\#d" e\\ #f').argv, ['a#b', 'c\\#d', 'e #f']);
  assert.deepEqual(splitArgs('-o Port=#').argv, ['-o', 'Port=#']);
  // a word Ansible would hand to ssh is reported, not dropped as a comment
  assert.deepEqual(parseSshArgs('-o StrictHostKeyChecking=no #comment').errors, ['unexpected argument `#comment` (a host name or command does not belong in the ssh arguments)']);
  // a stand-in character spelled by an escape in the text is kept as it is, not taken for a `#`
  assert.deepEqual(splitArgs("$'\\ue000'#x").argv, ['\ue000#x']);
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
