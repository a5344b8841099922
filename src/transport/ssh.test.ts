import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sshOptionsForHost } from './ssh-options.js';
import { localLogin } from './ssh-config.js';
import { SshTransport } from './ssh.js';
import type { SudoMarkers } from './become.js';
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

test('Ansible ssh arguments: ansible_ssh_args, then the inventory, then common and extra args, then ~/.ssh/config (first value wins)', () => {
  const o = sshOptionsForHost(
    entry({
      address: '10.1.1.1',
      vars: {
        ansible_ssh_common_args: '-o UserKnownHostsFile=/inv/kh -o StrictHostKeyChecking=yes -o Port=2200 -o ProxyJump=jump@bastion:2022,second -o ServerAliveInterval=5 -o ServerAliveCountMax=4 -o HostKeyAlgorithms=ssh-ed25519 -o IdentitiesOnly=yes',
        ansible_ssh_extra_args: '-o Port=2300 -o ConnectTimeout=3',
      },
    }),
    { sshConfigText: 'Host second\n  HostName 10.9.9.9\n  Port 2222\n  User hop2\nHost *\n  StrictHostKeyChecking accept-new\n  Port 2400\n' },
  );
  assert.deepEqual(
    [o.port, o.knownHostsPaths, o.hostKeyPolicy, o.proxyJumpSpec, o.keepalive, o.keepaliveCountMax, o.hostKeyAlgorithms, o.identitiesOnly, o.connectTimeoutMs],
    [2200, ['/inv/kh'], 'strict', 'jump@bastion:2022,second', 5000, 4, 'ssh-ed25519', true, 3000],
  );
  assert.deepEqual(
    o.jumps?.map((j) => [j.alias, j.host, j.port, j.user]),
    [
      ['bastion', 'bastion', 2022, 'jump'],
      ['second', '10.9.9.9', 2222, 'hop2'],
    ],
  );
  // the inventory's own port wins over common args; ansible_ssh_args wins over the inventory
  assert.equal(sshOptionsForHost(entry({ port: 2500, vars: { ansible_port: 2500, ansible_ssh_common_args: '-p 2600' } })).port, 2500);
  assert.equal(sshOptionsForHost(entry({ port: 2500, vars: { ansible_port: 2500, ansible_ssh_args: '-p 2700' } })).port, 2700);
  // -J on the command line wins over everything
  assert.equal(sshOptionsForHost(entry({ vars: { ansible_ssh_common_args: '-J a' } }), { jump: 'b' }).proxyJumpSpec, 'b');
  // passwords
  assert.equal(sshOptionsForHost(entry({ vars: { ansible_ssh_pass: 'pw' } })).password, 'pw');
  assert.equal(sshOptionsForHost(entry({ vars: { ansible_password: 'pw2' } })).password, 'pw2');
  // -F names another ssh_config
  const f = sshOptionsForHost(entry({ vars: { ansible_ssh_common_args: '-F /my/config' } }), { readConfigFile: (p) => (p === '/my/config' ? 'Host cp-1\n  User fromfile\n' : '') });
  assert.equal(f.user, 'fromfile');
});

test("a jump hop's own ssh_config StrictHostKeyChecking and UserKnownHostsFile apply to it; else the target's", () => {
  const config = [
    'Host bastion',
    '  HostName 10.0.0.100',
    '  UserKnownHostsFile /hop/known_hosts',
    '  StrictHostKeyChecking yes',
    'Host plain',
    '  HostName 10.0.0.101',
    'Host cp-1',
    '  ProxyJump bastion,plain',
    '  StrictHostKeyChecking accept-new',
    '  UserKnownHostsFile /target/known_hosts',
    '',
  ].join('\n');
  const o = sshOptionsForHost(entry(), { sshConfigText: config });
  assert.deepEqual([o.hostKeyPolicy, o.knownHostsPaths], ['accept-new', ['/target/known_hosts']]);
  const [bastion, plain] = o.jumps!;
  assert.deepEqual([bastion!.hostKeyPolicy, bastion!.knownHostsPaths], ['strict', ['/hop/known_hosts']], "the bastion's own settings, not the target's");
  assert.deepEqual([plain!.hostKeyPolicy, plain!.knownHostsPaths], [undefined, undefined], 'a hop without its own: the pool uses the target\'s');
  // --accept-new applies to every connection of the run
  assert.equal(sshOptionsForHost(entry(), { sshConfigText: config, acceptNew: true }).jumps![0]!.hostKeyPolicy, 'accept-new');
});

test('a `#` inside an ssh argument is kept through to the connection; the options after it still apply', () => {
  const o = sshOptionsForHost(entry({ vars: { ansible_ssh_common_args: '-i /keys/prod#1.pem -o ProxyJump=bastion -o UserKnownHostsFile=/kh#2' } }), { sshConfigText: '' });
  assert.deepEqual([o.privateKeyPaths, o.proxyJumpSpec, o.knownHostsPaths], [['/keys/prod#1.pem'], 'bastion', ['/kh#2']]);
  assert.equal(sshOptionsForHost(entry({ vars: { ansible_ssh_extra_args: '-o ProxyCommand="sshpass -p Pa#ss ssh -W %h:%p b"' } }), { sshConfigText: '' }).proxyCommand, 'sshpass -p Pa#ss ssh -W cp-1:22 b');
});

test('an inventory value with a line break cannot add ssh options (StrictHostKeyChecking no)', () => {
  const inject = '/tmp/kh\nStrictHostKeyChecking no';
  assert.throws(() => sshOptionsForHost(entry({ knownHostsFile: inject })), /runbook_known_hosts .* contains a line break/);
  assert.throws(() => sshOptionsForHost(entry({ user: 'root\r\nProxyCommand evil' })), /ansible_user .* contains a line break/);
  assert.throws(() => sshOptionsForHost(entry({ privateKeyFile: '/k\nUserKnownHostsFile /dev/null' })), /line break/);
  assert.throws(() => sshOptionsForHost(entry(), { jump: 'b\nStrictHostKeyChecking no' }), /-J .* contains a line break/);
  // a path with spaces is still fine
  assert.deepEqual(sshOptionsForHost(entry({ knownHostsFile: '/my dir/kh' })).knownHostsPaths, ['/my dir/kh']);
});

test('ProxyCommand as ssh(1) takes it: its tokens expanded with the host dialled, and the first of ProxyJump and ProxyCommand applies', () => {
  const refused = (o: Parameters<typeof sshOptionsForHost>[1], vars: Record<string, unknown> = {}) => {
    try {
      sshOptionsForHost(entry({ vars }), o);
      return undefined;
    } catch (e) {
      return e as { kind: string; diagnostic: { message: string; host?: string } };
    }
  };
  const command = (o: Parameters<typeof sshOptionsForHost>[1], vars: Record<string, unknown> = {}) => sshOptionsForHost(entry({ vars }), o).proxyCommand;
  // from ~/.ssh/config (AWS SSM), %h the HostName, %p the port
  const ssm = 'Host cp-*\n  HostName i-0abc\n  ProxyCommand sh -c "aws ssm start-session --target %h --document-name AWS-StartSSHSession --parameters portNumber=%p"\n';
  assert.equal(command({ sshConfigText: ssm }), 'sh -c "aws ssm start-session --target i-0abc --document-name AWS-StartSSHSession --parameters portNumber=22"');
  // from the inventory's ssh arguments, as Ansible passes them; %r the user, %n the name as written, %% a percent sign
  assert.equal(sshOptionsForHost(entry({ user: 'ops', port: 2222, vars: { ansible_ssh_common_args: `-o ProxyCommand="ssh -W %h:%p -l %r -o X=%n%% bastion"` } })).proxyCommand, 'ssh -W cp-1:2222 -l ops -o X=cp-1% bastion');
  // whichever of ProxyJump and ProxyCommand comes first applies, as in ssh(1)
  const jumpFirst = 'Host cp-1\n  ProxyJump b1\nHost cp-*\n  ProxyCommand ssh -W %h:%p b2\n';
  assert.deepEqual([sshOptionsForHost(entry(), { sshConfigText: jumpFirst }).proxyJumpSpec, command({ sshConfigText: jumpFirst })], ['b1', undefined]);
  const commandFirst = 'Host cp-1\n  ProxyCommand ssh -W %h:%p b2\nHost cp-*\n  ProxyJump b1\n';
  assert.deepEqual([sshOptionsForHost(entry(), { sshConfigText: commandFirst }).proxyJumpSpec, command({ sshConfigText: commandFirst })], [undefined, 'ssh -W cp-1:22 b2']);
  assert.equal(command({ sshConfigText: 'Host cp-1\n  ProxyCommand ssh -W %h:%p b2\n' }, { ansible_ssh_common_args: '-o ProxyJump=b1' }), undefined);
  // -J on the command line comes before everything
  assert.deepEqual([sshOptionsForHost(entry(), { sshConfigText: ssm, jump: 'b1' }).proxyJumpSpec, command({ sshConfigText: ssm, jump: 'b1' })], ['b1', undefined]);
  // ProxyCommand none first: no proxy at all, a later ProxyJump included (readconf.c); ProxyJump none first: a later ProxyCommand applies
  const none = sshOptionsForHost(entry({ vars: { ansible_ssh_extra_args: '-o ProxyCommand=none' } }), { sshConfigText: 'Host *\n  ProxyJump bast\n' });
  assert.deepEqual([none.proxyJumpSpec, none.proxyCommand], [undefined, undefined]);
  assert.equal(command({ sshConfigText: 'Host cp-1\n  ProxyJump none\nHost *\n  ProxyCommand nc %h %p\n' }), 'nc cp-1 22');
  // a token ssh does not expand there, or a value a shell would read, is refused rather than run
  assert.match(refused({ sshConfigText: 'Host cp-1\n  ProxyCommand nc %h %d\n' })?.diagnostic.message ?? '', /ProxyCommand \(`nc …`\) cannot be run: `%d` is not a ProxyCommand token/);
  const shelly = refused({ sshConfigText: 'Host cp-1\n  HostName x;touch /tmp/pwned\n  ProxyCommand nc %h %p\n' });
  assert.equal(shelly?.kind, 'inventory');
  assert.match(shelly!.diagnostic.message, /the value of %h, "x;touch \/tmp\/pwned", has characters a shell would read/);
  // the first hop is reached as its own config says, as ssh(1) reaches it: through its own ProxyCommand ...
  const viaCommand = sshOptionsForHost(entry(), { sshConfigText: 'Host cp-1\n  ProxyJump b1\nHost b1\n  HostName 10.0.0.9\n  ProxyCommand nc %h %p\n' }).jumps!;
  assert.deepEqual(viaCommand.map((j) => [j.alias, j.host, j.proxyCommand]), [['b1', '10.0.0.9', 'nc 10.0.0.9 22']]);
  // ... or behind its own ProxyJump, and that hop's own in turn
  const nested = 'Host cp-1\n  ProxyJump b1\nHost b1\n  ProxyJump outer\nHost outer\n  ProxyJump admin@edge:2200\n';
  const me = sshOptionsForHost(entry()).user;
  assert.deepEqual(sshOptionsForHost(entry(), { sshConfigText: nested }).jumps!.map((j) => [j.alias, j.user, j.port]), [['edge', 'admin', 2200], ['outer', me, 22], ['b1', me, 22]]);
  assert.match(refused({ sshConfigText: 'Host cp-1\n  ProxyJump a\nHost a\n  ProxyJump b\nHost b\n  ProxyJump a\n' })?.diagnostic.message ?? '', /go round in a loop: .*a → b → a/);
  assert.match(refused({ sshConfigText: 'Host cp-1\n  ProxyJump b1\nHost b1\n  ProxyCommand nc %h %k\n' })?.diagnostic.message ?? '', /the jump host b1's ProxyCommand \(`nc …`\) cannot be run: `%k` is not a ProxyCommand token/);
  // ... but a `Host *` ProxyJump naming the hop itself is no way to reach it (ssh would loop): passed over, so its own ProxyCommand applies
  const selfNamed = sshOptionsForHost(entry(), { sshConfigText: 'Host *\n  ProxyJump bastion\nHost bastion\n  HostName 10.1.2.3\n  ProxyCommand aws-ssm %h\n' }).jumps!;
  assert.deepEqual(selfNamed.map((j) => [j.host, j.proxyCommand]), [['10.1.2.3', 'aws-ssm 10.1.2.3']]);
  assert.deepEqual(sshOptionsForHost(entry(), { sshConfigText: 'Host *\n  ProxyJump bastion\n' }).jumps?.map((j) => j.host), ['bastion']);
  // ... a later hop's own config does not count (ssh(1) reaches it through the hop before)
  assert.deepEqual(sshOptionsForHost(entry(), { sshConfigText: 'Host cp-1\n  ProxyJump a,b\nHost b\n  ProxyCommand ssh -W %h:%p a\n' }).jumps?.map((j) => j.alias), ['a', 'b']);
});

test('an ssh argument with a line break in its value is an inventory error, not a crash of the ssh_config parser', () => {
  assert.throws(() => sshOptionsForHost(entry({ vars: { ansible_ssh_common_args: '-o "User=a\nStrictHostKeyChecking no"' } })), /ansible_ssh_common_args: ssh option `User` has a line break or NUL in its value/);
  assert.throws(() => sshOptionsForHost(entry({ vars: { ansible_ssh_extra_args: '-p "22\nProxyJump evil"' } })), /-p has a line break/);
  // the one value passed on unquoted: no line break, carriage return or NUL gets through it
  for (const bad of ['\n', '\r', '\0']) {
    assert.throws(() => sshOptionsForHost(entry({ vars: { ansible_ssh_common_args: `-o "ProxyCommand=nc %h %p${bad}StrictHostKeyChecking no"` } })), /`ProxyCommand` has a line break or NUL/);
  }
});

test('an ssh argument or config that ssh_config cannot hold is a clear error naming it, not a crash', () => {
  for (const [args, want] of [
    [`-o 'ProxyCommand=sh -c "foo'`, /cannot read ssh option `-o ProxyCommand=sh -c "foo`: an unclosed quote or a trailing backslash/],
    [`-o 'User=a\\'`, /cannot read ssh option `-o User=a\\`: an unclosed quote or a trailing backslash/],
    ['-o ProxyCommand=', /`-o ProxyCommand=` needs a command \(or `none`\)/],
  ] as const) {
    assert.throws(() => sshOptionsForHost(entry({ vars: { ansible_ssh_common_args: args } })), (e: { kind?: string; message: string }) => e.kind === 'inventory' && want.test(e.message), args);
  }
  assert.throws(() => sshOptionsForHost(entry(), { sshConfigText: 'Host cp-1\n  ProxyCommand sh -c "unclosed\n' }), (e: { kind?: string; message: string }) => e.kind === 'inventory' && /the ssh config, for cp-1: ~\/.ssh\/config: Unexpected line break/.test(e.message));
});

test('a hop is resolved as ssh reaches it (`ssh -l USER -p PORT hop`): its Match user sees the ProxyJump user; the last -F wins; the system file comes after the user\'s', () => {
  const config = ['Host cp-1', '  ProxyJump admin@bastion:2200', 'Host bastion', '  HostName 10.0.0.1', 'Match host 10.0.0.1 user admin', '  UserKnownHostsFile /kh/admin', ''].join('\n');
  const [hop] = sshOptionsForHost(entry(), { sshConfigText: config }).jumps!;
  assert.deepEqual([hop!.user, hop!.port, hop!.knownHostsPaths, hop!.userByDefault], ['admin', 2200, ['/kh/admin'], undefined]);
  // a hop no one names a user for: the local login, as `ssh -J` logs in there, never the target's user
  const ops = entry({ user: 'ops', vars: { ansible_user: 'ops', ansible_ssh_common_args: '-J bastion,second' } });
  const viaTwo = sshOptionsForHost(ops, { sshConfigText: 'Host second\n  User hop2\n' });
  assert.equal(viaTwo.user, 'ops');
  assert.deepEqual(
    viaTwo.jumps!.map((j) => [j.alias, j.user, j.userByDefault]),
    [
      ['bastion', localLogin(), true],
      ['second', 'hop2', undefined],
    ],
  );
  const files: Record<string, string> = { '/a': 'User from-a\n', '/b': 'User from-b\n' };
  const read = (p: string) => files[p]!;
  assert.equal(sshOptionsForHost(entry({ vars: { ansible_ssh_common_args: '-F /a', ansible_ssh_extra_args: '-F /b' } }), { readConfigFile: read }).user, 'from-b');
  assert.equal(sshOptionsForHost(entry(), { sshConfigText: 'Host *\n  Port 2201\n', systemSshConfigText: 'Host *\n  Port 2202\n  User from-system\n' }).port, 2201);
  assert.equal(sshOptionsForHost(entry(), { sshConfigText: '', systemSshConfigText: 'Host *\n  User from-system\n' }).user, 'from-system');
  // -F replaces both files
  assert.equal(sshOptionsForHost(entry({ vars: { ansible_ssh_common_args: '-F /a' } }), { readConfigFile: read, systemSshConfigText: 'Host *\n  Port 2202\n' }).port, 22);
});

test('GlobalKnownHostsFile and HostKeyAlias from the ssh config reach the connection, a hop\'s own too', () => {
  const config = 'Host cp-1\n  HostKeyAlias cp-one\n  GlobalKnownHostsFile /fleet/ssh_known_hosts\n  ProxyJump gw\nHost gw\n  HostKeyAlias gateway\n';
  const o = sshOptionsForHost(entry(), { sshConfigText: config });
  assert.deepEqual([o.hostKeyAlias, o.globalKnownHostsPaths], ['cp-one', ['/fleet/ssh_known_hosts']]);
  assert.deepEqual([o.jumps![0]!.hostKeyAlias, o.jumps![0]!.globalKnownHostsPaths], ['gateway', undefined]);
});

test("an unknown -o keyword is refused as ssh refuses it, unless an IgnoreUnknown earlier on ssh's command line (any of Ansible's three variables) names it", () => {
  const vars = (extra: string, common = '') => entry({ vars: { ansible_ssh_common_args: common, ansible_ssh_extra_args: extra } });
  assert.throws(() => sshOptionsForHost(vars('-o Foo=bar')), (e: { kind?: string; message: string }) => e.kind === 'inventory' && /the ssh arguments: Bad configuration option: Foo/.test(e.message));
  assert.equal(sshOptionsForHost(vars('-o Foo=bar -o Port=2201', '-o IgnoreUnknown=foo')).port, 2201);
  // the arguments' IgnoreUnknown covers the config files too, as in ssh
  assert.equal(sshOptionsForHost(vars('', '-o IgnoreUnknown=usekey*'), { sshConfigText: 'UseKeyChainX yes\nUser u\n' }).user, 'u');
});

/** A transport logged in as `user` on web1 that never connects: commandLine reads only who logs in and whom to become. */
function offline(user: string): SshTransport {
  // the constructor is private (transports come from connect()); commandLine needs only these fields
  return Object.assign(Object.create(SshTransport.prototype) as SshTransport, { s: { becomeUser: undefined }, user, host: 'web1', become: {} });
}

test('cwd with become: the directory is entered as the become user, inside the command sudo runs; without sudo, `cd DIR &&` as before', () => {
  const m: SudoMarkers = { prompt: '[p] password: ', ready: 'rdy' };
  const t = offline('ubuntu');
  assert.equal(
    t.commandLine(['ls', '-la'], { cwd: '/root', become: true, env: { A: 'b c' } }, m),
    `sudo -S -p '[p] password: ' -u root -- sh -c 'printf "%s\\n" "$0" >&2; cd -- "$1" || exit; shift; exec "$@"' rdy /root env 'A=b c' ls -la`,
  );
  // a directory with quotes and spaces stays one argument, never shell text
  assert.ok(t.commandLine(['pwd'], { cwd: "/srv/it's here", become: true }, m).endsWith(` rdy '/srv/it'\\''s here' pwd`));
  assert.equal(t.commandLine(['ls'], { cwd: '/root', become: false }, m), 'cd /root && ls');
  assert.equal(t.commandLine(['ls'], { cwd: 'rel', become: false }, m), 'cd ./rel && ls');
  // become without cwd: unchanged
  assert.equal(t.commandLine(['id'], { become: true }, m), `sudo -S -p '[p] password: ' -u root -- sh -c 'printf "%s\\n" "$0" >&2; exec "$@"' rdy id`);
  // logged in as the become user already: no sudo, so cd as before
  assert.equal(offline('root').commandLine(['ls'], { cwd: '/root', become: true }, m), 'cd /root && ls');
});
