/** ssh_config read as ssh(1) reads it: Include, Match, the final pass, the system file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveSshConfig } from './ssh-config.js';
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SshConfigSource } from './ssh-config-eval.js';
import { machineSshConfigIo, PendingExec, readUserConfigFile, type SshConfigIo } from './ssh-config-io.js';
import { tempDir } from '../actions/testing.js';

/** A file system of `files` (glob: `*` within one directory level, as the tests need) and commands that exit 0 when listed in `yes`. */
function fakeIo(files: Record<string, string>, yes: string[] = []): SshConfigIo & { ran: string[] } {
  const ran: string[] = [];
  return {
    ran,
    read: (p) => files[p],
    glob: (pattern) => {
      const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
      return Object.keys(files)
        .filter((f) => re.test(f))
        .sort();
    },
    exec: (c) => (ran.push(c), yes.includes(c)),
  };
}

const user = (text: string): SshConfigSource => ({ text, name: '~/.ssh/config', user: true });
const opts = (io: SshConfigIo) => ({ home: '/home/op', localUser: 'op', io });

test('Include: relative to ~/.ssh in a user file and /etc/ssh in the system file, globbed in sorted order, nested', () => {
  const io = fakeIo({
    '/home/op/.ssh/config.d/20-late': 'Host web-*\n  User late\n  Port 2202\n',
    '/home/op/.ssh/config.d/10-early': 'Host web-*\n  User early\n  Include /opt/deeper\n',
    '/opt/deeper': 'Host web-1\n  ProxyJump bastion-from-deeper\n',
    '/etc/ssh/ssh_config.d/50-corp.conf': 'Host *\n  ConnectTimeout 9\n  User from-system\n',
  });
  const system: SshConfigSource = { text: 'Include ssh_config.d/*.conf\n', name: '/etc/ssh/ssh_config', user: false };
  const r = resolveSshConfig([user('Include config.d/*\n'), system], 'web-1', opts(io));
  assert.equal(r.user, 'early');
  assert.equal(r.port, 2202);
  assert.equal(r.proxyJump, 'bastion-from-deeper');
  assert.equal(r.connectTimeoutMs, 9000);
  // the user's file comes first: its value wins over the system's
  assert.equal(resolveSshConfig([user('Host *\n  ConnectTimeout 3\n'), system], 'db', opts(io)).connectTimeoutMs, 3000);
  assert.equal(resolveSshConfig([user(''), system], 'db', opts(io)).user, 'from-system');
});

test('Include inside a block applies only when the block does, and the included Host lines do not leak out of it', () => {
  const io = fakeIo({ '/c/inner': 'User from-inner\nHost *\n  Port 2222\n' });
  const text = 'Host cp-*\n  Include /c/inner\n  HostName kept.example\nHost other\n  User other\n';
  const cp = resolveSshConfig(text, 'cp-1', opts(io));
  assert.equal(cp.user, 'from-inner');
  assert.equal(cp.port, 2222);
  // back in the including block after the Include, whatever the included file's Host lines said
  assert.equal(cp.hostName, 'kept.example');
  // from a block that does not apply, nothing of the file applies, not even its `Host *`
  const db = resolveSshConfig(text, 'db', opts(io));
  assert.equal(db.user, undefined);
  assert.equal(db.port, undefined);
});

test('Include: a missing file is skipped as ssh does; a loop, a ~ path in the system file, another user\'s ~ are errors naming the file', () => {
  assert.equal(resolveSshConfig('Include /nowhere/*\nUser u\n', 'h', opts(fakeIo({}))).user, 'u');
  assert.throws(() => resolveSshConfig('Include /c/self\n', 'h', opts(fakeIo({ '/c/self': 'Include /c/self\n' }))), /~\/\.ssh\/config: \/c\/self: .*Include nested deeper than 16/);
  assert.throws(() => resolveSshConfig([{ text: 'Include ~/x\n', name: '/etc/ssh/ssh_config', user: false }], 'h', opts(fakeIo({}))), /\/etc\/ssh\/ssh_config: bad include path ~\/x/);
  assert.throws(() => resolveSshConfig('Include ~root/x\n', 'h', opts(fakeIo({}))), /only ~\//);
});

test('Match: host (the HostName so far), originalhost, user, localuser, negation, lists', () => {
  const io = fakeIo({});
  const text = [
    'Host cp-1',
    '  HostName 10.0.0.11',
    'Match host 10.0.0.* originalhost cp-*',
    '  User admin',
    'Match !localuser op',
    '  Port 1',
    'Match localuser op user admin',
    '  ProxyJump bastion',
    'Match originalhost cp-*,!cp-2',
    '  ConnectTimeout 4',
  ].join('\n');
  const r = resolveSshConfig(text, 'cp-1', opts(io));
  assert.equal(r.user, 'admin');
  assert.equal(r.port, undefined);
  assert.equal(r.proxyJump, 'bastion');
  assert.equal(r.connectTimeoutMs, 4000);
  assert.equal(resolveSshConfig(text, 'cp-2', opts(io)).connectTimeoutMs, undefined);
});

test('Match exec runs with its tokens expanded, is skipped once an earlier criterion failed, and can be negated', () => {
  const io = fakeIo({}, ['nc -z -w1 10.0.0.11 22']);
  const text = [
    'Host cp-*',
    '  HostName 10.0.0.11',
    'Match host 10.0.0.* !exec "nc -z -w1 %h %p"',
    '  ProxyJump bastion-when-unreachable',
    'Match originalhost nomatch exec "never-run"',
    '  User never',
    'Match exec "nc -z -w1 %h %p"',
    '  User direct',
  ].join('\n');
  const r = resolveSshConfig(text, 'cp-1', opts(io));
  assert.equal(r.proxyJump, undefined);
  assert.equal(r.user, 'direct');
  assert.deepEqual(io.ran, ['nc -z -w1 10.0.0.11 22', 'nc -z -w1 10.0.0.11 22']);
  // a token runbook will not paste into a shell command
  assert.throws(() => resolveSshConfig('Match exec "check %j"\n', 'h', opts(io)), /Match exec token/);
  assert.throws(() => resolveSshConfig('Match exec "check %h"\n', 'a;b', opts(io)), /characters a shell would read/);
});

test('Match final: a second pass where Host lines match the HostName; canonical matches only there', () => {
  const text = ['Host short', '  HostName Node-7.Example.Net', 'Host node-7.example.net', '  User by-full-name', 'Match canonical', '  Port 2200', 'Match final', '  ConnectTimeout 5'].join('\n');
  const r = resolveSshConfig(text, 'short', opts(fakeIo({})));
  assert.equal(r.hostName, 'node-7.example.net');
  assert.equal(r.user, 'by-full-name');
  assert.equal(r.port, 2200);
  assert.equal(r.connectTimeoutMs, 5000);
  // no final pass asked for: neither
  const plain = resolveSshConfig(text.replace('Match final', 'Match all'), 'short', opts(fakeIo({})));
  assert.equal(plain.user, undefined);
  assert.equal(plain.port, undefined);
});

test('lines ssh refuses, and criteria runbook cannot judge, are errors naming the line', () => {
  const io = fakeIo({});
  for (const [text, want] of [
    ['Match bogus x\n', /Match bogus x: Unsupported Match attribute bogus/],
    ['Match host\n', /~\/\.ssh\/config: Match host: Missing Match criteria for host/],
    ['Match host a final all\n', /cannot be combined/],
    ['Match version OpenSSH_9*\n', /the version of the OpenSSH client/],
    ['Match sessiontype exec\n', /runbook cannot tell whether it applies/],
  ] as const) {
    assert.throws(() => resolveSshConfig(text, 'h', opts(io)), want, text);
  }
  assert.equal(resolveSshConfig('Match canonical all\n  User u\n', 'h', opts(io)).user, undefined);
  assert.equal(resolveSshConfig('Match final all\n  User u\n', 'h', opts(io)).user, 'u');
});

test('CanonicalizeHostName: a name ssh would look up under CanonicalDomains is refused; others pass, and get the final pass', () => {
  const io = fakeIo({});
  const text = 'CanonicalizeHostName yes\nCanonicalDomains example.net\nHost *.example.net\n  User by-domain\n';
  assert.throws(() => resolveSshConfig(text, 'web1', opts(io)), /look web1 up in the DNS under example\.net.*CanonicalizeHostName no/);
  assert.equal(resolveSshConfig(text, 'web1.example.net', opts(io)).user, 'by-domain');
  // through a proxy ssh leaves the name to the proxy (unless `always`)
  assert.equal(resolveSshConfig(`ProxyJump b\n${text}`, 'web1', opts(io)).proxyJump, 'b');
});

test('a config file others can write, or another user owns, is refused as ssh refuses it, and none of its commands run', () => {
  const { dir, cleanup } = tempDir('runbook-sshcfg-perm-');
  try {
    const ran = join(dir, 'RAN');
    const loose = join(dir, 'loose.conf');
    writeFileSync(loose, `Match exec "touch ${ran}"\n  User evil\n`);
    chmodSync(loose, 0o666);
    assert.throws(() => resolveSshConfig(`Include ${loose}\n`, 'h', { io: machineSshConfigIo() }), /Bad owner or permissions on .*loose\.conf.*chmod go-w/);
    assert.throws(() => readUserConfigFile(loose), /Bad owner or permissions/);
    chownSync(loose, 4242, 4242);
    chmodSync(loose, 0o644);
    assert.throws(() => readUserConfigFile(loose), /Bad owner or permissions/);
    assert.equal(existsSync(ran), false);
    assert.equal(readUserConfigFile(join(dir, 'absent')), undefined);
  } finally {
    cleanup();
  }
});

test('IdentityFile: a file listed twice (by two blocks, or by the final pass reading every line again) is offered once', () => {
  const text = 'Host *\n  IdentityFile /k/one\n  IdentityFile /k/two\nHost h\n  IdentityFile /k/one\nMatch final all\n  User u\n';
  assert.deepEqual(resolveSshConfig(text, 'h', opts(fakeIo({}))).identityFiles, ['/k/one', '/k/two']);
});

test('ProxyCommand is the rest of its line as written: quotes, double spaces and `#` kept', () => {
  const io = fakeIo({});
  const ssm = `sh -c 'aws ssm start-session --target %h --parameters "portNumber=%p"'`;
  assert.equal(resolveSshConfig(`Host i-*\n  ProxyCommand ${ssm}\n`, 'i-0abc', opts(io)).proxyCommand, ssm);
  assert.equal(resolveSshConfig('Host *\n  ProxyCommand=nc %h  %p   \n', 'h', opts(io)).proxyCommand, 'nc %h  %p');
  assert.equal(resolveSshConfig('# ProxyCommand commented out\nHost *\n\tProxyCommand ssh -W %h:%p j#x\n', 'h', opts(io)).proxyCommand, 'ssh -W %h:%p j#x');
});

test("values as ssh's argv_split leaves them: single quotes and backslash escapes", () => {
  const r = resolveSshConfig("Host h\n  User 'bob'\n  IdentityFile /k/my\\ key\n  HostName \"h.example\"\n", 'h', opts(fakeIo({})));
  assert.equal(r.user, 'bob');
  assert.deepEqual(r.identityFiles, ['/k/my key']);
  assert.equal(r.hostName, 'h.example');
});

test('what runbook cannot read is an error, not a different host: a keyword with no value, tokens in an Include path, a bare Host', () => {
  const io = fakeIo({});
  assert.throws(() => resolveSshConfig('Host x\n  IdentityFile \n  ProxyCommand nc %h %p\n', 'x', opts(io)), /`IdentityFile` with no value/);
  assert.throws(() => resolveSshConfig('Include ~/.ssh/hosts/%h.conf\n', 'x', opts(io)), /does not expand % tokens/);
  assert.throws(() => resolveSshConfig('Host\nUser a\n', 'x', opts(io)), /`Host` with no value/);
});

test('Include: glob(3) characters only; parentheses and the like are plain characters of a path', () => {
  const { dir, cleanup } = tempDir('runbook-sshcfg-glob-');
  try {
    mkdirSync(join(dir, 'par(en)'));
    writeFileSync(join(dir, 'par(en)', 'a.conf'), 'User from-parens\n');
    assert.equal(resolveSshConfig(`Include ${dir}/par(en)/*.conf\n`, 'h', { io: machineSshConfigIo() }).user, 'from-parens');
  } finally {
    cleanup();
  }
});

test('Match exec with a deferring io: the command runs without blocking, once for all the hosts that ask', async () => {
  const io = machineSshConfigIo({ deferExec: true });
  const text = 'Match exec "sleep 0.3; true"\n  User ok\n';
  assert.throws(() => resolveSshConfig(text, 'h', { io }), (e: unknown) => e instanceof PendingExec && e.command === 'sleep 0.3; true');
  let ticks = 0;
  const timer = setInterval(() => ticks++, 20);
  await Promise.all([io.settle!('sleep 0.3; true'), io.settle!('sleep 0.3; true')]);
  clearInterval(timer);
  assert.ok(ticks >= 5, `the event loop ran meanwhile (${ticks} ticks)`);
  assert.equal(resolveSshConfig(text, 'h', { io }).user, 'ok');
});

test('Match: a negated canonical, final or all is read (the package cannot pair it); single quotes stay literal there, as in ssh', () => {
  const io = fakeIo({});
  assert.equal(resolveSshConfig('Match !final host x\n  User first-pass\n', 'x', opts(io)).user, 'first-pass');
  assert.equal(resolveSshConfig('Match !canonical\n  User u\n', 'x', opts(io)).user, 'u');
  assert.equal(resolveSshConfig('Match host !final-*,*\n  User u\n', 'x', opts(io)).user, 'u');
  assert.equal(resolveSshConfig("Match host 'x'\n  User quoted\n", 'x', opts(io)).user, undefined);
});

test("Include: glob(3)'s [!...] negation kept", () => {
  const { dir, cleanup } = tempDir('runbook-sshcfg-glob-');
  try {
    writeFileSync(join(dir, '_b.conf'), 'User from-underscore\n');
    writeFileSync(join(dir, 'c.conf'), 'User from-c\n');
    assert.equal(resolveSshConfig(`Include ${dir}/[!_]*.conf\n`, 'h', { io: machineSshConfigIo() }).user, 'from-c');
  } finally {
    cleanup();
  }
});

test('Match exec: a command that cannot start (a NUL byte) is an error for each host that meets it, not a crash', async () => {
  const io = machineSshConfigIo({ deferExec: true });
  await io.settle!('true\0x');
  assert.throws(() => io.exec('true\0x'), (e: unknown) => e instanceof Error && /could not run/.test(e.message));
});

test('a keyword no ssh knows is refused, as ssh refuses it, unless an IgnoreUnknown obtained before it names it', () => {
  const io = fakeIo({ '/home/op/.ssh/inc': 'Host other\n  HostNmae x\n' });
  const resolve = (text: string) => resolveSshConfig([user(text)], 'web-1', opts(io));
  // a misspelt ProxyJump must not mean a direct dial
  assert.throws(() => resolve('Host web-*\n  ProxyJum bastion\n'), /~\/\.ssh\/config: Bad configuration option: ProxyJum \(ssh refuses the file.*IgnoreUnknown ProxyJum/);
  // in a block that does not apply, and in a file included there, too
  assert.throws(() => resolve('Host db\n  ProxyJum bastion\n'), /Bad configuration option: ProxyJum/);
  assert.throws(() => resolve('Host db\n  Include inc\n'), /inc: Bad configuration option: HostNmae/);
  // IgnoreUnknown: its patterns case aside, before the line, from a block that applies
  assert.equal(resolve('IgnoreUnknown PROXYJ*,UseKey*\nHost web-*\n  ProxyJum bastion\n  User u\n').user, 'u');
  assert.throws(() => resolve('Host web-*\n  ProxyJum bastion\nIgnoreUnknown proxyjum\n'), /Bad configuration option: ProxyJum/);
  assert.throws(() => resolve('Host db\n  IgnoreUnknown proxyjum\nHost *\n  ProxyJum bastion\n'), /Bad configuration option: ProxyJum/);
  assert.throws(() => resolve('IgnoreUnknown !proxyjum,*\nProxyJum bastion\n'), /Bad configuration option: ProxyJum/);
  // what other clients know passes: Apple's UseKeychain, Debian's GSSAPI key exchange, OpenSSH 10's keywords
  assert.equal(resolve('UseKeychain yes\nGSSAPIKeyExchange no\nWarnWeakCrypto no\nUser u\n').user, 'u');
  // the ssh arguments (an inventory's -o) as ssh's command line
  assert.throws(() => resolveSshConfig([{ text: 'ProxyJum bastion\n', name: 'the ssh arguments', user: true }], 'web-1', opts(io)), /the ssh arguments: Bad configuration option: ProxyJum/);
});

test('RefuseConnection that applies stops the host as OpenSSH 10.1 stops; a double-quoted keyword is read as ssh reads it', () => {
  const io = fakeIo({});
  const resolve = (text: string) => resolveSshConfig([user(text)], 'web-1', opts(io));
  assert.throws(() => resolve('Match host web-*\n  RefuseConnection "use the break-glass account"\n'), /~\/\.ssh\/config: RefuseConnection: use the break-glass account \(ssh refuses to connect to this host\)/);
  assert.equal(resolve('Host db\n  RefuseConnection no\nHost *\n  User u\n').user, 'u');
  assert.equal(resolve('"User" quoted\n').user, 'quoted');
  assert.equal(resolve('IgnoreUnknown foo\n"Foo" bar\nUser u\n').user, 'u');
});
